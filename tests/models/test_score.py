from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from core.catalog import open_reader
from core.warehouse import Warehouse
from etl import clean
from jobs.config import AppConfig, load_config
from jobs.runner import Run, StageFailed
from models.base.bootstrap import ChecksumError
from models.scoring import batch, emotion_math, recluster, score
from tests.etl.rawdata import record, write_raw
from tests.models.tiny_tasks import FILLER, NEGATIVE, POSITIVE


def make_cfg(tmp_path: Path, trained: Path, **overrides) -> AppConfig:
    root = tmp_path / "wh"
    shutil.copytree(trained, root / "models")
    return load_config(
        env={},
        overrides={"warehouse.root": root, "scoring.device": "cpu", **overrides},
    )


def texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        words = POSITIVE if i % 2 else NEGATIVE
        out.append(" ".join([*rng.choice(words, 2), *rng.choice(FILLER, 2), f"{seed}-{i}번"]))
    return out


def add_reviews(cfg: AppConfig, name: str, items: list[tuple[str, str, str]]) -> None:
    wh = Warehouse(cfg.warehouse.root).ensure()
    recs = [record(rid, text, title_id=tid) for rid, tid, text in items]
    write_raw(wh.raw_dir, name, recs)
    with Run(cfg, "clean", show_progress=False) as run:
        run.stage("clean", clean.run)


def run_score(cfg: AppConfig):
    with Run(cfg, "score", show_progress=False) as run:
        return run.stage("score", score.run)


def q(cfg: AppConfig, sql: str) -> list[tuple]:
    with open_reader(Warehouse(cfg.warehouse.root)) as con:
        return con.execute(sql).fetchall()


def corpus(n: int = 150, seed: int = 0) -> list[tuple[str, str, str]]:
    return [(f"r{seed}-{i}", f"t{i % 3}", t) for i, t in enumerate(texts(n, seed))]


def test_scores_shapes_ranges_and_one_pass(tmp_path: Path, trained: Path) -> None:
    cfg = make_cfg(tmp_path, trained)
    add_reviews(cfg, "a", corpus())
    res = run_score(cfg)
    assert res.rows_in == res.rows_out == 150
    assert res.details["encoder_passes"] == 1  # the joint model: one encoder pass for all
    rows = q(cfg, "SELECT p_positive, emotions, emotion_point, sentiment, top_emotions FROM scores")
    assert len(rows) == 150
    p = np.array([r[0] for r in rows])
    emo = np.array([r[1] for r in rows])
    assert emo.shape == (150, 44)
    assert ((p >= 0) & (p <= 1)).all() and ((emo >= 0) & (emo <= 1)).all()
    assert all(r[3] == int(r[0] >= 0.5) for r in rows)
    assert all(len(r[4]) == cfg.scoring.top_emotions for r in rows)
    assert np.allclose([r[2] for r in rows], emotion_math.emotion_point(emo), atol=1e-6)
    ((dim, blob),) = q(cfg, "SELECT dim, vector FROM embeddings LIMIT 1")
    vec = recluster.blobs_to_float32([blob], dim)
    assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-2)
    # the views read them: every review is scored by the current versions
    assert q(cfg, "SELECT count(*) FROM scored_reviews WHERE p_positive IS NULL") == [(0,)]


def test_incremental_and_idempotent(tmp_path: Path, trained: Path) -> None:
    cfg = make_cfg(tmp_path, trained)
    add_reviews(cfg, "a", corpus())
    run_score(cfg)
    before = q(cfg, "SELECT * EXCLUDE (scored_at, run_id) FROM scores ORDER BY review_key")
    again = run_score(cfg)
    assert again.rows_out == 0 and again.details["titles_reclustered"] == 0
    after = q(cfg, "SELECT * EXCLUDE (scored_at, run_id) FROM scores ORDER BY review_key")
    assert after == before
    add_reviews(cfg, "b", corpus(20, seed=1))
    third = run_score(cfg)
    assert third.rows_out == 20
    assert q(cfg, "SELECT count(*), count(DISTINCT review_key) FROM scores") == [(170, 170)]
    assert third.details["titles_reclustered"] == 3  # every title got new reviews


def test_crash_mid_run_leaves_no_partial_rows_and_rerun_completes(
    tmp_path: Path, trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_cfg(tmp_path, trained, **{"scoring.chunk_rows": 64})
    add_reviews(cfg, "a", corpus())
    real = batch._insert
    calls = {"n": 0}

    def dying(con, table, rows):
        calls["n"] += 1
        if calls["n"] == 4:  # chunk 2: its scores were inserted, now its embeddings
            raise RuntimeError("killed mid-chunk")
        return real(con, table, rows)

    monkeypatch.setattr(batch, "_insert", dying)
    with pytest.raises(StageFailed, match="killed mid-chunk"):
        run_score(cfg)
    n_scores, n_emb = q(
        cfg, "SELECT (SELECT count(*) FROM scores), (SELECT count(*) FROM embeddings)"
    )[0]
    assert n_scores == n_emb == 64  # the first chunk only; nothing of the second
    monkeypatch.setattr(batch, "_insert", real)
    res = run_score(cfg)
    assert res.rows_out == 150 - 64
    assert q(cfg, "SELECT count(DISTINCT review_key), count(*) FROM scores") == [(150, 150)]


def test_predict_matches_stored_scores(tmp_path: Path, trained: Path) -> None:
    from models.scoring.predict import predict_records

    cfg = make_cfg(tmp_path, trained)
    items = corpus(10)
    add_reviews(cfg, "a", items)
    run_score(cfg)
    stored = dict(
        q(cfg, "SELECT r.text_raw, s.p_positive FROM reviews r JOIN scores s USING (review_key)")
    )
    models = batch.load_models(Warehouse(cfg.warehouse.root).models_dir, cfg.scoring)
    recs = list(predict_records(models, [t for _, _, t in items]))
    assert [r["text"] for r in recs] == [t for _, _, t in items]
    for rec in recs:
        assert rec["p_positive"] == pytest.approx(stored[rec["text"]], abs=1e-5)
        assert len(rec["emotions"]) == 44 and rec["sentiment"] in ("positive", "negative")


def test_clusters_written_and_recomputed_only_for_changed_titles(
    tmp_path: Path, trained: Path
) -> None:
    cfg = make_cfg(tmp_path, trained, **{"scoring.cluster_threshold": 0.5})
    same = "최고 명작 강추 영화"
    items = [(f"d{i}", "dup", same) for i in range(4)] + corpus(30)
    add_reviews(cfg, "a", items)
    run_score(cfg)
    rows = q(cfg, "SELECT cluster_id, size FROM clusters WHERE title_id = 'dup'")
    assert rows == [(0, 4)]  # identical texts form one cluster
    members = q(cfg, "SELECT count(*) FROM cluster_members WHERE title_id = 'dup'")
    assert members == [(4,)]
    add_reviews(cfg, "b", [("new1", "t0", "별로 최악 지루 ㅠㅠ")])
    res = run_score(cfg)
    assert res.details["titles_reclustered"] == 1
    view = q(cfg, "SELECT title_id, size FROM title_clusters WHERE title_id = 'dup'")
    assert view == [("dup", 4)]


def test_shipped_defaults_install_into_a_fresh_registry(tmp_path: Path, trained: Path) -> None:
    import json

    from models.base.bootstrap import write_checksums
    from models.base.encoder import registry_base_dir
    from models.registry.defaults import install_defaults
    from models.registry.store import Registry

    shipped = tmp_path / "default"
    (joint,) = (trained / "joint").iterdir()
    shutil.copytree(joint, shipped / "joint" / joint.name)
    base = json.loads((joint / "config.json").read_text())["base"]
    fresh = Registry(tmp_path / "fresh")
    # without the base it was trained on, a shipped model is not installed
    skipped = install_defaults(fresh, shipped)
    assert skipped.copied == () and "not bootstrapped" in skipped.skipped[0]
    base_dir = registry_base_dir(fresh.root, base["id"])
    shutil.copytree(Path(base["id"]), base_dir)  # the tiny base: a local folder
    write_checksums(base_dir)
    first = install_defaults(fresh, shipped)
    assert first.copied == (f"joint/{joint.name}",)
    assert set(first.made_current) == {"sentiment", "emotion", "similarity", "rating"}
    again = install_defaults(fresh, shipped)  # idempotent
    assert again.copied == () and again.made_current == ()
    # a damaged shipped artifact is refused
    other = tmp_path / "broken"
    shutil.copytree(joint, other / "joint" / "20990101T000000Z-ffffff")
    (other / "joint" / "20990101T000000Z-ffffff" / "heads.safetensors").write_bytes(b"x")
    with pytest.raises(ChecksumError):
        install_defaults(Registry(tmp_path / "fresh"), other)


@pytest.mark.parametrize("read_titles", [1, 2])
def test_batched_title_reads_give_the_clusters_of_per_title_reads(
    tmp_path: Path, trained: Path, read_titles: int
) -> None:
    """Reclustering reads several titles' embeddings per query; the clusters are those that
    reading one title at a time gives."""
    batched = make_cfg(tmp_path / "b", trained, **{"scoring.cluster_read_titles": read_titles})
    items = corpus(40) + [(f"d{i}", "dup", "최고 명작 강추 영화") for i in range(3)]
    add_reviews(batched, "a", items)
    run_score(batched)
    got = q(batched, "SELECT * EXCLUDE (computed_at, run_id) FROM clusters ORDER BY ALL")
    members = q(batched, "SELECT * FROM cluster_members ORDER BY ALL")
    assert got and members
    wh = Warehouse(batched.warehouse.root)
    from core.catalog import open_writer

    one = batched.scoring.model_copy(update={"cluster_read_titles": 1})
    with open_writer(wh) as con:
        version = con.execute("SELECT DISTINCT similarity_version FROM clusters").fetchone()[0]
        titles = [r[0] for r in con.execute("SELECT DISTINCT title_id FROM reviews").fetchall()]
        # the per-title path: each title read by its own query, written in its own transaction,
        # and clustered from scratch again (no state: no incremental assignment)
        con.execute("DELETE FROM cluster_state")
        stats = recluster.recluster(con, titles, version, one, "again")
        assert stats.full_titles == len(titles)
    again = q(batched, "SELECT * EXCLUDE (computed_at, run_id) FROM clusters ORDER BY ALL")
    assert again == got
    assert q(batched, "SELECT * FROM cluster_members ORDER BY ALL") == members
