from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import pytest

from core.catalog import open_reader, open_writer
from etl import export
from etl.datatests import load_models, run_tests
from etl.query import WriteRefused, check_read_only
from jobs.config import AppConfig
from tests.conftest import kreview_cli
from tests.etl import warehouse_fixture as fx


@pytest.fixture
def wh(cfg: AppConfig):
    return fx.build(cfg.warehouse.root)


def kreview(wh, *args: str) -> subprocess.CompletedProcess[str]:
    return kreview_cli(wh.root, *args)


def test_every_view_and_column_is_documented(wh) -> None:
    documented = {m.name: {c.name for c in m.columns} for m in load_models()}
    with open_reader(wh) as con:
        for view in (
            "scored_reviews",
            "title_scores",
            "title_emotions",
            "title_clusters",
            "daily_title_trend",
            "source_comparison",
        ):
            cols = {r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()}
            assert cols == documented[view], view


def test_data_tests_pass_on_fixture(wh) -> None:
    with open_reader(wh) as con:
        ran, failures = run_tests(con)
    assert ran > 50 and failures == []


def test_check_catches_planted_bad_row(wh) -> None:
    with open_writer(wh) as con:
        con.execute(
            "UPDATE scores SET p_positive = 1.7 WHERE sentiment_version = 'sent-v1' "
            "AND review_key = (SELECT min(review_key) FROM scores)"
        )
        con.execute("UPDATE reviews SET source = 'daum' WHERE review_id = 'r6'")
        # cluster_members has no primary key (migration 0011): its data test catches a review
        # that is in two clusters of one version
        for cluster in (0, 1):
            con.execute(
                "INSERT INTO cluster_members SELECT review_key, title_id, 'sim-v1', ? "
                "FROM reviews WHERE review_key = (SELECT min(review_key) FROM reviews)",
                [cluster],
            )
    with open_reader(wh) as con:
        _, failures = run_tests(con)
    names = {(f.test.model, f.test.name) for f in failures}
    assert ("scores", "range(p_positive in [0, 1])") in names
    assert ("reviews", "accepted(source in ['naver', 'watcha'])") in names
    assert ("cluster_members", "unique(review_key, similarity_version)") in names
    proc = kreview(wh, "check")
    assert proc.returncode == 1
    assert "range(p_positive in [0, 1])" in proc.stdout and "failing rows" in proc.stdout


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM reviews",
        "INSERT INTO reviews SELECT * FROM reviews",
        "SELECT 1; DROP TABLE reviews",
        "COPY reviews TO '/tmp/x.csv'",
        "ATTACH '/tmp/other.duckdb'",
        "CREATE TABLE x AS SELECT 1",
    ],
)
def test_query_refuses_writes(sql: str) -> None:
    with pytest.raises(WriteRefused, match="read-only"):
        check_read_only(sql)


def test_query_cli_formats_and_refusal(wh, tmp_path: Path) -> None:
    proc = kreview(wh, "query", "DELETE FROM reviews")
    assert proc.returncode == 2 and "read-only" in proc.stderr
    proc = kreview(
        wh,
        "query",
        "SELECT title_id, n_reviews FROM title_scores WHERE scope='all' ORDER BY 1",
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows == [{"title_id": "t1", "n_reviews": 4}, {"title_id": "t2", "n_reviews": 2}]
    out = tmp_path / "q.parquet"
    proc = kreview(wh, "query", "SELECT * FROM reviews", "--format", "parquet", "--out", str(out))
    assert proc.returncode == 0 and out.exists()
    proc = kreview(wh, "query", "SELECT review_id FROM reviews ORDER BY 1", "-f", "csv")
    assert proc.stdout.splitlines() == ["review_id", "r1", "r2", "r3", "r4", "r5", "r6"]


def test_export_manifest_matches_files(wh, tmp_path: Path) -> None:
    out = tmp_path / "exports"
    with open_writer(wh) as con:
        res = export.write_export(con, out, "run-1")
    assert export.verify_manifest(res.path) == []
    man = json.loads((res.path / "_manifest.json").read_text())
    assert man["contract_version"] == export.CONTRACT_VERSION
    assert man["model_versions"] == {
        "sentiment": fx.SENT_V,
        "emotion": fx.EMO_V,
        "similarity": fx.SIM_V,
    }
    assert man["datasets"]["scored_reviews"]["rows"] == 6
    assert man["datasets"]["title_scores"]["rows"] == 5  # t1: all/naver/watcha, t2: all/naver
    parts = {f["path"].split("/")[1] for f in man["datasets"]["scored_reviews"]["files"]}
    assert parts == {"source=naver", "source=watcha"}
    assert (out / "latest").resolve() == res.path.resolve()
    (res.path / "title_scores.parquet").write_bytes(b"tampered")
    assert any("title_scores" in p for p in export.verify_manifest(res.path))


def test_export_verify_cli(wh) -> None:
    with open_writer(wh) as con:
        res = export.write_export(con, wh.exports_dir, "run-9")
    proc = kreview(wh, "export", "--verify")  # latest under the export root
    assert proc.returncode == 0, proc.stderr
    assert "export run-9: every file matches" in proc.stdout
    assert "scored_reviews" in proc.stdout and proc.stderr == ""
    (res.path / "title_scores.parquet").write_bytes(b"tampered")
    (res.path / "title_clusters.parquet").unlink()
    (res.path / "stray.parquet").write_bytes(b"")
    proc = kreview(wh, "export", "--verify", str(res.path))
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    prefix = f"kreview: {res.path}: "
    assert all(line.startswith(prefix) for line in lines), lines
    problems = [line.removeprefix(prefix) for line in lines]
    assert len(problems) == 4, problems
    assert problems[0] == "title_scores: sha256 differs for title_scores.parquet"
    assert problems[1].startswith("title_scores: unreadable title_scores.parquet: ")
    assert problems[2:] == [
        "title_clusters: missing title_clusters.parquet",
        "unlisted file stray.parquet",
    ]
    proc = kreview(wh, "export", "--verify", str(wh.root / "nowhere"))
    assert proc.returncode == 1 and "no export snapshot at" in proc.stderr
    proc = kreview(wh, "export", str(res.path))
    assert proc.returncode == 2 and "only with --verify" in proc.stderr


def test_export_since_filters_reviews(wh, tmp_path: Path) -> None:
    with open_writer(wh) as con:
        res = export.write_export(con, tmp_path / "e", "run-2", since=date(2026, 11, 2))
    assert res.manifest["datasets"]["scored_reviews"]["rows"] == 3  # r3, r4 (day 2), r6 (day 3)


def test_interrupted_export_leaves_no_visible_folder(wh, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "exports"
    calls = {"n": 0}
    real = export._describe

    def dying(path, root):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if killed half-way
        return real(path, root)

    monkeypatch.setattr(export, "_describe", dying)
    with open_writer(wh) as con, pytest.raises(KeyboardInterrupt):
        export.write_export(con, out, "run-3")
    assert [p.name for p in out.iterdir()] == []  # no snapshot, no temp folder, no latest
