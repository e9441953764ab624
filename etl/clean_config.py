"""Configuration of the cleaning stage (raw Parquet -> reviews + quarantine)."""

from pydantic import Field

from core.frozen import Frozen


class CleanConfig(Frozen):
    # Below this share of Hangul among non-space characters a text is "not Korean".
    min_hangul_ratio: float = Field(default=0.2, ge=0.0, le=1.0)
    # Longer normalized texts are truncated (and flagged), not rejected.
    max_chars: int = Field(default=1000, ge=10)
    # The same normalized text under at least this many distinct titles is spam.
    spam_min_titles: int = Field(default=3, ge=2)
    # ... but only texts at least this long: "재밌어요" under many titles is normal, not spam.
    spam_min_chars: int = Field(default=20, ge=1)
    # Raw files are cleaned in chunks of about this many rows: the next chunk is normalized
    # (Polars) while the previous one is written (DuckDB), and memory stays flat as raw grows.
    # Inserts go in whole DuckDB row groups (the rest waits for the next chunk), so any size
    # writes each row once; smaller chunks start writing sooner. On the 494k-review bench:
    # 65k-131k rows 1.8-1.9 s, 262k 2.1 s (bench/clean.py --chunk-rows N).
    chunk_rows: int = Field(default=131_072, ge=1)
