"""Crash safety: SIGKILL `kreview run` at deterministic points inside each stage, rerun
`kreview run` until it succeeds, and find the same tables as after an uninterrupted run.

The browser scrape stage is skipped: the warehouse starts with raw Parquet written by
``tests/etl/rawdata.py`` (as a scraper would leave it), and the first run of every scenario is
``kreview run --from clean``; the reruns are plain ``kreview run``, which resumes where the
killed run stopped. Scoring uses the tiny joint model of ``tests/models/scoring_fixture.py``,
trained once per module.

The kill points (``tests/jobs/killpoints.py``) are the stages' own functions at their chunk and
transaction boundaries: before a transaction, between two statements of an open transaction,
just before and just after its COMMIT, and after the stage returned but before the ledger
recorded it. Each scenario kills once at each point of one stage, in order, rerunning in
between; every kill is asserted to have happened (exit by SIGKILL), so a renamed function
fails the test instead of silently testing nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from core import ledger
from core.catalog import open_reader
from core.warehouse import Warehouse
from etl.export import verify_manifest
from jobs.config import load_config
from tests.etl.rawdata import T0, record, write_raw
from tests.jobs.conftest import lock_is_held
from tests.jobs.killpoints import ENV, KillPoint
from tests.models.scoring_fixture import train_joint
from tests.models.tiny_tasks import FILLER, NEGATIVE, POSITIVE

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CHUNK_ROWS = 64  # the smallest chunk the scorer accepts: several chunks per run

SCENARIOS: dict[str, list[KillPoint]] = {
    "clean": [
        # a chunk read and normalized (in the prefetch thread), nothing written
        KillPoint("etl.clean:clean_latest", "return"),
        # in the open transaction: the first chunk merged into reviews, quarantine not yet
        KillPoint("core.sqlfiles:run_script", "return", 2, callers=("etl.clean:_write",)),
        KillPoint("etl.clean:_write", "return"),  # every write done, COMMIT not yet
        KillPoint("etl.clean:run", "return"),  # committed, the ledger not yet told
        KillPoint("jobs.runner:Run.stage", "return"),  # clean recorded, score not started
    ],
    "score": [
        # in the first chunk's transaction: scores inserted, embeddings not yet
        KillPoint("models.scoring.batch:_insert", "return", 1),
        KillPoint("models.scoring.batch:write_chunk", "return", 2),  # two chunks committed
        # in a title batch's recluster transaction: old clusters and members deleted, the new
        # ones not yet inserted (before the third statement of replace_clusters.sql, whose
        # parameter names run_script sorts first)
        KillPoint(
            "core.sqlfiles:run_script",
            "c_call",
            3,
            c_name="sorted",
            callers=("models.scoring.recluster:_run", "models.scoring.recluster:write_clusters"),
        ),
        # two title batches (of one title each, CLUSTER_READ_TITLES) reclustered and committed
        KillPoint("models.scoring.recluster:write_clusters", "return", 2),
        # every title batch committed with its keywords pending, none filled yet
        KillPoint("models.scoring.recluster:fill_keywords", "call"),
    ],
    "views": [
        # in the views stage's own transaction: two views replaced, the third not yet
        KillPoint(
            "core.sqlfiles:read_sql",
            "return",
            3,
            callers=("core.catalog:create_views", "etl.views:run"),
        ),
        KillPoint("etl.views:run", "return"),  # views replaced, the ledger not yet told
    ],
    "export": [
        KillPoint("etl.export:_describe", "return", 3),  # a half-written temp snapshot
        # snapshot in place, latest not moved
        KillPoint("etl.snapshots:point_latest", "call", callers=("etl.export:write_export",)),
        # latest moved, old snapshots not pruned
        KillPoint("etl.snapshots:prune", "call", callers=("etl.export:run",)),
        KillPoint("etl.export:run", "return"),  # exported, the ledger not yet told
    ],
    "report": [
        KillPoint("etl.report.build:write_page", "return", 3),  # a half-written temp report
        # report in place, latest not moved
        KillPoint("etl.snapshots:point_latest", "call", callers=("etl.report.build:write_report",)),
        KillPoint("etl.report.build:run", "return"),  # reported, the ledger not yet told
    ],
}


# ----------------------------------------------------------------------------- the warehouse


def _text(rng: np.random.Generator, positive: bool, tag: str) -> str:
    words = POSITIVE if positive else NEGATIVE
    return " ".join([*rng.choice(words, 2), *rng.choice(FILLER, 2), tag])


def write_corpus(raw_dir: Path) -> None:
    """Three raw files from two sources: ~220 reviews over 3 titles, some rejected, two edited,
    one spam text."""
    rng = np.random.default_rng(7)
    titles = ("t-a", "t-b", "t-c")
    for n_file, source in enumerate(("naver", "watcha", "naver")):
        run_id = f"20261101T03000{n_file}Z-raw00{n_file}"
        scraped = T0 + timedelta(hours=n_file)
        recs = [
            record(
                f"{source}-{n_file}-{i}",
                _text(rng, i % 3 != 0, f"{n_file}{i}번"),
                source=source,
                title_id=titles[i % 3],
                title=f"영화{i % 3}",
                rating=float(i % 11),
                written_at=T0 - timedelta(days=i % 5),
                scraped_at=scraped,
                run_id=run_id,
            )
            for i in range(72)
        ]
        recs += [
            record(f"{source}-{n_file}-empty", None, source=source, run_id=run_id),
            record(f"{source}-{n_file}-en", "great movie", source=source, run_id=run_id),
            record(f"{source}-{n_file}-rating", "좋아요 영화", rating=12.0, source=source),
        ]
        if n_file == 2:  # edits of two reviews of the first file, and one spam text
            recs += [
                record(
                    "naver-0-1", "수정 별로 ㅠㅠ", title_id="t-b", title="영화1", scraped_at=scraped
                ),
                record(
                    "naver-0-2", "수정 최고 ㅋㅋ", title_id="t-c", title="영화2", scraped_at=scraped
                ),
            ]
            spam = "광고 영화 무료 보기 사이트 접속하세요 지금 바로"
            recs += [record(f"spam-{t}", spam, title_id=t, scraped_at=scraped) for t in titles]
        write_raw(raw_dir, f"{run_id}-part0", recs, source=source)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with raw files and a current tiny joint model; never run on itself."""
    root = tmp_path_factory.mktemp("crash") / "wh"
    cfg = load_config(env={}, overrides={"warehouse.root": root})
    import torch

    # One thread: on a CPU shared with other work, OpenMP's spinning threads make tiny
    # models several times slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_joint(cfg, root.parent / "data")
    finally:
        torch.set_num_threads(before)
    write_corpus(Warehouse(root).raw_dir)
    return root


def _env(root: Path, point: KillPoint | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    env.update(
        PYTHONPATH=str(REPO),
        KREVIEW_WAREHOUSE__ROOT=str(root),
        KREVIEW_SCORING__DEVICE="cpu",
        KREVIEW_SCORING__CHUNK_ROWS=str(CHUNK_ROWS),
        KREVIEW_SCORING__BATCH_SIZE="16",
        # one title per recluster read and transaction, so a kill can fall between two of them
        KREVIEW_SCORING__CLUSTER_READ_TITLES="1",
        KREVIEW_SCORING__CLUSTER_COMMIT_REVIEWS="1",
        # One thread: the same arithmetic in every run, and gentle on a shared CPU.
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    if point is not None:
        env[ENV] = point.to_env()
    return env


def kreview_run(
    root: Path, *args: str, kill: KillPoint | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tests.jobs.killpoints", "--quiet", "run", *args]
    return subprocess.run(
        cmd, cwd=root.parent, env=_env(root, kill), capture_output=True, text=True, timeout=300
    )


def fresh_copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest / "wh", symlinks=True)
    return dest / "wh"


# ----------------------------------------------------------------------------- the comparison

TABLES = {
    "reviews": "SELECT * FROM reviews ORDER BY review_key",
    "quarantine": "SELECT * EXCLUDE (run_id, quarantined_at) FROM quarantine ORDER BY ALL",
    "cleaned_files": "SELECT path, rows FROM cleaned_files ORDER BY path",
    "scores": "SELECT * EXCLUDE (scored_at, run_id) FROM scores ORDER BY review_key",
    "embeddings": "SELECT * EXCLUDE (run_id) FROM embeddings ORDER BY review_key",
    "clusters": "SELECT * EXCLUDE (computed_at, run_id) FROM clusters ORDER BY ALL",
    "cluster_members": "SELECT * FROM cluster_members ORDER BY ALL",
    "title_scores": "SELECT * FROM title_scores ORDER BY ALL",
}


def tables(root: Path) -> dict[str, pl.DataFrame]:
    with open_reader(Warehouse(root)) as con:
        out = {name: con.sql(sql).pl() for name, sql in TABLES.items()}
    # float16 bytes -> numbers, so that embeddings compare with a tolerance like other floats
    vectors = [np.frombuffer(b, "<f2").astype(np.float32) for b in out["embeddings"]["vector"]]
    out["embeddings"] = out["embeddings"].with_columns(vector=pl.Series(vectors))
    return out


def _is_float(dtype: pl.DataType) -> bool:
    inner = getattr(dtype, "inner", None)
    return dtype.is_float() or (inner is not None and inner.is_float())


def assert_same_table(name: str, got: pl.DataFrame, expected: pl.DataFrame) -> None:
    """Equal rows; floats within a tolerance. A rerun scores the remaining reviews in other
    batches, which may move the last bits of a float (here they came out identical); keys,
    versions, labels, texts and clusters must match exactly."""
    floats = [c for c, t in expected.schema.items() if _is_float(t)]
    try:
        assert_frame_equal(got.drop(floats), expected.drop(floats))
    except AssertionError as exc:
        raise AssertionError(f"table {name} differs: {exc}") from None
    for col in floats:
        a = np.array(got[col].to_list(), dtype=np.float64)
        b = np.array(expected[col].to_list(), dtype=np.float64)
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-3, err_msg=f"{name}.{col}")


def manifest_rows(root: Path) -> dict[str, int]:
    manifest = json.loads((root / "exports" / "latest" / "_manifest.json").read_text("utf-8"))
    return {name: ds["rows"] for name, ds in manifest["datasets"].items()}


def raw_digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "raw").rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def baseline(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tables after one uninterrupted run."""
    root = fresh_copy(template, tmp_path_factory.mktemp("baseline"))
    proc = kreview_run(root, "--from", "clean")
    assert proc.returncode == 0, proc.stderr
    return {"tables": tables(root), "manifest": manifest_rows(root)}


def assert_same_outcome(root: Path, template: Path, baseline: dict[str, Any]) -> None:
    got = tables(root)
    for name, expected in baseline["tables"].items():
        assert_same_table(name, got[name], expected)
    reviews = got["reviews"]
    assert reviews.select("source", "review_id").is_unique().all(), "duplicate reviews"
    assert set(got["scores"]["review_key"]) == set(reviews["review_key"]), "unscored reviews"
    assert manifest_rows(root) == baseline["manifest"]
    # The raw layer is append-only and untouched, and every file still reads.
    assert raw_digests(root) == raw_digests(template)
    for path in (root / "raw").rglob("*.parquet"):
        pq.read_table(path)
    # Every snapshot (those of killed runs included) is whole; no temp folder is left behind.
    exports = root / "exports"
    snapshots = sorted(p for p in exports.iterdir() if p.is_dir() and not p.is_symlink())
    assert not [p.name for p in snapshots if p.name.startswith(".")], "temp export left"
    assert (exports / "latest").resolve() == snapshots[-1]
    for snap in snapshots:
        assert verify_manifest(snap) == [], snap.name
    # Every report is whole, the newest is `latest`, no temp folder or link is left behind.
    reports = root / "reports"
    built = sorted(p for p in reports.iterdir() if p.is_dir() and not p.is_symlink())
    assert not [p.name for p in reports.iterdir() if p.name.startswith(".")], "temp report left"
    assert (reports / "latest").resolve() == built[-1]
    for rep in built:
        assert (rep / "index.html").is_file() and (rep / "run.html").is_file(), rep.name
        assert len(list((rep / "titles").glob("*.html"))) == 3, rep.name
        assert list(rep.glob("models/joint/*/learning_curves.png")), rep.name  # training plots
    with open_reader(Warehouse(root)) as con:
        runs = ledger.last_runs(con, limit=50)
    assert runs[0]["status"] == ledger.SUCCEEDED
    assert all(r["status"] != ledger.RUNNING for r in runs)
    assert not lock_is_held(Warehouse(root).lock_file)


# ----------------------------------------------------------------------------- the test


@pytest.mark.parametrize("stage", list(SCENARIOS))
def test_killed_runs_resume_to_the_uninterrupted_result(
    stage: str, template: Path, baseline: dict[str, Any], tmp_path: Path
) -> None:
    root = fresh_copy(template, tmp_path)
    args: tuple[str, ...] = ("--from", "clean")
    for point in SCENARIOS[stage]:
        proc = kreview_run(root, *args, kill=point)
        assert proc.returncode == -signal.SIGKILL, (
            f"the kill point {point} was never reached (exit {proc.returncode}): {proc.stderr}"
        )
        args = ()  # from now on plain `kreview run`: it resumes the killed run
    final = kreview_run(root)  # the killed runs were reruns too; this one must finish
    assert final.returncode == 0, final.stderr
    assert_same_outcome(root, template, baseline)
