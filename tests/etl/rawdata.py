"""Tiny raw-record builders for tests (the RAW_SCHEMA contract)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from etl.raw_schema import RAW_SCHEMA, review_key

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def record(review_id: str, text: str | None, **kw: Any) -> dict[str, Any]:
    source = kw.pop("source", "naver")
    title_id = kw.pop("title_id", "t-parasite")
    rec = {
        "source": source,
        "review_id": review_id,
        "review_key": review_key(source, review_id),
        "title_id": title_id,
        "title": kw.pop("title", "기생충"),
        "source_title_id": kw.pop("source_title_id", f"{source}-{title_id}"),
        "rating": kw.pop("rating", 8.0),
        "text": text,
        "author_hash": kw.pop("author_hash", "a" * 24),
        "written_at": kw.pop("written_at", T0 - timedelta(days=1)),
        "likes": kw.pop("likes", 3),
        "spoiler": kw.pop("spoiler", False),
        "url": kw.pop("url", f"https://example.test/{review_id}"),
        "scraped_at": kw.pop("scraped_at", T0),
        "run_id": kw.pop("run_id", "20261101T030000Z-aaaaaa"),
    }
    assert not kw, f"unknown fields {kw}"
    return rec


def write_raw(
    raw_dir: Path, name: str, records: list[dict[str, Any]], source: str = "naver"
) -> Path:
    """Write one raw file the way scrapers do (temp file, then rename)."""
    part = raw_dir / f"source={source}" / "date=2026-11-01"
    part.mkdir(parents=True, exist_ok=True)
    path = part / f"{name}.parquet"
    tmp = path.with_suffix(".parquet.tmp")
    schema = RAW_SCHEMA
    # nullable=False fields may still carry a null in tests of bad input: relax for writing.
    relaxed = pa.schema([f.with_nullable(True) for f in schema])
    pq.write_table(pa.Table.from_pylist(records, schema=relaxed), tmp)
    tmp.rename(path)
    return path
