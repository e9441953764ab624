"""Connections to the DuckDB catalog, and schema migrations.

DuckDB lets one process write a database file, and while it holds the file open no other
process can open it, not even read-only. So writers open the catalog only for the span of a
stage's work (under the writer lock), and readers open it read-only, waiting briefly while a
writer holds it, then name the run that does.

Storage version. The catalog is written in DuckDB's ``STORAGE_VERSION`` format, not the newest
one the installed duckdb knows, so that the DuckDB 1.x line (CLI, Python, JDBC, ...) opens it:
a file written at ``v1.0.0`` is storage format 64, which DuckDB 0.10.0 and every later release
read (checked with the pip ``duckdb-cli`` 1.4.4 and 1.5.6). Every migration and view applies at
that version. A catalog an older kreview wrote at a newer version is copied to this one once,
by the first writer that opens it (:func:`open_writer`, under the writer lock): row counts are
checked per table before and after the swap, and the old file is kept as
``kreview.duckdb.storage-backup`` until the new one is verified.

Analysts. An open DuckDB session holds the file, so an analyst's session on the catalog would
lock out the nightly writer. After each successful run :func:`publish_read_copy` writes
``kreview-read.duckdb`` (a byte copy, taken while no writer can run, renamed into place), and
analysts open that copy: a session on it never blocks a run, and keeps reading the copy it
opened until it reopens.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from core.atomic import atomic_path, fsync_dir, fsync_file
from core.errors import BusyError, MissingError
from core.lock import describe_holder, read_holder
from core.retry import Backoff
from core.sqlfiles import Migration, migrations, read_sql, run_script, sql_root
from core.warehouse import Warehouse

# The oldest storage version the installed duckdb writes (it takes v0.10.x as this one too);
# the schema needs nothing newer (see the module docstring). duckdb_databases() tags a
# database at it "v1.0.0+".
STORAGE_VERSION = "v1.0.0"
BACKUP_SUFFIX = ".storage-backup"

log = logging.getLogger("kreview.catalog")


class CatalogMissing(MissingError, RuntimeError):
    """No catalog exists yet at the warehouse root."""


class CatalogBusy(BusyError, RuntimeError):
    """Another process holds the catalog open for longer than this one is willing to wait.
    ``str()`` names the holder (never a path: the HTTP API shows it to clients)."""


# DuckDB names the process holding a database file: "... Conflicting lock is held in
# /usr/bin/python3.12 (PID 4242) ..." (any program: an analyst's duckdb or Python session too).
_DUCKDB_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")


def catalog_holder(wh: Warehouse, exc: BaseException) -> str:
    """Who holds the catalog, in words: the kreview command (from the writer lock file) when
    the process DuckDB names is that one, else the program and its pid."""
    found = _DUCKDB_HOLDER.search(str(exc))
    lock = read_holder(wh.lock_file) or {}
    if found:
        program, pid = Path(found[1]).name, int(found[2])
        if lock.get("pid") == pid:
            return describe_holder(lock)
        return f"another program, {program} (pid {pid}),"
    return describe_holder(lock) if lock else "another program"


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
        try:
            with transaction(con):
                con.execute(mig.sql)
                con.execute(
                    "INSERT INTO schema_version (version, name) VALUES (?, ?)",
                    [mig.version, mig.name],
                )
        except duckdb.Error as exc:
            raise RuntimeError(f"migration {mig.version:04d}_{mig.name} failed: {exc}") from exc
        applied.append(mig)
    return applied


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``BEGIN`` before the block, ``COMMIT`` after it, ``ROLLBACK`` when it raises anything
    (an interrupt too), so the catalog keeps all of the block's writes or none."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def view_files() -> list[str]:
    """``views/NN_name.sql`` in order; the number prefix orders views after those they read."""
    return sorted(f"views/{p.name}" for p in (sql_root() / "views").glob("*.sql"))


def create_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create or replace every view in ``sql/views/`` inside one transaction.

    Views are part of the schema: every writer brings them up to date with the tables, so a
    reader never finds a view missing or older than the code."""
    files = view_files()
    with transaction(con):
        for rel in files:
            con.execute(read_sql(rel))
    return files


def refresh_aggregates(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild the materialized per-title aggregates (title_stats, scope_priors) in one
    transaction. Stages that change reviews or scores call it before they finish."""
    with transaction(con):
        run_script(con, "aggregates/title_stats.sql")


def storage_version(con: duckdb.DuckDBPyConnection, database: str | None = None) -> str | None:
    """The storage version DuckDB reports for ``database`` (default: the current one), e.g.
    ``v1.0.0`` (DuckDB's trailing "+" dropped); None where the installed duckdb does not say."""
    try:
        row = con.execute(
            "SELECT tags FROM duckdb_databases()"
            " WHERE database_name = coalesce(?, current_database())",
            [database],
        ).fetchone()
    except duckdb.Error:
        return None
    tag = (row[0] or {}).get("storage_version") if row else None
    return tag.rstrip("+") if tag else None


def _connect_writer(path: Path) -> duckdb.DuckDBPyConnection:
    # The setting applies to a file this creates; an existing file keeps its own version.
    return duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_VERSION})


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_rows(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, int]:
    """Rows per table of ``database`` (an attached name from duckdb_databases, not input)."""
    names = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables()"
        " WHERE database_name = ? AND NOT temporary ORDER BY 1, 2",
        [database],
    ).fetchall()
    out = {}
    for schema, table in names:
        ref = f"{_quote(database)}.{_quote(schema)}.{_quote(table)}"
        row = con.execute(f"SELECT count(*) FROM {ref}").fetchone()
        out[f"{schema}.{table}"] = int(row[0]) if row else 0
    return out


def _convert_storage(con: duckdb.DuckDBPyConnection, catalog: Path, found: str | None) -> None:
    """Rewrite ``catalog`` (open on ``con``, which this closes) at STORAGE_VERSION.

    A new file is filled by COPY FROM DATABASE, its rows are counted per table against the
    old one's, then it is renamed over the catalog; the old file stays as the backup until the
    catalog, reopened, has the same counts at the new version (else it is put back)."""
    db = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    con.execute("CHECKPOINT")
    before = _table_rows(con, db)
    tmp = catalog.with_name(f".{catalog.name}.{os.getpid()}.convert")
    tmp.unlink(missing_ok=True)
    _wal(tmp).unlink(missing_ok=True)
    try:
        path = tmp.as_posix().replace("'", "''")
        con.execute(f"ATTACH '{path}' AS kreview_convert (STORAGE_VERSION '{STORAGE_VERSION}')")
        con.execute(f"COPY FROM DATABASE {_quote(db)} TO kreview_convert")
        con.execute("CHECKPOINT kreview_convert")
        copied = _table_rows(con, "kreview_convert")
        version = storage_version(con, "kreview_convert")
        con.execute("DETACH kreview_convert")
        con.close()
        if copied != before or version != STORAGE_VERSION:
            raise RuntimeError(
                f"converting the catalog to storage {STORAGE_VERSION} gave other rows or "
                f"version ({version}); the catalog is unchanged"
            )
        if _wal(catalog).exists() or _wal(tmp).exists():
            raise RuntimeError("a DuckDB .wal file is left beside the catalog; not converting")
        fsync_file(tmp)
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        _wal(tmp).unlink(missing_ok=True)
        raise
    backup = catalog.with_name(catalog.name + BACKUP_SUFFIX)
    backup.unlink(missing_ok=True)
    try:
        os.link(catalog, backup)  # the old file, without copying it
    except OSError:
        shutil.copy2(catalog, backup)
    os.replace(tmp, catalog)
    fsync_dir(catalog.parent)
    try:
        check = duckdb.connect(str(catalog), read_only=True)
        try:
            db = check.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
            ok = _table_rows(check, db) == before and storage_version(check) == STORAGE_VERSION
        finally:
            check.close()
    except duckdb.Error:
        ok = False
    if not ok:
        os.replace(backup, catalog)
        fsync_dir(catalog.parent)
        raise RuntimeError(
            f"the catalog converted to storage {STORAGE_VERSION} did not verify; "
            "the old one is back in place"
        )
    backup.unlink()
    log.warning(
        "catalog converted from storage %s to %s (readable by DuckDB 1.x); %d tables, "
        "%d rows, all counted",
        found,
        STORAGE_VERSION,
        len(before),
        sum(before.values()),
    )


def _open_for_writing(catalog: Path) -> duckdb.DuckDBPyConnection:
    """A read-write connection on the catalog at STORAGE_VERSION (converted first if needed)."""
    con = _connect_writer(catalog)
    found = storage_version(con)
    if found is None or found == STORAGE_VERSION:
        return con
    _convert_storage(con, catalog, found)
    return _connect_writer(catalog)


# How long a writer waits for another process (a `kreview status`, an analyst's session) to
# close the catalog before it gives up with CatalogBusy.
WRITER_WAIT_S = 5.0


@contextmanager
def open_writer(
    wh: Warehouse, wait_s: float = WRITER_WAIT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Read-write connection for the span of a stage's work; tables and views are brought up
    to date first (and the file to STORAGE_VERSION, once). Waits up to ``wait_s`` while
    another process has the file open, then raises :class:`CatalogBusy` naming it.

    Call only while holding the writer lock (see core.lock.writer_lock).
    """
    wh.ensure()
    con = _connect_waiting(
        wh,
        lambda: _open_for_writing(wh.catalog),
        wait_s,
        lambda holder: CatalogBusy(
            f"the catalog is busy: {holder} has it open",
            hint=f"waited {wait_s:g}s; kreview writes only while no other process "
            "has kreview.duckdb open, so close that session and try again; analysts "
            "open kreview-read.duckdb instead",
        ),
    )
    try:
        migrate(con)
        create_views(con)
        yield con
    finally:
        con.close()


def _connect_waiting(
    wh: Warehouse,
    connect: Callable[[], duckdb.DuckDBPyConnection],
    wait_s: float,
    busy: Callable[[str], CatalogBusy],
) -> duckdb.DuckDBPyConnection:
    """``connect()``, retried with backoff for up to ``wait_s`` while another process holds
    the file; then ``busy(<who holds it>)`` is raised."""
    backoff = Backoff(0.05, 0.5, within_s=wait_s)
    while True:
        try:
            return connect()
        except duckdb.IOException as exc:
            if not _is_lock_conflict(exc):
                raise
            delay = backoff.next_delay()
            if delay is None:
                raise busy(catalog_holder(wh, exc)) from None
            time.sleep(delay)


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    text = str(exc)
    return "lock" in text.lower() and ("Could not set lock" in text or "conflicting" in text)


# Run on a sandboxed reader before any user SQL: no file, extension or network access beyond
# the catalog itself, and no setting can be changed back (SET, PRAGMA, RESET all refused).
SANDBOX_SQL = ("SET enable_external_access = false", "SET lock_configuration = true")


@contextmanager
def open_reader(
    wh: Warehouse, wait_s: float = 5.0, *, sandbox: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Read-only connection. Waits up to ``wait_s`` while a writer holds the file.

    ``sandbox``: for SQL from a user (`kreview query`): the connection can read the catalog
    and nothing else (SANDBOX_SQL). DuckDB's settings are per database instance, so do not
    open another connection on the catalog in the same process while this one is open."""
    if not wh.catalog.exists():
        raise CatalogMissing(
            f"no catalog at {wh.catalog}",
            hint="run a stage first, e.g. `kreview run`, or point --warehouse / "
            "KREVIEW_WAREHOUSE__ROOT at an existing warehouse",
        )
    con = _connect_waiting(
        wh,
        lambda: duckdb.connect(str(wh.catalog), read_only=True),
        wait_s,
        lambda holder: CatalogBusy(
            f"the catalog is busy: {holder} is writing to it",
            hint=f"waited {wait_s:g}s; try again when it finishes",
        ),
    )
    try:
        if sandbox:
            for statement in SANDBOX_SQL:
                con.execute(statement)
        yield con
    finally:
        con.close()


def publish_read_copy(wh: Warehouse) -> Path | None:
    """Copy the catalog to ``wh.read_copy`` for analysts (see the module docstring).

    Call at the end of a successful run, holding the writer lock, with no connection of this
    process open on the catalog. The copy is taken under a read-only connection (so no other
    program can write meanwhile), checked to open at STORAGE_VERSION, fsync'd and renamed into
    place. The run has committed by then, so a copy that fails only warns (the previous copy
    stays) and returns None."""
    try:
        if _wal(wh.catalog).exists():  # left by a writer that died: fold it into the file
            _open_for_writing(wh.catalog).close()
        holder = duckdb.connect(str(wh.catalog), read_only=True)
        try:
            with atomic_path(wh.read_copy, sync_dir=True) as tmp:
                shutil.copyfile(wh.catalog, tmp)
                check = duckdb.connect(str(tmp), read_only=True)
                try:
                    version = storage_version(check)
                    check.execute("SELECT count(*) FROM schema_version").fetchone()
                finally:
                    check.close()
                if version not in (None, STORAGE_VERSION):
                    raise RuntimeError(f"the copy is at storage {version}, not {STORAGE_VERSION}")
        finally:
            holder.close()
    except (OSError, RuntimeError, duckdb.Error) as exc:
        log.warning(
            "the read-only copy %s was not updated: %s: %s", wh.read_copy, type(exc).__name__, exc
        )
        return None
    return wh.read_copy
