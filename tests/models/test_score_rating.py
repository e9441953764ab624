"""Predicted stars through the score stage, the views, predict and the API's records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.warehouse import Warehouse
from jobs.config import load_config
from jobs.serve.schemas import PredictRecord
from models.registry.store import Registry
from models.scoring import batch
from tests.models.test_score import corpus, make_cfg, q, run_score
from tests.models.tiny_tasks import fast_request, write_nsmc, write_pool


@pytest.fixture(scope="module")
def trained_without_rating(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry whose joint model predates the rating head (three tasks)."""
    from tests.models.scoring_fixture import train_joint

    root = tmp_path_factory.mktemp("no_rating")
    cfg = load_config(env={}, overrides={"warehouse.root": root / "wh"})
    train_joint(cfg, root / "data", rating=False)
    return root / "wh" / "models"


def add_rated_reviews(cfg, items: list[tuple[str, str, str]]) -> None:  # type: ignore[no-untyped-def]
    from etl import clean
    from jobs.runner import Run
    from tests.etl.rawdata import record, write_raw

    wh = Warehouse(cfg.warehouse.root).ensure()
    # every third review unrated: the gap is only defined for rated ones
    recs = [
        record(rid, text, title_id=tid, rating=None if i % 3 == 0 else float(1 + i % 10))
        for i, (rid, tid, text) in enumerate(items)
    ]
    write_raw(wh.raw_dir, "rated", recs)
    with Run(cfg, "clean", show_progress=False) as run:
        run.stage("clean", clean.run)


def test_scores_carry_predicted_stars_into_views_and_predict(tmp_path: Path, trained: Path) -> None:
    from models.scoring.predict import predict_records

    cfg = make_cfg(tmp_path, trained)
    items = corpus(60)
    add_rated_reviews(cfg, items)
    res = run_score(cfg)
    assert res.details["encoder_passes"] == 1  # the rating head rides the same pass
    rows = q(cfg, "SELECT predicted_rating, expected_rating FROM rating_scores")
    assert len(rows) == 60
    pred, exp = np.array(rows).T
    assert set(np.unique(pred)) <= set(range(1, 11)) and ((exp >= 1) & (exp <= 10)).all()
    # the view joins the current rating version, and the gap is expected minus given stars
    view = q(
        cfg,
        "SELECT text_raw, predicted_rating, expected_rating, rating, rating_gap"
        " FROM scored_reviews",
    )
    assert all(r[1] is not None for r in view)
    for _, _, e, given, gap in view:
        if given is None:
            assert gap is None
        else:
            assert gap == pytest.approx(e - given, abs=1e-5)
    # title_scores: the mean of expected stars and of the gap, per title
    for title_id, n_pred, mean_pred, mean_gap in q(
        cfg,
        "SELECT title_id, n_predicted, mean_predicted_rating, mean_rating_gap"
        " FROM title_scores WHERE scope = 'all'",
    ):
        ((want_n, want_mean, want_gap),) = q(
            cfg,
            "SELECT count(expected_rating), avg(expected_rating), avg(rating_gap)"
            f" FROM scored_reviews WHERE title_id = '{title_id}'",
        )
        assert (n_pred, mean_pred, mean_gap) == (
            want_n,
            pytest.approx(want_mean),
            pytest.approx(want_gap),
        )
    # the Parquet export carries them (read back with pyarrow, as downstream apps do)
    import pyarrow.dataset as pads

    from core.catalog import open_writer
    from etl.export import write_export

    wh = Warehouse(cfg.warehouse.root)
    with open_writer(wh) as con:
        out = write_export(con, wh.root / "exports", "run-x")
    assert out.manifest["contract_version"] == "2.1"
    exported = pads.dataset(out.path / "scored_reviews", partitioning="hive").to_table()
    assert exported.column("predicted_rating").null_count == 0
    assert sorted(exported.column("predicted_rating").to_pylist()) == sorted(r[1] for r in view)
    titles = pads.dataset(out.path / "title_scores.parquet").to_table()
    assert {"n_predicted", "mean_predicted_rating", "mean_rating_gap"} <= set(titles.column_names)
    # predict reads the same head: its stars are the stored ones
    stored = {r[0]: (r[1], r[2]) for r in view}
    models = batch.load_models(Warehouse(cfg.warehouse.root).models_dir, cfg.scoring)
    for rec in predict_records(models, [t for _, _, t in items[:10]]):
        PredictRecord.model_validate(rec)  # the API's response model accepts it
        assert rec["predicted_rating"] == stored[rec["text"]][0]
        assert rec["expected_rating"] == pytest.approx(stored[rec["text"]][1], abs=1e-3)
        assert "rating" in rec["model_versions"]


def test_a_registry_without_a_rating_model_scores_and_then_adds_only_the_stars(
    tmp_path: Path, trained_without_rating: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from models.training.workflow import run_training

    cfg = make_cfg(tmp_path, trained_without_rating)
    add_rated_reviews(cfg, corpus(60))
    with caplog.at_level("WARNING", logger="kreview.models"):
        first = run_score(cfg)
    assert "no current rating model: predicted stars stay NULL" in caplog.text
    assert first.rows_out == 60
    assert q(cfg, "SELECT count(*) FROM rating_scores") == [(0,)]
    assert q(cfg, "SELECT count(predicted_rating) FROM scored_reviews") == [(0,)]
    assert q(cfg, "SELECT max(n_predicted), count(mean_predicted_rating) FROM title_scores") == [
        (0, 0)
    ]
    scores_before = q(cfg, "SELECT * EXCLUDE (scored_at, run_id) FROM scores ORDER BY 1")

    # a rating model of its own becomes current: the next run predicts the stars only
    data = tmp_path / "data"
    (data / "nsmc").mkdir(parents=True)
    write_nsmc(data / "nsmc" / "ratings_test.txt", 16, 100)
    pool = write_pool(data / "unlabeled" / "nsmc_raw_pool.tsv.gz", 120, 3)
    base = trained_without_rating.parent.parent / "data" / "tiny-bert"  # the joint's base
    out = run_training(
        fast_request("rating", {"rating": [str(pool)]}, base),  # type: ignore[arg-type]
        Warehouse(cfg.warehouse.root),
    )
    assert "mae" in out.held_out["rating"]
    # the held-out side is the pool's held-out titles, and what the reader dropped is recorded
    assert out.eval_sets["rating"].source.endswith("nsmc_raw_pool.tsv.gz#held-out")
    card = (out.info.path / "card.md").read_text("utf-8")
    assert "pool_rows_equal_to_nsmc_test 0" in card and "MAE" in card
    assert "rating" in Registry(Warehouse(cfg.warehouse.root).models_dir).current()
    second = run_score(cfg)
    assert second.rows_out == 60
    assert q(cfg, "SELECT count(*) FROM rating_scores") == [(60,)]
    assert q(cfg, "SELECT * EXCLUDE (scored_at, run_id) FROM scores ORDER BY 1") == scores_before
    assert q(cfg, "SELECT count(predicted_rating) FROM scored_reviews") == [(60,)]
    assert run_score(cfg).rows_out == 0  # nothing left to predict
