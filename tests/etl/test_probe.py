"""`kreview scrape --probe`: the pure row builders, on the fixtures of tests/etl/sources."""

from __future__ import annotations

import pytest

from etl.probe import ProbeReport, ProbeRow, scale_verdict
from etl.scrape_config import NaverConfig, ScrapeConfig, WatchaConfig
from etl.sources.naver import probe_rows as naver_rows
from etl.sources.watcha import probe_comment_rows as watcha_comment_rows
from tests.etl.sources.conftest import changed_naver_page, fixture_json, fixture_text

MAX_SHARE = ScrapeConfig().max_bad_rating_share
# What the browser finds for the selectors only it evaluates, on a page that has them.
BROWSER = {"recent_tab_selector": 1, "spoiler_switch_selector": 1}


def _by_key(rows: list[ProbeRow]) -> dict[str, ProbeRow]:
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys)), keys
    return {r.key.rsplit(".", 1)[1]: r for r in rows}


# --- Naver ------------------------------------------------------------------------------


def test_naver_rows_all_ok_on_the_fixture_page() -> None:
    cfg = NaverConfig()
    rows = naver_rows(fixture_text("naver_page.html"), cfg, MAX_SHARE, BROWSER)
    bad = [(r.key, r.verdict) for r in rows if not r.ok]
    assert not bad
    assert ProbeReport("naver", "기생충 (2019)", "http://x", rows).ok
    row = _by_key(rows)
    assert all(r.key.startswith("sources.naver.") for r in rows)
    # The 실관람객 pane's cards only (the 네티즌 pane's two are not counted).
    assert row["item_selector"].matched == 4
    assert row["review_id_attribute"].matched == 4
    assert row["review_id_attribute"].first == ("31000001", "31000002", "31000003")
    assert row["full_text_attribute"].matched == 4
    assert row["rating_selector"].verdict == "values 1-10 × 1 fit 0-10"
    assert row["more_button_selector"].matched == 1  # only the cut card shows 펼쳐보기
    assert row["spoiler_selector"].matched == 1
    assert row["likes_selector"].first[0] == "6,567"
    assert row["title_link_selector"].matched >= 1
    assert "count_selector" not in row  # switched off (None) by default: no row


def test_naver_rows_on_the_changed_page_fail_on_id_and_rating() -> None:
    rows = naver_rows(changed_naver_page(), NaverConfig(), MAX_SHARE, BROWSER)
    row = _by_key(rows)
    failing = {k for k, r in row.items() if not r.ok}
    assert failing == {"review_id_attribute", "rating_selector"}
    assert row["review_id_attribute"].matched == 0
    assert row["review_id_attribute"].value == "data-rating-id"
    assert row["rating_selector"].matched == 0
    assert "the title fails" in row["rating_selector"].verdict
    assert row["item_selector"].ok and row["item_selector"].matched == 4


def test_naver_rows_without_the_newest_first_tab_fail() -> None:
    rows = naver_rows(fixture_text("naver_page.html"), NaverConfig(), MAX_SHARE, {})
    row = _by_key(rows)
    assert not row["recent_tab_selector"].ok  # cards, but no 최신순: incremental stops break
    assert row["spoiler_switch_selector"].ok  # optional: hidden spoilers are counted


def test_naver_rows_with_a_wrong_scale_fail_the_rating_row() -> None:
    cards = "".join(
        f'<li class="area_card _item" data-rating-id="{v}"><div class="area_text_box">'
        f'<span class="blind">별점(10점 만점 중)</span>{v}</div>'
        f'<span class="desc _text">리뷰 {v}</span></li>'
        for v in range(1, 11)
    )
    html = (
        '<div class="_content" data-tab="audience"><div class="lego_review_list _scroller">'
        f"<ul>{cards}</ul></div></div>"
    )
    cfg = NaverConfig(rating_scale=2.0)
    row = _by_key(naver_rows(html, cfg, MAX_SHARE, BROWSER))["rating_selector"]
    assert not row.ok
    assert "sources.naver.rating_scale" in row.verdict and "rating scale mismatch" in row.verdict


def test_naver_rows_on_the_no_result_page() -> None:
    rows = naver_rows(fixture_text("naver_noresult.html"), NaverConfig(), MAX_SHARE, {})
    row = _by_key(rows)
    assert not row["scroll_container_selector"].ok and not row["item_selector"].ok
    # 최신순 matters only when there are cards to sort.
    assert row["recent_tab_selector"].ok


# --- the scale verdict ------------------------------------------------------------------


def test_scale_verdict_one_to_ten_with_scale_two_fails_naming_the_key() -> None:
    values = [float(v) for v in range(1, 11)]
    verdict, ok = scale_verdict(values, 2.0, "sources.watcha.rating_scale", MAX_SHARE)
    assert not ok
    assert "sources.watcha.rating_scale 2" in verdict
    assert "values up to 10" in verdict and "rating scale mismatch" in verdict
    assert "5 of 10 outside 0-10" in verdict


def test_scale_verdict_one_to_ten_with_scale_one_passes() -> None:
    values = [float(v) for v in range(1, 11)]
    assert scale_verdict(values, 1.0, "k", MAX_SHARE) == ("values 1-10 × 1 fit 0-10", True)


def test_scale_verdict_half_the_range_is_flagged() -> None:
    # Stars 0.5-5 stored as if 0-10: passes, but the operator is told to check the key.
    values = [v / 2 for v in range(1, 11)] * 2
    verdict, ok = scale_verdict(values, 1.0, "sources.watcha.rating_scale", MAX_SHARE)
    assert ok and "half" in verdict and "sources.watcha.rating_scale" in verdict


def test_scale_verdict_one_odd_value_passes() -> None:
    verdict, ok = scale_verdict([8.0] * 50 + [12.0], 1.0, "k", MAX_SHARE)
    assert ok, verdict


def test_scale_verdict_without_ratings_fails() -> None:
    verdict, ok = scale_verdict([], 1.0, "k", MAX_SHARE)
    assert not ok and "no ratings" in verdict


# --- Watcha -----------------------------------------------------------------------------


def test_watcha_comment_rows_ok_on_the_fixture_page() -> None:
    rows = watcha_comment_rows(fixture_json("watcha_comments_p1.json"), WatchaConfig(), MAX_SHARE)
    assert [(r.key, r.verdict) for r in rows if not r.ok] == []
    row = _by_key(rows)
    assert row["list_field"].first == ("9 comments",)
    assert row["rating_field"].verdict.startswith("values 1-10 × 1 fit 0-10")
    assert row["rating_field"].verdict.endswith("; 1 unrated")
    assert row["improper_field"].matched == 4
    assert row["next_field"].first[0].startswith("/api/contents/mXyz123/comments?")


def test_watcha_comment_rows_with_scale_two_fail_the_rating_row() -> None:
    cfg = WatchaConfig(rating_scale=2.0)
    rows = watcha_comment_rows(fixture_json("watcha_comments_p1.json"), cfg, MAX_SHARE)
    row = _by_key(rows)
    assert [r.key for r in rows if not r.ok] == ["sources.watcha.rating_field"]
    assert "rating scale mismatch" in row["rating_field"].verdict
    assert "sources.watcha.rating_scale 2" in row["rating_field"].verdict


def test_watcha_comment_rows_name_a_renamed_field() -> None:
    rows = watcha_comment_rows(
        fixture_json("watcha_comments_renamed.json"), WatchaConfig(), MAX_SHARE
    )
    row = _by_key(rows)
    assert [r.key for r in rows if not r.ok] == ["sources.watcha.text_field"]
    assert row["text_field"].matched == 0 and row["text_field"].value == "text"


@pytest.mark.parametrize("payload", [{"result": {}}, {"result": {"result": []}}, []])
def test_watcha_comment_rows_without_comments_fail(payload: object) -> None:
    row = _by_key(watcha_comment_rows(payload, WatchaConfig(), MAX_SHARE))["list_field"]
    assert not row.ok and "the title fails" in row.verdict
