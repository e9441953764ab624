"""What `kreview status` reports: location, rows per layer, last runs, current models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from core import ledger
from core.catalog import open_reader, storage_version
from core.sqlfiles import read_sql
from core.warehouse import Warehouse

# Catalog tables reported as layers, in flow order; missing ones are reported as absent.
LAYER_TABLES = ("reviews", "quarantine", "scores", "embeddings", "clusters")


@dataclass(frozen=True)
class RawSummary:
    files: int
    rows: int
    unreadable: tuple[str, ...]


@dataclass(frozen=True)
class WarehouseStatus:
    root: Path
    catalog_exists: bool
    schema_version: int | None
    raw: RawSummary
    layers: dict[str, int | None]
    runs: list[dict[str, Any]]
    models: list[dict[str, Any]]
    # Per source: its latest scrape's titles by outcome, and the selector its structural
    # failures (changed markup, wrong scale, refused client) name most.
    selectors: list[dict[str, Any]]
    # DuckDB's storage version of the catalog file (core.catalog.STORAGE_VERSION once written).
    storage_version: str | None = None


def raw_summary(raw_dir: Path) -> RawSummary:
    """Counts rows from Parquet footers only (cheap), and lists files that cannot be read."""
    files, rows, bad = 0, 0, []
    for path in sorted(raw_dir.rglob("*.parquet")) if raw_dir.exists() else []:
        files += 1
        try:
            rows += pq.ParquetFile(path).metadata.num_rows
        except (OSError, ValueError):
            bad.append(str(path))
    return RawSummary(files, rows, tuple(bad))


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }


def collect(wh: Warehouse, wait_s: float = 5.0) -> WarehouseStatus:
    raw = raw_summary(wh.raw_dir)
    if not wh.catalog.exists():
        return WarehouseStatus(wh.root, False, None, raw, {}, [], [], [])
    with open_reader(wh, wait_s) as con:
        tables = _tables(con)
        version, storage = None, storage_version(con)
        if "schema_version" in tables:
            row = con.execute("SELECT max(version) FROM schema_version").fetchone()
            version = row[0] if row else None
        layers: dict[str, int | None] = {}
        for name in LAYER_TABLES:
            if name in tables:
                # Table names come from the constant above, never from input.
                row = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
                layers[name] = int(row[0]) if row else 0
            else:
                layers[name] = None
        runs = ledger.last_runs(con) if "runs" in tables else []
        models: list[dict[str, Any]] = []
        if "model_versions" in tables:
            cur = con.execute(
                "SELECT task, version, created_at FROM model_versions"
                " WHERE is_current ORDER BY task"
            )
            models = _dicts(cur)
        selectors = []
        if "scrape_titles" in tables:
            selectors = _dicts(con.execute(read_sql("status/selector_health.sql")))
    return WarehouseStatus(wh.root, True, version, raw, layers, runs, models, selectors, storage)


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
