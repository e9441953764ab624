"""The views added for the report, checked by hand on the report fixture."""

from __future__ import annotations

import pytest

from core.catalog import open_reader
from core.warehouse import Warehouse
from etl.datatests import compile_tests, load_models, run_tests
from jobs.config import AppConfig
from tests.etl import warehouse_fixture as fx
from tests.report import fixture

NEW_VIEWS = (
    "title_sentiment_distribution",
    "sentiment_rating_disagreements",
    "run_stage_rows",
    "quarantine_reasons",
    "model_version_summary",
    "model_metrics",
)


@pytest.fixture
def con(rcfg: AppConfig):
    with open_reader(Warehouse(rcfg.warehouse.root)) as c:
        yield c


def q(con, sql: str, *params) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def test_new_views_are_documented_and_their_data_tests_pass(con) -> None:
    documented = {m.name: [c.name for c in m.columns] for m in load_models()}
    for view in NEW_VIEWS:
        cols = [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()]
        assert cols == documented[view], view
    models = [m for m in load_models() if m.name in NEW_VIEWS]
    ran, failures = run_tests(con, models)
    assert failures == [] and ran == sum(len(compile_tests(m)) for m in models) > 80


def test_sentiment_distribution_bins(con) -> None:
    # t1 'all': p = 0.9, 0.2, 0.6, 0.8, 0.05 (float32: 0.9 must still land in bin 9)
    rows = q(
        con,
        "SELECT bin, n_reviews, n_predicted_positive, share FROM title_sentiment_distribution"
        " WHERE title_id = 't1' AND scope = 'all' ORDER BY bin",
    )
    assert [r[0] for r in rows] == list(range(10))
    assert {r[0]: r[1] for r in rows if r[1]} == {0: 1, 2: 1, 6: 1, 8: 1, 9: 1}
    assert sum(r[2] for r in rows) == 3 and sum(r[3] for r in rows) == pytest.approx(1.0)
    # r6 of t2 is not scored: its one scored review fills one bin of ten
    t2 = q(
        con,
        "SELECT count(*), sum(n_reviews) FROM title_sentiment_distribution"
        " WHERE title_id = 't2' AND scope = 'naver'",
    )
    assert t2 == [(10, 1)]


def test_disagreements_rank_the_confident_first(con) -> None:
    rows = q(
        con,
        "SELECT review_id, title_id, rating, sentiment, rank_in_title, confidence,"
        " text_raw FROM sentiment_rating_disagreements ORDER BY title_id, rank_in_title",
    )
    # r7: 10 stars read negative at p 0.05; r5: 9 stars read negative at 0.4; r9 (3 stars,
    # negative) and r3 (6 stars, no side) agree or take no side.
    assert [(r[0], r[1], r[4]) for r in rows] == [("r7", "t1", 1), ("r5", "t2", 1)]
    assert [r[5] for r in rows] == pytest.approx([0.9, 0.2], abs=1e-6)  # float32 p_positive
    assert rows[0][6] == fixture.SCRIPT_REVIEW


def test_run_stage_rows_and_quarantine_reasons(con) -> None:
    stages = q(
        con,
        "SELECT stage, status, command, rows_in, rows_rejected, reviews_per_s, device,"
        " seconds >= 0 FROM run_stage_rows ORDER BY started_at",
    )
    assert [s[0] for s in stages] == ["clean", "score", "views"]
    assert stages[0][3:5] == (4, 4) and stages[1][5:7] == (123.4, "cpu")
    assert all(s[1] == "succeeded" and s[2] == "run" and s[7] for s in stages)
    reasons = dict(q(con, "SELECT reason, n_rows FROM quarantine_reasons"))
    assert reasons == {"missing_text": 1, "not_korean": 2, "rating_out_of_range": 1}


def test_model_summary_and_metrics(con) -> None:
    summary = {
        r[0]: r[1:]
        for r in q(
            con,
            "SELECT version, is_current, primary_metric, primary_value, n_held_out"
            " FROM model_version_summary",
        )
    }
    assert summary[fx.SENT_V] == (True, "accuracy", 0.8125, 16)
    assert summary[fx.EMO_V] == (True, "macro_f1", 0.31, None)
    assert summary["sent-v0"] == (False, None, None, None)
    metrics = q(
        con,
        "SELECT version, metric, value, is_primary FROM model_metrics ORDER BY version, metric",
    )
    # numbers only: 'primary' (text) and per_label_f1 (an object) are not metrics rows
    assert metrics == [
        (fx.EMO_V, "macro_auroc", 0.58, False),
        (fx.EMO_V, "macro_f1", 0.31, True),
        (fx.SENT_V, "accuracy", 0.8125, True),
        (fx.SENT_V, "f1", 0.79, False),
        (fx.SENT_V, "n", 16.0, False),
    ]
