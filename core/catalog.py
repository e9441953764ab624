"""Connections to the DuckDB catalog, and schema migrations.

DuckDB lets one process write a database file, and while it holds the file open no other
process can open it, not even read-only. So writers open the catalog only for the span of a
stage's work (under the writer lock), and readers open it read-only, waiting briefly while a
writer holds it, then name the run that does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from core.lock import describe_holder, read_holder
from core.retry import Backoff
from core.sqlfiles import Migration, migrations, read_sql, run_script, sql_root
from core.warehouse import Warehouse


class CatalogMissing(RuntimeError):
    """No catalog exists yet at the warehouse root."""


class CatalogBusy(RuntimeError):
    """A writer holds the catalog open for longer than a reader is willing to wait."""


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()
    if not exists or not exists[0]:
        return set()
    return {row[0] for row in con.execute("SELECT version FROM schema_version").fetchall()}


def migrate(con: duckdb.DuckDBPyConnection) -> list[Migration]:
    """Apply pending migrations in order, each inside its own transaction. Returns those applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)"
    )
    done = applied_versions(con)
    applied: list[Migration] = []
    for mig in migrations():
        if mig.version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(mig.sql)
            con.execute(
                "INSERT INTO schema_version (version, name) VALUES (?, ?)", [mig.version, mig.name]
            )
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise RuntimeError(f"migration {mig.version:04d}_{mig.name} failed: {exc}") from exc
        applied.append(mig)
    return applied


def view_files() -> list[str]:
    """``views/NN_name.sql`` in order; the number prefix orders views after those they read."""
    return sorted(f"views/{p.name}" for p in (sql_root() / "views").glob("*.sql"))


def create_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create or replace every view in ``sql/views/`` inside one transaction.

    Views are part of the schema: every writer brings them up to date with the tables, so a
    reader never finds a view missing or older than the code."""
    files = view_files()
    con.execute("BEGIN TRANSACTION")
    try:
        for rel in files:
            con.execute(read_sql(rel))
        con.execute("COMMIT")
    except duckdb.Error:
        con.execute("ROLLBACK")
        raise
    return files


def refresh_aggregates(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild the materialized per-title aggregates (title_stats, scope_priors) in one
    transaction. Stages that change reviews or scores call it before they finish."""
    con.execute("BEGIN TRANSACTION")
    try:
        run_script(con, "aggregates/title_stats.sql")
        con.execute("COMMIT")
    except duckdb.Error:
        con.execute("ROLLBACK")
        raise


@contextmanager
def open_writer(wh: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """Read-write connection for the span of a stage's work; tables and views are brought up
    to date first.

    Call only while holding the writer lock (see core.lock.writer_lock).
    """
    wh.ensure()
    con = duckdb.connect(str(wh.catalog))
    try:
        migrate(con)
        create_views(con)
        yield con
    finally:
        con.close()


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    text = str(exc)
    return "lock" in text.lower() and ("Could not set lock" in text or "conflicting" in text)


@contextmanager
def open_reader(wh: Warehouse, wait_s: float = 5.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """Read-only connection. Waits up to ``wait_s`` while a writer holds the file."""
    if not wh.catalog.exists():
        raise CatalogMissing(
            f"no catalog at {wh.catalog}: run a stage first (e.g. `kreview run`) "
            "or point --warehouse / KREVIEW_WAREHOUSE__ROOT at an existing warehouse"
        )
    backoff = Backoff(0.05, 0.5, within_s=wait_s)
    while True:
        try:
            con = duckdb.connect(str(wh.catalog), read_only=True)
            break
        except duckdb.IOException as exc:
            if not _is_lock_conflict(exc):
                raise
            delay = backoff.next_delay()
            if delay is None:
                holder = read_holder(wh.lock_file) or {}
                raise CatalogBusy(
                    f"the catalog is open for writing by {describe_holder(holder)}; "
                    f"waited {wait_s:g}s, try again when it finishes"
                ) from None
            time.sleep(delay)
    try:
        yield con
    finally:
        con.close()
