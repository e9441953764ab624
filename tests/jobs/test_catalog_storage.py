"""The catalog's storage version (DuckDB 1.x clients read it), the one-time conversion of a
catalog written at a newer version, `kreview status` naming the version, and the analysts'
read-only copy published after each run (issue 21)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from core import catalog, sqlfiles
from core.catalog import (
    BACKUP_SUFFIX,
    STORAGE_VERSION,
    open_reader,
    open_writer,
    publish_read_copy,
    storage_version,
)
from core.warehouse import Warehouse
from etl import views as views_stage
from etl.datatests import run_tests
from jobs.config import AppConfig
from jobs.runner import Run
from jobs.status import collect
from tests.conftest import kreview_cli
from tests.etl import warehouse_fixture as fx

REPO = Path(__file__).resolve().parents[2]


def header_version(path: Path) -> int:
    """The storage format number in DuckDB's main header (what a client compares with the
    versions it reads: 64 is DuckDB 0.10 to 1.1's, the 1.x line reads 64 to 68)."""
    with path.open("rb") as fh:
        head = fh.read(20)
    assert head[8:12] == b"DUCK"
    return int.from_bytes(head[12:20], "little")


def contents(con: duckdb.DuckDBPyConnection, database: str | None = None) -> dict[str, Any]:
    """Every table's rows (sorted), and every view's name."""
    db = database or con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY 1", [db]
        ).fetchall()
    ]
    out: dict[str, Any] = {
        t: sorted(con.execute(f'SELECT * FROM "{db}".main."{t}"').fetchall(), key=repr)
        for t in tables
    }
    out["views"] = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE database_name = ? AND NOT internal ORDER BY 1",
        [db],
    ).fetchall()
    return out


def newest_format_catalog(path: Path) -> None:
    """A full catalog (every migration, the views, the fixture's rows) written as an older
    kreview wrote it: at the installed duckdb's default, newest storage version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        catalog.migrate(con)
        catalog.create_views(con)
        fx.fill(con)
        catalog.refresh_aggregates(con)
    finally:
        con.close()


def test_a_new_catalog_is_written_at_the_storage_version(cfg: AppConfig) -> None:
    wh = fx.build(cfg.warehouse.root)  # every migration, every view, the fixture's rows
    with open_reader(wh) as con:
        assert storage_version(con) == STORAGE_VERSION
        views = [f.removeprefix("views/")[3:-4] for f in catalog.view_files()]
        for view in views:  # each view still binds and runs at that version
            con.execute(f'SELECT count(*) FROM "{view}"').fetchone()
        assert run_tests(con)[1] == []
        applied = con.execute("SELECT max(version) FROM schema_version").fetchone()
    assert applied == (max(m.version for m in sqlfiles.migrations()),)
    assert header_version(wh.catalog) == 64


@pytest.mark.skipif(
    int(duckdb.__version__.split(".")[0]) < 2, reason="this duckdb writes 1.x formats anyway"
)
def test_a_newer_catalog_is_converted_once_without_losing_a_row(
    cfg: AppConfig, caplog: pytest.LogCaptureFixture
) -> None:
    wh = Warehouse(cfg.warehouse.root)
    newest_format_catalog(wh.catalog)
    with duckdb.connect(str(wh.catalog), read_only=True) as con:
        found = storage_version(con)
        before = contents(con)
    assert found != STORAGE_VERSION and header_version(wh.catalog) != 64
    with caplog.at_level(logging.WARNING, logger="kreview.catalog"), open_writer(wh) as con:
        assert storage_version(con) == STORAGE_VERSION
        assert contents(con) == before
    assert [r.getMessage() for r in caplog.records if "converted" in r.getMessage()]
    assert header_version(wh.catalog) == 64
    leftovers = [
        p.name for p in wh.root.iterdir() if "convert" in p.name or BACKUP_SUFFIX in p.name
    ]
    assert leftovers == []
    with open_reader(wh) as con:
        assert contents(con) == before
        compression = con.execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('reviews')"
            " WHERE column_name = 'text_raw' AND segment_type = 'VARCHAR'"
        ).fetchall()
    assert compression == [("Uncompressed",)]  # migration 0007's choice survives the copy
    inode = wh.catalog.stat().st_ino
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kreview.catalog"), open_writer(wh):
        pass
    assert wh.catalog.stat().st_ino == inode and not caplog.records  # once only


def test_a_conversion_that_does_not_verify_leaves_the_old_catalog(
    cfg: AppConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = Warehouse(cfg.warehouse.root)
    newest_format_catalog(wh.catalog)
    if header_version(wh.catalog) == 64:
        pytest.skip("this duckdb writes a 1.x format by default: nothing to convert")
    original = wh.catalog.read_bytes()
    real = catalog._table_rows
    calls = []

    def lose_a_row_on(call: int):
        def rows(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, int]:
            calls.append(database)
            out = real(con, database)
            if len(calls) == call:
                out["main.reviews"] -= 1
            return out

        return rows

    # 1: the copy counts one row less before the swap; 2: after the swap
    for call in (2, 3):
        calls.clear()
        monkeypatch.setattr(catalog, "_table_rows", lose_a_row_on(call))
        with pytest.raises(RuntimeError, match="storage"), open_writer(wh):
            pass
        assert wh.catalog.read_bytes() == original, call
        assert sorted(p.name for p in wh.root.iterdir() if p.is_file()) == ["kreview.duckdb"]
    monkeypatch.setattr(catalog, "_table_rows", real)
    with open_writer(wh) as con:
        assert storage_version(con) == STORAGE_VERSION


def test_status_names_the_storage_version(cfg: AppConfig) -> None:
    wh = fx.build(cfg.warehouse.root)
    assert collect(wh).storage_version == STORAGE_VERSION
    proc = kreview_cli(wh.root, "status")
    assert proc.returncode == 0, proc.stderr
    assert f"DuckDB storage {STORAGE_VERSION}" in proc.stdout.replace("\n", "")


def views_run(cfg: AppConfig) -> Run:
    with Run(cfg, "views", show_progress=False) as run:
        run.stage("views", views_stage.run)
    return run


def test_a_run_publishes_the_read_copy(cfg: AppConfig) -> None:
    wh = fx.build(cfg.warehouse.root)
    assert not wh.read_copy.exists()  # only runs publish it
    run = views_run(cfg)
    with duckdb.connect(str(wh.read_copy), read_only=True) as copy:
        assert storage_version(copy) == STORAGE_VERSION
        status = copy.execute("SELECT status FROM runs WHERE run_id = ?", [run.run_id]).fetchone()
        assert status == ("succeeded",)  # taken after the ledger recorded the run
        in_copy = contents(copy)
    with open_reader(wh) as con:
        assert contents(con) == in_copy
    assert header_version(wh.read_copy) == 64
    assert not [p.name for p in wh.root.iterdir() if p.name.endswith(".tmp")]


def test_a_failed_run_does_not_publish(cfg: AppConfig) -> None:
    fx.build(cfg.warehouse.root)
    wh = Warehouse(cfg.warehouse.root)

    def broken(ctx):
        raise ValueError("boom")

    with pytest.raises(Exception, match="boom"), Run(cfg, "views", show_progress=False) as run:
        run.stage("views", broken)
    assert not wh.read_copy.exists()


def test_a_copy_that_fails_only_warns(
    cfg: AppConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wh = fx.build(cfg.warehouse.root)
    views_run(cfg)
    before = wh.read_copy.read_bytes()

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(catalog.shutil, "copyfile", disk_full)
    with caplog.at_level(logging.WARNING, logger="kreview.catalog"):
        assert publish_read_copy(wh) is None
        views_run(cfg)  # the run itself succeeds
    assert "No space left" in caplog.text
    assert wh.read_copy.read_bytes() == before
    assert not [p.name for p in wh.root.iterdir() if p.name.endswith(".tmp")]


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print(con.execute("SELECT count(*) FROM runs").fetchone()[0], flush=True)
sys.stdin.readline()
print(con.execute("SELECT count(*) FROM runs").fetchone()[0], flush=True)
"""


@pytest.mark.parametrize("mode", ["ro", "rw"])
def test_a_session_on_the_read_copy_never_blocks_a_run(cfg: AppConfig, mode: str) -> None:
    """An analyst's session holds the copy (read-only as the README says, or read-write by
    mistake) while the nightly writer runs: the run succeeds and republishes the copy; the
    session keeps reading the copy it opened."""
    wh = fx.build(cfg.warehouse.root)
    views_run(cfg)
    session = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(wh.read_copy), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert session.stdout is not None and session.stdin is not None
        assert session.stdout.readline().strip() == "1"
        views_run(cfg)  # the writer, while the session holds the copy
        with duckdb.connect(str(wh.read_copy), read_only=True) as copy:
            assert copy.execute("SELECT count(*) FROM runs").fetchone() == (2,)
        session.stdin.write("\n")
        session.stdin.flush()
        assert session.stdout.readline().strip() == "1"  # its own snapshot, unchanged
        assert session.wait(timeout=30) == 0
    finally:
        session.kill()
        session.wait()
