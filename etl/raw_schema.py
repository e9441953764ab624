"""The raw-record contract: what scrapers write to ``warehouse/raw`` and the cleaner reads.

Raw Parquet is append-only and never rewritten: one file per source, run and partition,
at ``raw/source=<source>/date=<scraped date>/<run_id>-<part>.parquet``.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

RAW_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),  # "naver" | "watcha"
        pa.field("review_id", pa.string(), nullable=False),  # the site's own id
        pa.field("review_key", pa.string(), nullable=False),  # review_key(source, review_id)
        pa.field("title_id", pa.string(), nullable=False),  # kreview title id (titles list)
        pa.field("title", pa.string(), nullable=False),  # title name as listed
        pa.field("source_title_id", pa.string(), nullable=False),  # the site's id of the title
        pa.field("rating", pa.float32()),  # 0–10 scale, as both sites give it; null if none
        pa.field("text", pa.string(), nullable=False),  # exactly as shown
        pa.field("author_hash", pa.string()),  # salted sha256; never a name or site id
        pa.field("written_at", pa.timestamp("us", tz="UTC")),
        pa.field("likes", pa.int32()),
        pa.field("spoiler", pa.bool_()),
        # The site flagged the review as improper (Watcha's `improper`); the clean stage
        # quarantines it. Null where the site has no such flag, and in files written before.
        pa.field("improper", pa.bool_()),
        pa.field("url", pa.string(), nullable=False),
        pa.field("scraped_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)


def review_key(source: str, review_id: str) -> str:
    """Stable key of a review's identity ``(source, review_id)``: 16 hex chars of sha256."""
    return hashlib.sha256(f"{source}\x1f{review_id}".encode()).hexdigest()[:16]


def author_hash(salt: str, source: str, author: str) -> str:
    """Salted hash of an author; the raw name or site id is never stored."""
    return hashlib.sha256(f"{salt}\x1f{source}\x1f{author}".encode()).hexdigest()[:24]
