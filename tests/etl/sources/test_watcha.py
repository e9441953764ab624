from __future__ import annotations

from datetime import UTC, datetime

import pytest

from etl.raw_schema import RAW_SCHEMA, author_hash, review_key
from etl.scrape_config import ScrapeConfig, WatchaConfig
from etl.sources import (
    MarkupChanged,
    RatingScaleMismatch,
    RatingTally,
    Reject,
    check_health,
    watcha,
)
from etl.titles import TitleEntry, title_id
from tests.etl.sources.conftest import SALT, fixture_json, record_context

CFG = WatchaConfig(api_base_url="http://api.test", web_base_url="http://web.test")
MAX_SHARE = ScrapeConfig().max_bad_rating_share
SCALE_KEY = "sources.watcha.rating_scale"


def _page(
    entry: TitleEntry, name: str = "watcha_comments_p1.json", cfg: WatchaConfig = CFG
) -> watcha.CommentsPage:
    return watcha.parse_comments(
        fixture_json(name), cfg, record_context("watcha", entry, "mXyz123")
    )


def _tally(values: list[float], scale: float) -> RatingTally:
    tally = RatingTally()
    for value in values:
        tally.add(value, scale)
    return tally


# --- comments ---------------------------------------------------------------------------


def test_comments_become_raw_records(entry: TitleEntry) -> None:
    page = _page(entry)
    assert page.page.items == 9
    first, second, third, fourth = page.page.records
    assert set(first) == set(RAW_SCHEMA.names)
    assert [r["review_id"] for r in page.page.records] == [
        "cAbc123XyZ1",
        "cAbc123XyZ2",
        "cAbc123XyZ3",
        "cAbc123XyZ4",
    ]
    assert first["review_key"] == review_key("watcha", "cAbc123XyZ1")
    assert (first["title_id"], first["title"], first["source_title_id"]) == (
        entry.title_id,
        "기생충",
        "mXyz123",
    )
    # Text exactly as sent: emoticons, emoji with skin tone, "6.3점", untouched.
    assert first["text"] == "감동ㅠㅠ 배우들 연기 미쳤다 👍🏻 6.3점"
    assert second["text"] == "  무서워요 ㅋㅋㅋㅋ\n근데 최고 👨‍👩‍👧 "
    assert [r["likes"] for r in page.page.records] == [12, 0, 3, 988]
    assert [r["spoiler"] for r in page.page.records] == [False, True, False, False]
    # created_at carries +09:00: 23:05 KST is 14:05 UTC.
    assert first["written_at"] == datetime(2026, 10, 30, 14, 5, tzinfo=UTC)
    # A naive time is Korean time: 21:00 KST is 12:00 UTC.
    assert second["written_at"] == datetime(2026, 10, 29, 12, 0, tzinfo=UTC)
    assert third["written_at"] == datetime(2026, 10, 28, 0, 0, tzinfo=UTC)
    assert fourth["written_at"] == datetime(2026, 10, 27, 3, 30, tzinfo=UTC)
    assert first["url"] == "http://web.test/ko/comments/cAbc123XyZ1"
    assert first["run_id"] == "run-1"


def test_ratings_stored_as_the_api_gives_them(entry: TitleEntry) -> None:
    # 1-10 (10 = 5 stars) is already raw's 0-10: stored as-is; null = no rating.
    ratings = [r["rating"] for r in _page(entry).page.records]
    assert ratings == [9.0, 1.0, None, 10.0]


def test_improper_flag_kept(entry: TitleEntry) -> None:
    records = _page(entry).page.records
    assert [r["improper"] for r in records] == [False, False, False, True]
    assert records[3]["review_id"] == "cAbc123XyZ4"


def test_raw_ratings_are_the_numbers_as_given(entry: TitleEntry) -> None:
    # Of every item with a number (rejected ones too: the scale check wants all evidence);
    # not the null, not "별로", not the missing one.
    assert _page(entry).page.raw_ratings == [9.0, 1.0, 10.0, 6.0, 8.0]


def test_author_is_salted_hash_never_the_name(entry: TitleEntry) -> None:
    records = _page(entry).page.records
    assert records[0]["author_hash"] == author_hash(SALT, "watcha", "uAAAA1111")
    flat = repr(records)
    for name in ("uAAAA1111", "영화광92", "팝콘러버"):
        assert name not in flat


def test_unparseable_items_are_rejects_with_reason_and_raw(entry: TitleEntry) -> None:
    rejects = _page(entry).page.rejects
    by_reason = {r.reason: r for r in rejects}
    assert len(rejects) == 5
    assert set(by_reason) == {
        "bad_rating",
        "missing_text",
        "bad_date",
        "missing_rating",
        "not_an_object",
    }
    assert by_reason["bad_rating"].review_id == "cBADRATING01"
    assert "별로" in by_reason["bad_rating"].raw
    assert by_reason["missing_text"].selector == "text"
    assert by_reason["bad_date"].selector == "created_at"
    assert by_reason["missing_rating"].review_id == "cNORATING001"
    assert by_reason["missing_rating"].selector == "user_content_action.rating"
    assert by_reason["not_an_object"].raw == '"not an object"'


def test_missing_rating_field_is_a_reject_but_null_is_unrated(entry: TitleEntry) -> None:
    ctx = record_context("watcha", entry, "m")
    base = {"code": "c1", "text": "x", "created_at": "2026-10-30T23:05:00+09:00"}
    unrated = watcha.parse_comment({**base, "user_content_action": {"rating": None}}, CFG, ctx)
    assert not isinstance(unrated, Reject) and unrated["rating"] is None
    for item in (
        {**base, "user_content_action": {"status": "watched"}},
        {**base, "user_content_action": None},
        base,
    ):
        out = watcha.parse_comment(item, CFG, ctx)
        assert isinstance(out, Reject), item
        assert out.reason == "missing_rating" and out.selector == CFG.rating_field


def test_next_uri_and_last_page(entry: TitleEntry) -> None:
    assert _page(entry).next_uri == (
        "/api/contents/mXyz123/comments?filter=all&order=recent&page=2&size=20"
    )
    last = _page(entry, "watcha_comments_last.json")
    assert last.next_uri is None
    assert [r["rating"] for r in last.page.records] == [5.0]


@pytest.mark.parametrize("rating", [11, 20, -1])
def test_rating_out_of_range_rejected(entry: TitleEntry, rating: int) -> None:
    item = {"code": "c1", "text": "x", "user_content_action": {"rating": rating}}
    out = watcha.parse_comment(item, CFG, record_context("watcha", entry, "m"))
    assert isinstance(out, Reject) and out.reason == "bad_rating"
    assert out.selector == CFG.rating_field


@pytest.mark.parametrize("rating", [1, 10])
def test_rating_ends_of_the_scale_kept(entry: TitleEntry, rating: int) -> None:
    item = {"code": "c1", "text": "x", "user_content_action": {"rating": rating}}
    out = watcha.parse_comment(item, CFG, record_context("watcha", entry, "m"))
    assert not isinstance(out, Reject) and out["rating"] == float(rating)


def test_renamed_text_field_fails_naming_the_field(entry: TitleEntry) -> None:
    page = _page(entry, "watcha_comments_renamed.json").page
    assert not page.records and len(page.rejects) == 2
    assert {r.reason for r in page.rejects} == {"missing_text"}
    with pytest.raises(MarkupChanged, match=r"watcha: selector 'text'"):
        check_health("watcha", page, None, CFG.list_field)


def test_missing_list_fails_naming_the_field(entry: TitleEntry) -> None:
    ctx = record_context("watcha", entry, "m")
    with pytest.raises(MarkupChanged, match=r"watcha: selector 'result.result'"):
        watcha.parse_comments({"result": {"comments": []}}, CFG, ctx)


def test_empty_page_is_not_an_error(entry: TitleEntry) -> None:
    page = watcha.parse_comments(
        {"result": {"prev_uri": None, "result": [], "next_uri": None}},
        CFG,
        record_context("watcha", entry, "m"),
    )
    check_health("watcha", page.page, None, CFG.list_field)  # no reviews is not a failure
    assert page.page.records == [] and page.next_uri is None


# --- the rating scale -------------------------------------------------------------------


def test_wrong_scale_fails_the_title_with_a_clear_message(entry: TitleEntry) -> None:
    # rating_scale 2 (as if the API gave 0.5-5 stars) on the real 1-10 values.
    cfg = CFG.model_copy(update={"rating_scale": 2.0})
    page = _page(entry, cfg=cfg).page
    # Item by item, the ratings of 6 or more would be rejected and the rest doubled...
    assert [r["rating"] for r in page.records] == [2.0, None]
    bad = {r.review_id for r in page.rejects if r.reason == "bad_rating"}
    assert {"cAbc123XyZ1", "cAbc123XyZ4"} <= bad  # the 9 and the 10
    # ...but the title's check fails it as a whole instead.
    tally = _tally(page.raw_ratings, cfg.rating_scale)
    with pytest.raises(RatingScaleMismatch) as err:
        tally.check("watcha", SCALE_KEY, cfg.rating_scale, MAX_SHARE)
    assert err.value.source == "watcha"
    assert "rating scale mismatch: saw values up to 10 with sources.watcha.rating_scale 2" in str(
        err.value
    )


def test_one_to_ten_with_scale_two_is_a_mismatch() -> None:
    tally = _tally([float(v) for v in range(1, 11)] * 3, 2.0)
    assert (tally.rated, tally.out_of_range, tally.seen_max) == (30, 15, 10.0)
    with pytest.raises(
        RatingScaleMismatch,
        match=r"^watcha: rating scale mismatch: saw values up to 10 with "
        r"sources\.watcha\.rating_scale 2 \(15 of 30 ratings outside 0-10 after ×2",
    ):
        tally.check("watcha", SCALE_KEY, 2.0, MAX_SHARE)


def test_one_to_ten_with_the_default_scale_passes() -> None:
    scale = WatchaConfig().rating_scale
    assert scale == 1.0  # the contract: the API already gives 1-10
    _tally([float(v) for v in range(1, 11)] * 3, scale).check("watcha", SCALE_KEY, scale, 0.0)


def test_a_single_odd_rating_does_not_fail_the_title() -> None:
    # One out-of-range item among many is a per-item reject, not a wrong scale.
    tally = _tally([8.0] * 99 + [12.0], 1.0)
    assert tally.out_of_range == 1
    tally.check("watcha", SCALE_KEY, 1.0, MAX_SHARE)
    # On a small title too: fewer than 3 odd items never trip it, whatever their share.
    _tally([12.0, 15.0], 1.0).check("watcha", SCALE_KEY, 1.0, MAX_SHARE)


def test_scale_check_trips_above_the_share_only() -> None:
    # max share 5%: 5 of 100 is at the share, 6 of 100 above it.
    _tally([8.0] * 95 + [12.0] * 5, 1.0).check("watcha", SCALE_KEY, 1.0, 0.05)
    with pytest.raises(RatingScaleMismatch, match="saw values up to 12 with"):
        _tally([8.0] * 94 + [12.0] * 6, 1.0).check("watcha", SCALE_KEY, 1.0, 0.05)


# --- the session: headers and URLs -------------------------------------------------------


def test_api_headers_carry_the_device_id_from_the_cookie() -> None:
    cfg = WatchaConfig()
    headers = watcha.api_headers(cfg, {"_c_pdi": "web-Ab12Cd34Ef", "other": "x"})
    assert headers["x-frograms-device-identifier"] == "web-Ab12Cd34Ef"
    assert headers["x-frograms-client"] == "Galaxy-Web-App"
    assert headers["x-frograms-app-code"] == "Galaxy"
    assert headers["accept"] == "application/vnd.frograms+json;version=2.1.0"
    assert not any(k.startswith("x-watcha") for k in headers)  # the old client's headers
    # The configured headers are copied, not changed.
    assert cfg.device_header not in cfg.api_headers


def test_device_header_template_applied() -> None:
    cfg = WatchaConfig(device_header_template="web-{cookie}")
    headers = watcha.api_headers(cfg, {"_c_pdi": "Ab12"})
    assert headers["x-frograms-device-identifier"] == "web-Ab12"


@pytest.mark.parametrize("cookies", [{}, {"_c_pdi": ""}, {"_c_pd": "web-x"}])
def test_api_headers_without_the_device_cookie_name_it(cookies: dict[str, str]) -> None:
    with pytest.raises(MarkupChanged) as err:
        watcha.api_headers(WatchaConfig(), cookies)
    assert err.value.source == "watcha" and err.value.selector == "_c_pdi"
    assert "'_c_pdi'" in str(err.value)


def test_urls_from_config() -> None:
    assert watcha.search_url(CFG, "올드 보이") == (
        "http://api.test/api/searches?query=%EC%98%AC%EB%93%9C%20%EB%B3%B4%EC%9D%B4"
    )
    assert watcha.comments_url(CFG, "mX", 3) == (
        "http://api.test/api/contents/mX/comments?filter=all&order=recent&page=3&size=20"
    )
    assert watcha.comment_url(CFG, "cAbc") == "http://web.test/ko/comments/cAbc"
    assert watcha.session_page_url(CFG) == "http://web.test/ko"
    assert watcha.content_page_url(CFG, "mX") == "http://web.test/ko/contents/mX"


def test_default_urls_are_same_origin_with_the_web_app() -> None:
    cfg = WatchaConfig()
    assert watcha.search_url(cfg, "x") == "https://pedia.watcha.com/api/searches?query=x"
    assert watcha.comments_url(cfg, "mX").startswith("https://pedia.watcha.com/api/contents/mX/")
    assert watcha.content_page_url(cfg, "mX") == "https://pedia.watcha.com/ko/contents/mX"


# --- search -----------------------------------------------------------------------------


def test_search_picks_exact_name_and_year() -> None:
    hits = watcha.parse_search(fixture_json("watcha_search.json"), CFG)
    assert len(hits) == 4  # the entry without a code is skipped
    old = TitleEntry(title_id("올드보이", 2003), "올드보이", 2003)
    assert watcha.pick_title(hits, old).content_id == "mOld2003"
    # Without a year the first exact match wins; punctuation and spaces do not matter.
    assert watcha.pick_title(hits, TitleEntry("t", "올드보이")).content_id == "mOld2013"
    assert watcha.pick_title(hits, TitleEntry("t", "어벤져스 엔드게임")).content_id == "mAvg0001"
    # "기생충 (리마스터)" is another film, and the series 「기생충」 (tv_seasons, also in
    # top_results) is not a film: no loose match.
    assert watcha.pick_title(hits, TitleEntry("t", "기생충", 2019)) is None
    assert watcha.pick_title(hits, TitleEntry("t", "기생충")) is None


def test_search_payload_without_list_is_markup_change() -> None:
    with pytest.raises(MarkupChanged, match=r"'result\.movies'"):
        watcha.parse_search({"result": {"top_results": [], "tv_seasons": []}}, CFG)


def test_parse_written_at_forms() -> None:
    assert watcha.parse_written_at(None) is None
    with pytest.raises(ValueError):
        watcha.parse_written_at(12345)
    assert watcha.parse_written_at("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert watcha.parse_written_at("2026-01-01T09:00:00+09:00") == datetime(2026, 1, 1, tzinfo=UTC)
    assert watcha.parse_written_at("2026-01-01T09:00:00") == datetime(2026, 1, 1, tzinfo=UTC)
