"""Configuration of Parquet exports for downstream apps."""

from pathlib import Path

from pydantic import Field

from core.frozen import Frozen


class ExportConfig(Frozen):
    # None: <warehouse>/exports
    out_dir: Path | None = None
    # Keep this many export snapshots; older ones are removed after a successful export.
    keep: int = Field(default=14, ge=1)
    compression: str = Field(default="zstd", pattern="^(zstd|snappy|gzip|lz4|none)$")
