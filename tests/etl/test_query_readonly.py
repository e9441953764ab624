"""`kreview query` cannot write a byte (issue 21): refused by statement type first, then by the
engine (read-only catalog, no external access, locked configuration); errors from the user's
SQL end in one line and exit 2; `--format json` is valid JSON for every DuckDB type."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import subprocess
from pathlib import Path

import duckdb
import pytest

from core.catalog import open_reader, open_writer
from core.ids import sortable_id
from core.warehouse import Warehouse
from etl import export
from etl.query import QueryRefused, WriteRefused, check_read_only
from jobs.config import AppConfig
from tests.conftest import kreview_cli
from tests.etl import warehouse_fixture as fx

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def wh(cfg: AppConfig) -> Warehouse:
    """The fixture warehouse with an export snapshot, and files outside the warehouse."""
    wh = fx.build(cfg.warehouse.root)
    with open_writer(wh) as con:
        export.write_export(con, wh.exports_dir, sortable_id())
    outside = wh.root.parent / "outside"
    outside.mkdir()
    (outside / "x.csv").write_text("a,b\n1,2\n")
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT 1 AS a) TO '{outside / 'p.parquet'}' (FORMAT parquet)")
    return wh


def kreview(wh, *args: str) -> subprocess.CompletedProcess[str]:
    return kreview_cli(wh.root, *args)


def digests(top: Path) -> dict[str, str]:
    """sha256 of every file under ``top`` (the log kreview appends to aside), and every
    folder: a new file or folder shows up as a new key."""
    out = {}
    for path in sorted(top.rglob("*")):
        rel = path.relative_to(top).as_posix()
        if rel.startswith("wh/logs/"):
            continue
        if path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


# {latest}: the export the issue overwrote; {out}: a folder outside the warehouse.
REFUSED = [
    "EXPLAIN ANALYZE COPY (SELECT 'x') TO '{latest}/title_scores.parquet' (FORMAT parquet)",
    "EXPLAIN COPY (SELECT 'x') TO '{latest}/title_scores.parquet' (FORMAT parquet)",
    "/* hi */ explain\n-- a comment\nanalyze COPY (SELECT 1) TO '{out}/new.csv'",
    "EXPLAIN (FORMAT json) COPY (SELECT 1) TO '{out}/new.csv'",
    "EXPLAIN ANALYZE INSERT INTO reviews SELECT * FROM reviews",
    "COPY (SELECT 1) TO '{out}/new.csv'",
    "COPY reviews TO '{latest}/title_scores.parquet' (FORMAT parquet)",
    "EXPORT DATABASE '{out}/dump'",
    "SELECT * FROM read_csv('{out}/x.csv')",
    "SELECT * FROM '{out}/x.csv'",
    "SELECT * FROM read_parquet('{out}/p.parquet')",
    "SELECT * FROM read_text('{out}/x.csv')",
    "SELECT count(*) FROM (SELECT * FROM read_csv('{out}/x.csv')) t",
    "SELECT * FROM glob('{out}/*')",
    "ATTACH '{out}/new.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET threads = 1",
    "RESET lock_configuration",
    "WITH x AS (INSERT INTO reviews SELECT * FROM reviews RETURNING *) SELECT count(*) FROM x",
    "WITH x AS (DELETE FROM reviews RETURNING *) SELECT count(*) FROM x",
    "SELECT * FROM (DELETE FROM reviews RETURNING *)",
    "SELECT 1; UPDATE reviews SET rating = 1",
    "UPDATE reviews SET rating = 1",
    "CREATE TABLE t AS SELECT 1",
    "CREATE TEMP TABLE t AS SELECT 1",
    "CREATE VIEW v AS SELECT 1",
    "DROP TABLE reviews",
    "DETACH kreview",
    "CHECKPOINT",
    "PRAGMA enable_profiling",
    "PRAGMA enable_checkpoint_on_shutdown",
    "PRAGMA profiling_output = '{out}/profile.json'",
]


def _fill(sql: str, wh: Warehouse) -> str:
    latest = (wh.exports_dir / "latest").resolve()
    return sql.format(latest=latest.as_posix(), out=(wh.root.parent / "outside").as_posix())


@pytest.mark.parametrize("sql", REFUSED)
def test_refused_with_one_line_and_nothing_written(wh: Warehouse, sql: str) -> None:
    before = digests(wh.root.parent)
    with open_reader(wh) as con:
        reviews = con.execute("SELECT count(*), sum(rating) FROM reviews").fetchone()
    proc = kreview(wh, "query", _fill(sql, wh))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kreview: "), proc.stderr
    assert proc.stdout == ""
    assert digests(wh.root.parent) == before
    with open_reader(wh) as con:
        assert con.execute("SELECT count(*), sum(rating) FROM reviews").fetchone() == reviews


ENGINE_REFUSES = [
    "EXPLAIN ANALYZE COPY (SELECT 'x') TO '{latest}/title_scores.parquet' (FORMAT parquet)",
    "COPY (SELECT 1) TO '{out}/new.csv'",
    "SELECT * FROM read_csv('{out}/x.csv')",
    "SELECT * FROM read_parquet('{latest}/title_scores.parquet')",
    "ATTACH '{out}/new.duckdb' AS other",
    "INSTALL httpfs",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "SET allowed_directories = ['{out}']",
    "CREATE TABLE t AS SELECT 1",
    "WITH x AS (DELETE FROM reviews RETURNING *) SELECT count(*) FROM x",
]


@pytest.mark.parametrize("sql", ENGINE_REFUSES)
def test_the_engine_refuses_without_the_type_check(wh: Warehouse, sql: str) -> None:
    """The sandboxed reader holds on its own, should the statement-type check miss one."""
    before = digests(wh.root.parent)
    with open_reader(wh, sandbox=True) as con, pytest.raises(duckdb.Error):
        con.execute(_fill(sql, wh)).fetchall()
    assert digests(wh.root.parent) == before


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "EXPLAIN SELECT * FROM reviews",
        "EXPLAIN ANALYZE SELECT count(*) FROM title_scores",
        "explain analyse select 1",
        "EXPLAIN (FORMAT json) SELECT 1",
        "/* why */ EXPLAIN -- this\n SELECT 1",
        "PRAGMA table_info('reviews')",
        "WITH t AS (SELECT 1 AS x) SELECT * FROM t",
    ],
)
def test_reading_statements_pass_the_check(sql: str) -> None:
    assert len(check_read_only(sql)) == 1


@pytest.mark.parametrize(
    ("sql", "error", "match"),
    [
        ("EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'", WriteRefused, "COPY statement"),
        ("EXPLAIN (FORMAT json, ANALYZE) DELETE FROM reviews", WriteRefused, "DELETE statement"),
        ("EXPLAIN CREATE TABLE t AS SELECT 1", WriteRefused, "CREATE statement"),
        ("EXPLAIN", QueryRefused, "parse|EXPLAIN"),
        ("SELECT 1; SELECT 2", QueryRefused, "one statement at a time; this holds 2"),
        ("SELECT FROM WHERE", QueryRefused, "cannot parse"),
        ("-- nothing", QueryRefused, "empty"),
    ],
)
def test_the_check_refuses(sql: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        check_read_only(sql)


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("SELECT * FROM no_such_table", "Catalog Error: Table with name no_such_table"),
        ("SELECT 'abc'::INTEGER", "Conversion Error"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
        ("SELECT FROM WHERE", "cannot parse the query"),
        ("SELECT * FROM read_parquet('{latest}/title_scores.parquet')", "only the catalog"),
    ],
)
def test_errors_of_the_users_sql_are_one_line(wh: Warehouse, sql: str, says: str) -> None:
    proc = kreview(wh, "query", _fill(sql, wh))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert says in proc.stderr


def test_the_exports_data_is_read_through_the_views(wh: Warehouse) -> None:
    """The decision: the Parquet exports are out of `kreview query`'s reach (a readable path
    would be a writable one too); the same rows are in the catalog's views."""
    latest = wh.exports_dir / "latest"
    manifest = export.read_manifest(latest)
    proc = kreview(wh, "query", "SELECT count(*) AS n FROM title_scores", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"n": manifest["datasets"]["title_scores"]["rows"]}


def _no_nan(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def test_json_output_is_valid_for_every_type(wh: Warehouse) -> None:
    sql = r"""
    SELECT sum(rating::DECIMAL(10, 2)) AS total, 1.25::DECIMAL(5, 2) AS dec,
           170141183460469231731687303715884105727::HUGEINT AS huge,
           18446744073709551616::UHUGEINT AS uhuge,
           TIME '12:34:56.5' AS t, DATE '2026-11-01' AS d,
           TIMESTAMP '2026-11-01 03:04:05.25' AS ts,
           TIMESTAMPTZ '2026-11-01 03:04:05+00' AS tstz,
           INTERVAL '1 month 2 days 3 seconds' AS iv,
           '\xAA\xBB'::BLOB AS bl,
           '0ee9ff58-53dd-4e1f-9b9f-7a6dfd5b5d8a'::UUID AS u,
           [1, 2, NULL] AS l, {'a': 1, 'b': ['x']} AS s, MAP {'k': 1.5::DECIMAL(3, 1)} AS m,
           MAP {1: 'one'} AS m_int, 'nan'::DOUBLE AS nan, 'inf'::FLOAT AS inf,
           '-inf'::DOUBLE AS ninf, CAST('a' AS ENUM('a', 'b')) AS e, '101'::BIT AS bits,
           NULL::INTEGER AS nothing, true AS yes, '괴물' AS ko
    FROM reviews
    """
    proc = kreview(wh, "query", sql, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    [line] = proc.stdout.splitlines()
    row = json.loads(line, parse_constant=_no_nan)
    with open_reader(wh) as con:
        total = con.execute("SELECT sum(rating) FROM reviews").fetchone()[0]  # type: ignore[index]
    assert math.isclose(row.pop("total"), total)
    assert row == {
        "dec": 1.25,
        "huge": 170141183460469231731687303715884105727,
        "uhuge": 18446744073709551616,  # above 2**127 DuckDB's Arrow export wraps it
        "t": "12:34:56.500000",
        "d": "2026-11-01",
        "ts": "2026-11-01T03:04:05.250000",
        "tstz": "2026-11-01T03:04:05+00:00",
        "iv": {"months": 1, "days": 2, "nanoseconds": 3_000_000_000},
        "bl": "aabb",
        "u": "0ee9ff58-53dd-4e1f-9b9f-7a6dfd5b5d8a",
        "l": [1, 2, None],
        "s": {"a": 1, "b": ["x"]},
        "m": {"k": 1.5},
        "m_int": {"1": "one"},
        "nan": None,
        "inf": None,
        "ninf": None,
        "e": "a",
        "bits": row["bits"],  # BIT reaches Arrow as bytes: hex of them, a string
        "nothing": None,
        "yes": True,
        "ko": "괴물",
    }
    assert isinstance(row["bits"], str)
    proc = kreview(wh, "query", sql, "--format", "csv")  # the same values in CSV
    assert proc.returncode == 0, proc.stderr
    [header, values] = list(csv.reader(io.StringIO(proc.stdout)))
    got = dict(zip(header, values, strict=True))
    assert got["m"] == '{"k": 1.5}' and got["nan"] == "" and got["iv"].startswith('{"months": 1')
    assert got["huge"] == "170141183460469231731687303715884105727" and got["ko"] == "괴물"
