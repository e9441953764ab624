from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from core import catalog, sqlfiles
from core.catalog import (
    CatalogBusy,
    CatalogMissing,
    migrate,
    open_reader,
    open_writer,
    transaction,
)
from core.sqlfiles import Migration
from core.warehouse import Warehouse
from jobs.config import AppConfig


def test_migrations_numbered_and_ordered() -> None:
    versions = [m.version for m in sqlfiles.migrations()]
    assert versions == sorted(versions)
    assert versions[0] == 1
    assert len(set(versions)) == len(versions)


def test_run_script_splits_with_duckdbs_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    # A `;` at a line end inside a string, and a `$` in a string or a comment, are only text.
    script = (
        "CREATE OR REPLACE TABLE t (s VARCHAR);\n"
        "-- a comment; naming $nothing\n"
        "INSERT INTO t VALUES ('a;\n'), ($v);\n"
        "INSERT INTO t VALUES ('$x')\n"
    )
    monkeypatch.setattr(sqlfiles, "read_sql", lambda relative: script)
    con = duckdb.connect()
    sqlfiles.run_script(con, "t.sql", {"v": "b", "unused": 1})
    assert [r[0] for r in con.execute("SELECT s FROM t").fetchall()] == ["a;\n", "b", "$x"]
    with pytest.raises(KeyError, match=r"sql/t.sql: no value for \$v"):
        sqlfiles.run_script(con, "t.sql")


def test_migrations_apply_once_and_in_order(cfg: AppConfig) -> None:
    wh = Warehouse(cfg.warehouse.root)
    with open_writer(wh) as con:
        first = con.execute("SELECT version, applied_at FROM schema_version ORDER BY 1").fetchall()
        assert [v for v, _ in first] == [m.version for m in sqlfiles.migrations()]
        assert migrate(con) == []  # nothing pending the second time
    with open_writer(wh) as con:  # reopening applies nothing again
        again = con.execute("SELECT version, applied_at FROM schema_version ORDER BY 1").fetchall()
    assert again == first


def test_failed_migration_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = Migration(1, "good", "CREATE TABLE a (x INTEGER);")
    bad = Migration(2, "bad", "CREATE TABLE b (x INTEGER); SELECT * FROM no_such_table;")
    monkeypatch.setattr(catalog, "migrations", lambda: (good, bad))
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    with pytest.raises(RuntimeError, match="0002_bad"):
        migrate(con)
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert "a" in tables and "b" not in tables  # 2's partial work is gone
    assert [r[0] for r in con.execute("SELECT version FROM schema_version").fetchall()] == [1]


@pytest.mark.parametrize("failure", [duckdb.Error, KeyboardInterrupt])
def test_a_transaction_keeps_all_of_its_writes_or_none(failure: type[BaseException]) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(failure), transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
        raise failure("stop")  # a failed statement, or Ctrl-C between two
    assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)
    with transaction(con):  # the connection is usable again, and a block that ends commits
        con.execute("INSERT INTO t VALUES (2)")
    assert con.execute("SELECT x FROM t").fetchall() == [(2,)]


def _catalog_before(
    version: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[duckdb.DuckDBPyConnection, tuple[sqlfiles.Migration, ...]]:
    """A catalog with the migrations before ``version`` applied, and every migration."""
    every = sqlfiles.migrations()
    monkeypatch.setattr(
        catalog, "migrations", lambda: tuple(m for m in every if m.version < version)
    )
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    migrate(con)
    return con, every


def test_text_uncompressed_migration_keeps_every_review(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A catalog made before 0007 (compressed text), with reviews in it: after the rebuild the
    # same rows are there, in the same column order, and the text is stored uncompressed.
    from tests.etl.warehouse_fixture import insert_review

    con, every = _catalog_before(7, tmp_path, monkeypatch)
    for i in range(300):
        insert_review(
            con, str(i), f"t{i % 7}", "제목", "naver", 8.0, 1, f"리뷰 {i}ㅋㅋㅋ", f"리뷰 {i}ㅋㅋ"
        )
    before = con.execute("SELECT * FROM reviews ORDER BY review_key").fetchall()
    columns = [r[0] for r in con.execute("DESCRIBE reviews").fetchall()]
    monkeypatch.setattr(catalog, "migrations", lambda: every)
    assert [m.version for m in migrate(con)] == [m.version for m in every if m.version >= 7]
    con.execute("CHECKPOINT")  # storage_info describes checkpointed segments
    assert con.execute("SELECT * FROM reviews ORDER BY review_key").fetchall() == before
    assert [r[0] for r in con.execute("DESCRIBE reviews").fetchall()] == columns
    text_segments = con.execute(
        "SELECT DISTINCT compression FROM pragma_storage_info('reviews')"
        " WHERE column_name IN ('text_raw', 'text_norm') AND segment_type = 'VARCHAR'"
    ).fetchall()
    assert text_segments == [("Uncompressed",)]


def test_cluster_keywords_may_be_pending_after_0012(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A catalog made before 0012 refuses a cluster without keywords; after it, the clusters
    # already there are kept and a cluster may be written with its keywords pending (NULL).
    con, every = _catalog_before(12, tmp_path, monkeypatch)
    row = "'t{i}', 'sim-v1', {i}, 3, 'k{i}', {kw}, now(), 'run'"
    kw = "['배우']"
    con.execute(f"INSERT INTO clusters VALUES ({row.format(i=0, kw=kw)})")
    with pytest.raises(duckdb.ConstraintException):
        con.execute(f"INSERT INTO clusters VALUES ({row.format(i=1, kw='NULL')})")
    monkeypatch.setattr(catalog, "migrations", lambda: every)
    assert [m.version for m in migrate(con)] == [m.version for m in every if m.version >= 12]
    con.execute(f"INSERT INTO clusters VALUES ({row.format(i=1, kw='NULL')})")
    kept = con.execute("SELECT cluster_id, keywords FROM clusters ORDER BY 1").fetchall()
    assert kept == [(0, ["배우"]), (1, None)]


def test_cluster_members_rebuild_keeps_every_membership_and_drops_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A catalog made before 0011, with memberships in it: after the rebuild the same rows are
    # there, in the same column order, and the table has no primary key any more.
    con, every = _catalog_before(11, tmp_path, monkeypatch)
    con.execute(
        "INSERT INTO cluster_members SELECT 'k' || i, 't' || (i % 7), 'sim-v1', (i % 5) - 1 "
        "FROM range(300) r(i)"
    )
    before = con.execute("SELECT * FROM cluster_members ORDER BY ALL").fetchall()
    columns = con.execute("DESCRIBE cluster_members").fetchall()
    monkeypatch.setattr(catalog, "migrations", lambda: every)
    assert [m.version for m in migrate(con)] == [m.version for m in every if m.version >= 11]
    assert con.execute("SELECT * FROM cluster_members ORDER BY ALL").fetchall() == before
    assert [c[:2] for c in con.execute("DESCRIBE cluster_members").fetchall()] == [
        c[:2] for c in columns
    ]
    constraints = con.execute(
        "SELECT constraint_type FROM duckdb_constraints() WHERE table_name = 'cluster_members'"
    ).fetchall()
    assert ("PRIMARY KEY",) not in constraints


def test_reader_without_catalog_says_so(cfg: AppConfig) -> None:
    with (
        pytest.raises(CatalogMissing, match="no catalog"),
        open_reader(Warehouse(cfg.warehouse.root)),
    ):
        pass


def test_reader_waits_then_names_the_writer(cfg: AppConfig) -> None:
    wh = Warehouse(cfg.warehouse.root)
    with open_writer(wh):
        pass
    holder = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        import duckdb
        from core.lock import writer_lock
        with writer_lock(Path({str(wh.lock_file)!r}), "clean", "run-xyz"):
            con = duckdb.connect({str(wh.catalog)!r})
            print("ready", flush=True)
            time.sleep(30)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with pytest.raises(CatalogBusy) as info, open_reader(wh, wait_s=0.3):
            pass
        assert "run-xyz" in str(info.value) and "clean" in str(info.value)
    finally:
        proc.kill()
        proc.wait()
    with open_reader(wh, wait_s=2) as con:  # free again once the writer is gone
        assert con.execute("SELECT 1").fetchone() == (1,)
