"""`kreview score --engine ray`: Ray Data actors give the local engine's scores (issue 7).

The slow tests start a private local Ray (2 CPUs, 256 MB object store) per run.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import jobs.cli  # noqa: F401  (registers every command module)
from jobs.app import app
from jobs.config import AppConfig, load_config
from models.config import ScoringConfig
from models.registry.store import Registry, RegistryError
from models.scoring import batch, ray_engine, recluster
from tests.models.test_score import add_reviews, corpus, q, run_score

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RAY = {
    "scoring.engine": "ray",
    "scoring.ray.local_cpus": 2,
    "scoring.ray.actors": 2,
    "scoring.ray.object_store_mb": 256,
    # Batches of another size and composition than the local engine's (one chunk of 8192):
    # padding differs, the attention mask must make it irrelevant.
    "scoring.ray.batch_rows": 24,
    "scoring.chunk_rows": 64,  # several staged parts and several committed chunks
}


def make_cfg(root: Path, **overrides: object) -> AppConfig:
    return load_config(
        env={},
        overrides={
            "warehouse.root": root,
            "scoring.device": "cpu",
            "scoring.cluster_threshold": 0.5,  # tiny random models: make real clusters
            # fp32: bf16 rounding differs with the batch composition, which the engines differ in
            "scoring.precision": "fp32",
            **overrides,
        },
    )


def fresh_warehouse(tmp_path: Path, trained: Path) -> Path:
    root = tmp_path / "wh"
    shutil.copytree(trained, root / "models")
    return root


def dump(cfg: AppConfig) -> dict[str, list[tuple]]:
    return {
        "scores": q(
            cfg,
            "SELECT review_key, sentiment_version, emotion_version, sentiment, p_positive,"
            " emotions, top_emotions, emotion_point FROM scores ORDER BY review_key",
        ),
        "embeddings": q(
            cfg,
            "SELECT review_key, similarity_version, dim, vector FROM embeddings"
            " ORDER BY review_key",
        ),
        "members": q(
            cfg,
            "SELECT title_id, review_key, cluster_id FROM cluster_members ORDER BY ALL",
        ),
        "clusters": q(
            cfg,
            "SELECT title_id, cluster_id, size, representative_key, keywords FROM clusters"
            " ORDER BY title_id, cluster_id",
        ),
    }


def items() -> list[tuple[str, str, str]]:
    same = "최고 명작 강추 영화"
    return [(f"d{i}", "dup", same) for i in range(4)] + corpus(150)


@pytest.mark.slow
def test_ray_engine_equals_local_engine(tmp_path: Path, trained: Path) -> None:
    local_root = fresh_warehouse(tmp_path / "local", trained)
    local = make_cfg(local_root)
    add_reviews(local, "a", items())
    ray_root = tmp_path / "ray" / "wh"
    shutil.copytree(local_root, ray_root)  # the same cleaned reviews, nothing scored yet
    ray = make_cfg(ray_root, **RAY)

    res_local = run_score(local)
    res_ray = run_score(ray)

    assert res_ray.rows_in == res_ray.rows_out == res_local.rows_out == 154
    assert res_ray.details["engine"] == "ray" and res_ray.details["ray_actors"] == 2
    assert res_ray.details["device"] == "cpu" and res_ray.details["encoder_passes"] == 1
    assert res_ray.details["versions"] == res_local.details["versions"]
    assert res_ray.details["titles_reclustered"] == res_local.details["titles_reclustered"] == 4
    assert not list((ray_root / "staging").glob("score-*"))  # staged partitions removed

    a, b = dump(local), dump(ray)
    assert len(a["scores"]) == len(b["scores"]) == 154
    for x, y in zip(a["scores"], b["scores"], strict=True):
        assert x[:4] == y[:4]  # key, versions, sentiment label
        assert y[4] == pytest.approx(x[4], abs=1e-5)  # p_positive
        assert np.allclose(x[5], y[5], atol=1e-5)  # 44 emotion intensities
        assert x[6] == y[6]  # top emotions
        assert y[7] == pytest.approx(x[7], abs=1e-5)  # emotion point
    emb_a = recluster.blobs_to_float32([r[3] for r in a["embeddings"]], a["embeddings"][0][2])
    emb_b = recluster.blobs_to_float32([r[3] for r in b["embeddings"]], b["embeddings"][0][2])
    assert [r[:3] for r in a["embeddings"]] == [r[:3] for r in b["embeddings"]]
    # stored as float16: a value on a rounding boundary may land one half-precision step away
    assert np.abs(emb_a - emb_b).max() <= 1e-3
    assert a["members"] == b["members"] and a["clusters"] == b["clusters"]
    assert any(r[0] == "dup" and r[2] == 4 for r in a["clusters"])  # a real cluster compared


@pytest.mark.slow
def test_ray_engine_is_incremental(
    tmp_path: Path, trained: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = fresh_warehouse(tmp_path, trained)
    cfg = make_cfg(root, **RAY)
    add_reviews(cfg, "a", corpus(100))
    # the first run through the CLI flag (the other settings from the environment)
    monkeypatch.setenv("KREVIEW_SCORING__DEVICE", "cpu")
    for key, value in RAY.items():
        if key != "scoring.engine":
            monkeypatch.setenv("KREVIEW_" + key.upper().replace(".", "__"), str(value))
    res = CliRunner().invoke(app, ["-q", "-w", str(root), "score", "--engine", "ray"])
    assert res.exit_code == 0, res.output
    assert q(cfg, "SELECT count(*) FROM scores") == [(100,)]
    ((details,),) = q(cfg, "SELECT details FROM run_stages WHERE stage = 'score'")
    assert json.loads(details)["engine"] == "ray" and json.loads(details)["ray_actors"] == 2
    again = run_score(cfg)
    # nothing pending: no rows, no reclustering, and Ray is never started
    assert again.rows_in == again.rows_out == 0 and again.details["titles_reclustered"] == 0
    assert "ray_actors" not in again.details
    add_reviews(cfg, "b", corpus(20, seed=1))
    third = run_score(cfg)
    assert third.rows_out == 20 and third.details["titles_reclustered"] == 3
    assert q(cfg, "SELECT count(*), count(DISTINCT review_key) FROM scores") == [(120, 120)]
    assert q(cfg, "SELECT count(*), count(DISTINCT review_key) FROM embeddings") == [(120, 120)]
    assert q(cfg, "SELECT count(*) FROM scored_reviews WHERE p_positive IS NULL") == [(0,)]


def test_actor_scores_a_partition_like_the_local_step_and_refuses_other_versions(
    tmp_path: Path, trained: Path
) -> None:
    models_dir = fresh_warehouse(tmp_path, trained) / "models"
    refs = ray_engine.current_refs(Registry(models_dir))
    scoring = ScoringConfig(device="cpu")
    with pytest.raises(RegistryError, match="changed during the run"):
        ray_engine.ScoreActor(
            str(models_dir), scoring.model_dump(), {**refs, "emotion": "x/y"}, "r"
        )
    actor = ray_engine.ScoreActor(str(models_dir), scoring.model_dump(), refs, "r")
    items = corpus(10)
    keys, texts = [k for k, _, _ in items], [t for _, _, t in items]
    need_s, need_e = [i % 3 != 0 for i in range(10)], [i % 2 == 0 for i in range(10)]
    need_r = [i < 4 for i in range(10)]
    part = pa.table(
        {
            "review_key": keys,
            "text_norm": texts,
            "need_scores": need_s,
            "need_embedding": need_e,
            "need_rating": need_r,
        }
    )
    pq.write_table(part, tmp_path / "part-000000.parquet")
    got = ray_engine.split(actor(pa.table({"path": [str(tmp_path / "part-000000.parquet")]})))
    models = batch.load_models(models_dir, scoring)
    want = batch.score_rows(models, keys, texts, scoring, "r").needed(need_s, need_e, need_r)
    assert (got.scores.num_rows, got.embeddings.num_rows, got.ratings.num_rows) == (6, 5, 4)
    assert got.scores.drop_columns(["scored_at"]).equals(want.scores.drop_columns(["scored_at"]))
    assert got.embeddings.equals(want.embeddings)
    assert got.ratings.drop_columns(["scored_at"]).equals(want.ratings.drop_columns(["scored_at"]))


def test_combine_and_split_round_trip() -> None:
    scores = pa.table({"review_key": ["a", "b", "c"], "p_positive": [0.1, 0.7, 0.4]})
    scores = scores.append_column("run_id", pa.array(["r"] * 3))
    emb = pa.table(
        {
            "review_key": ["a", "b", "c"],
            "similarity_version": ["v"] * 3,
            "dim": pa.array([2, 2, 2], pa.int16()),
            "vector": [b"\x00\x01", b"\x02\x03", b"\x04\x05"],
            "run_id": ["r"] * 3,
        }
    )
    now = datetime(2026, 12, 5, tzinfo=UTC)
    scores = scores.append_column("scored_at", pa.array([now] * 3, pa.timestamp("us", tz="UTC")))
    dist = np.eye(10, dtype=np.float32)[[9, 0, 4]]  # certain of 10, 1 and 5 stars
    ratings = batch.rating_table(
        ["a", "b", "c"], dist, batch.Versions("s", "e", "v", "r"), now, "r"
    )
    need = pa.table(
        {
            "need_scores": [True, False, True],
            "need_embedding": [True, True, False],
            "need_rating": [False, True, True],
        }
    )
    got = ray_engine.split(ray_engine.combine(batch.ChunkRows(scores, emb, ratings), need))
    assert got.scores.to_pydict() == scores.filter(need["need_scores"]).to_pydict()
    assert got.embeddings.to_pydict() == emb.filter(need["need_embedding"]).to_pydict()
    assert got.ratings.to_pydict() == ratings.filter(need["need_rating"]).to_pydict()
    assert got.ratings["predicted_rating"].to_pylist() == [1.0, 5.0]
    # without a rating model (pending.sql flags no rating as needed) the rating columns travel
    # as nulls and no rating row comes back
    empty = batch.rating_table(["a", "b", "c"], None, batch.Versions("s", "e", "v"), now, "r")
    no_rating = need.set_column(2, "need_rating", pa.array([False] * 3))
    none = ray_engine.split(ray_engine.combine(batch.ChunkRows(scores, emb, empty), no_rating))
    assert none.ratings.num_rows == 0 and none.scores.num_rows == 2


def test_plan_actors() -> None:
    cpu = ScoringConfig(device="auto")
    assert ray_engine.plan_actors({"CPU": 8.0}, cpu) == (8, "cpu")
    two_each = cpu.model_copy(update={"ray": cpu.ray.model_copy(update={"cpus_per_actor": 2})})
    assert ray_engine.plan_actors({"CPU": 8.0}, two_each) == (4, "cpu")
    assert ray_engine.plan_actors({"CPU": 32.0, "GPU": 4.0}, cpu) == (4, "cuda")
    forced_cpu = ScoringConfig(device="cpu")
    assert ray_engine.plan_actors({"CPU": 32.0, "GPU": 4.0}, forced_cpu) == (32, "cpu")
    three = ScoringConfig(ray={"actors": 3})
    assert ray_engine.plan_actors({"CPU": 32.0, "GPU": 4.0}, three) == (3, "cuda")
    # more actors than a private local Ray can hold would hang: refused
    with pytest.raises(RuntimeError, match="room for 2 CPU"):
        ray_engine.plan_actors({"CPU": 2.0}, three)
    remote = ScoringConfig(ray={"actors": 3, "address": "ray://head:10001"})
    assert ray_engine.plan_actors({"CPU": 2.0}, remote) == (3, "cpu")  # its autoscaler may grow
    with pytest.raises(RuntimeError, match="no GPU"):
        ray_engine.plan_actors({"CPU": 8.0}, ScoringConfig(device="cuda"))


def test_engine_ray_without_ray_says_how_to_install(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    res = CliRunner().invoke(app, ["-q", "-w", str(tmp_path / "wh"), "score", "--engine", "ray"])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        "kreview: the ray engine needs Ray, which is not installed: pip install 'kreview[ray]'"
    ]


def test_engine_must_be_local_or_ray(clean_env: None, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["-q", "-w", str(tmp_path / "wh"), "score", "--engine", "spark"])
    # the one error handler turns ConfigError into one line and exit code 2
    assert res.exit_code == 2
    assert "scoring.engine: Input should be 'local' or 'ray'" in res.output
