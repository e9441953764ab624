"""Raw Parquet I/O for the scrapers: what is already collected, atomic appends, the salt.

Raw is append-only: ``raw/source=<s>/date=<scraped date, UTC>/<run_id>-0.parquet``, one file
per source, run and partition, written to a temp name and renamed into place.
"""

from __future__ import annotations

import os
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from core.atomic import atomic_path
from core.warehouse import Warehouse
from etl.raw_schema import RAW_SCHEMA
from etl.sources import RawRecord

SALT_FILE = ".author_salt"


@dataclass(frozen=True)
class Collected:
    """Reviews of one source already in raw."""

    review_ids: frozenset[str]
    per_title: Counter[str]  # title_id -> distinct reviews


def collected(wh: Warehouse, source: str) -> Collected:
    """Review ids (and counts per title) of ``source`` in raw, read with DuckDB."""
    folder = wh.raw_dir / f"source={source}"
    if not any(folder.glob("date=*/*.parquet")):
        return Collected(frozenset(), Counter())
    pattern = str(folder / "date=*" / "*.parquet")
    con = duckdb.connect()  # in memory: raw files are read directly, the catalog is not needed
    try:
        # hive_partitioning off: the files carry their own `source` column.
        rows = con.execute(
            "SELECT review_id, any_value(title_id) FROM read_parquet(?, hive_partitioning = false)"
            " GROUP BY review_id",
            [pattern],
        ).fetchall()
    finally:
        con.close()
    return Collected(frozenset(r[0] for r in rows), Counter(r[1] for r in rows))


def write_raw(
    wh: Warehouse, source: str, run_id: str, records: list[RawRecord], part: str = "0"
) -> list[Path]:
    """Append ``records`` as one file per scraped date, ``<run_id>-<part>.parquet``; returns
    the files written. The scrape stage writes one part per title as each title finishes.

    Each file is written under a temp name and renamed, so readers never see half a file;
    the same run writing the same part again replaces its own file, never another's.
    """
    by_date: dict[str, list[RawRecord]] = defaultdict(list)
    for rec in records:
        by_date[rec["scraped_at"].date().isoformat()].append(rec)
    written = []
    for date, rows in sorted(by_date.items()):
        folder = wh.raw_partition(source, date)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{run_id}-{part}.parquet"
        table = pa.Table.from_pylist(rows, schema=RAW_SCHEMA)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        written.append(path)
    return written


def author_salt(wh: Warehouse, configured: str | None) -> str:
    """The configured salt, else one random salt made once per warehouse and kept.

    Changing it changes every author hash, so it is created exclusively and never rewritten.
    """
    if configured:
        return configured
    path = wh.root / SALT_FILE
    wh.root.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        salt = path.read_text(encoding="utf-8").strip()
        if not salt:
            raise RuntimeError(f"{path} is empty: restore it or set scrape.author_salt") from None
        return salt
    salt = secrets.token_hex(16)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(salt + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return salt
