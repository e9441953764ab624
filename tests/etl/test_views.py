from __future__ import annotations

import pytest

from core.catalog import open_reader
from jobs.config import AppConfig
from tests.etl import warehouse_fixture as fx


@pytest.fixture
def con(cfg: AppConfig):
    wh = fx.build(cfg.warehouse.root)
    with open_reader(wh) as c:
        yield c


def one(con, sql: str, *params):
    cur = con.execute(sql, list(params))
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    assert len(rows) == 1, rows
    return rows[0]


def test_title_scores_overall_by_hand(con) -> None:
    t1 = one(con, "SELECT * FROM title_scores WHERE title_id = 't1' AND scope = 'all'")
    assert (t1["n_reviews"], t1["n_scored"]) == (4, 4)
    assert t1["mean_rating"] == pytest.approx(6.5)
    assert t1["share_positive"] == pytest.approx(0.75)
    assert t1["mean_p_positive"] == pytest.approx(0.625)
    # signed points 0.7, -0.5, 0.3, 0.5 -> mean 0.25 -> ((0.25 + 1) / 2) * 10
    assert t1["title_score_0_10"] == pytest.approx(6.25)
    # prior: mean 10·p over all 5 scored reviews = 5.8; (10·5.8 + 9+2+6+8) / (10 + 4)
    assert t1["bayes_score"] == pytest.approx(83 / 14)
    # r3's 6 stars take no side; r1, r2, r4 agree
    assert t1["sentiment_rating_agreement"] == pytest.approx(1.0)

    t2 = one(con, "SELECT * FROM title_scores WHERE title_id = 't2' AND scope = 'all'")
    assert (t2["n_reviews"], t2["n_scored"]) == (2, 1)  # r6 not scored: counted, not guessed
    assert t2["title_score_0_10"] == pytest.approx(2.0)  # -0.6 -> 2.0
    assert t2["bayes_score"] == pytest.approx((58 + 4) / 11)
    assert t2["sentiment_rating_agreement"] == pytest.approx(0.0)  # 9 stars, negative


def test_title_scores_per_source(con) -> None:
    naver = one(con, "SELECT * FROM title_scores WHERE title_id = 't1' AND scope = 'naver'")
    assert naver["n_reviews"] == 3 and naver["mean_rating"] == pytest.approx(6.0)
    # naver prior: 10·p over r1, r2, r3, r5 = (9 + 2 + 6 + 4) / 4 = 5.25
    assert naver["bayes_score"] == pytest.approx((52.5 + 17) / 13)
    watcha = one(con, "SELECT * FROM title_scores WHERE title_id = 't1' AND scope = 'watcha'")
    assert watcha["title_score_0_10"] == pytest.approx(7.5)


def test_only_current_model_versions_are_read(con) -> None:
    n = one(con, "SELECT count(*) AS n FROM scored_reviews")["n"]
    assert n == 6  # one row per review although each has two score rows (v0 and v1)


def test_title_emotions(con) -> None:
    row = one(con, "SELECT * FROM title_emotions WHERE title_id = 't1' AND emotion = '감동/감탄'")
    assert row["mean_intensity"] == pytest.approx((0.8 + 0.01 + 0.3 + 0.5) / 4, abs=1e-6)
    assert row["top_share"] == pytest.approx(3 / 4)  # r1, r3, r4 have it among their top
    count = one(con, "SELECT count(*) AS n FROM title_emotions WHERE title_id = 't1'")["n"]
    assert count == 44


def test_title_clusters_daily_trend_and_source_comparison(con) -> None:
    c0 = one(con, "SELECT * FROM title_clusters WHERE title_id = 't1' AND cluster_id = 0")
    assert c0["size"] == 3 and c0["share"] == pytest.approx(0.75)
    assert c0["representative_text"] == "<b>r1</b> 리뷰" and c0["keywords"] == ["연기", "감동"]
    day1 = one(con, "SELECT * FROM daily_title_trend WHERE title_id = 't1' AND day = '2026-11-01'")
    assert day1["n_reviews"] == 2 and day1["title_score_0_10"] == pytest.approx(5.5)
    naver = one(con, "SELECT * FROM source_comparison WHERE title_id = 't1' AND source = 'naver'")
    watcha = one(con, "SELECT * FROM source_comparison WHERE title_id = 't1' AND source = 'watcha'")
    assert naver["n_reviews"] == 3 and watcha["n_reviews"] == 1
    # naver signed 0.7, -0.5, 0.3 -> 0.1667 -> 5.833; watcha 0.5 -> 7.5
    assert naver["title_score"] == pytest.approx((0.5 / 3 + 1) / 2 * 10)
    assert naver["title_score_gap"] == pytest.approx((0.5 / 3 + 1) / 2 * 10 - 7.5)
    assert watcha["title_score_gap"] == pytest.approx(-naver["title_score_gap"])
    # t2 has Naver reviews only: one row, and no other source to compare with.
    gap = one(con, "SELECT source, title_score_gap FROM source_comparison WHERE title_id = 't2'")
    assert gap == {"source": "naver", "title_score_gap": None}
