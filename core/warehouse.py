"""Where things live inside a warehouse root. Paths only; no I/O besides creating folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CATALOG_NAME = "kreview.duckdb"
# A copy of the catalog for analysts, republished after each successful run (core.catalog).
READ_COPY_NAME = "kreview-read.duckdb"


@dataclass(frozen=True)
class Warehouse:
    root: Path

    @property
    def catalog(self) -> Path:
        return self.root / CATALOG_NAME

    @property
    def read_copy(self) -> Path:
        """The read-only copy analysts open, so that their sessions never hold the catalog."""
        return self.root / READ_COPY_NAME

    @property
    def raw_dir(self) -> Path:
        """Append-only Parquet: raw/source=<s>/date=<YYYY-MM-DD>/<run_id>-<part>.parquet."""
        return self.root / "raw"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def journal_dir(self) -> Path:
        """Per-run journals of work finished inside a stage that has not committed yet."""
        return self.root / "journal"

    @property
    def lock_file(self) -> Path:
        return self.root / ".kreview.lock"

    def ensure(self) -> Warehouse:
        for folder in (self.root, self.raw_dir, self.models_dir, self.exports_dir, self.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def raw_partition(self, source: str, date: str) -> Path:
        return self.raw_dir / f"source={source}" / f"date={date}"
