from __future__ import annotations

from datetime import UTC, datetime

import pytest

from etl.raw_schema import RAW_SCHEMA, author_hash, review_key
from etl.scrape_config import WatchaConfig
from etl.sources import MarkupChanged, Reject, check_health, watcha
from etl.titles import TitleEntry, title_id
from tests.etl.sources.conftest import SALT, fixture_json, record_context

CFG = WatchaConfig(api_base_url="http://api.test", web_base_url="http://web.test")


def _page(entry: TitleEntry, name: str = "watcha_comments_p1.json") -> watcha.CommentsPage:
    return watcha.parse_comments(
        fixture_json(name), CFG, record_context("watcha", entry, "mXyz123")
    )


def test_comments_become_raw_records(entry: TitleEntry) -> None:
    page = _page(entry)
    assert page.page.items == 7
    first, second, third = page.page.records
    assert set(first) == set(RAW_SCHEMA.names)
    assert first["review_id"] == "cAbc123XyZ1"
    assert first["review_key"] == review_key("watcha", "cAbc123XyZ1")
    assert (first["title_id"], first["title"], first["source_title_id"]) == (
        entry.title_id,
        "기생충",
        "mXyz123",
    )
    # Text exactly as sent: emoticons, emoji with skin tone, "6.3점", untouched.
    assert first["text"] == "감동ㅠㅠ 배우들 연기 미쳤다 👍🏻 6.3점"
    assert second["text"] == "  무서워요 ㅋㅋㅋㅋ\n근데 최고 👨‍👩‍👧 "
    assert first["likes"] == 12 and first["spoiler"] is False and second["spoiler"] is True
    assert first["written_at"] == datetime(2026, 10, 30, 14, 5, tzinfo=UTC)
    # A naive time is Korean time: 21:00 KST is 12:00 UTC.
    assert second["written_at"] == datetime(2026, 10, 29, 12, 0, tzinfo=UTC)
    assert third["written_at"] == datetime(2026, 10, 28, 0, 0, tzinfo=UTC)
    assert first["url"] == "http://web.test/ko-KR/comments/cAbc123XyZ1"
    assert first["run_id"] == "run-1"


def test_rating_stars_doubled_to_ten_point_scale(entry: TitleEntry) -> None:
    first, second, third = _page(entry).page.records
    assert (first["rating"], second["rating"], third["rating"]) == (9.0, 1.0, None)


def test_author_is_salted_hash_never_the_name(entry: TitleEntry) -> None:
    records = _page(entry).page.records
    assert records[0]["author_hash"] == author_hash(SALT, "watcha", "uAAAA1111")
    flat = repr(records)
    for name in ("uAAAA1111", "영화광92", "팝콘러버"):
        assert name not in flat


def test_unparseable_items_are_rejects_with_reason_and_raw(entry: TitleEntry) -> None:
    rejects = _page(entry).page.rejects
    by_reason = {r.reason: r for r in rejects}
    assert set(by_reason) == {"bad_rating", "missing_text", "bad_date", "not_an_object"}
    assert by_reason["bad_rating"].review_id == "cBADRATING01"
    assert "별로" in by_reason["bad_rating"].raw
    assert by_reason["missing_text"].selector == "text"
    assert by_reason["bad_date"].selector == "created_at"
    assert by_reason["not_an_object"].raw == '"not an object"'


def test_next_uri_and_last_page(entry: TitleEntry) -> None:
    assert _page(entry).next_uri == (
        "/api/contents/mXyz123/comments?filter=all&order=recent&page=2&size=20"
    )
    assert _page(entry, "watcha_comments_last.json").next_uri is None


def test_rating_out_of_range_rejected(entry: TitleEntry) -> None:
    item = {"code": "c1", "text": "x", "user_content_action": {"rating": 7}}
    out = watcha.parse_comment(item, CFG, record_context("watcha", entry, "m"))
    assert isinstance(out, Reject) and out.reason == "bad_rating"


def test_renamed_text_field_fails_naming_the_field(entry: TitleEntry) -> None:
    page = _page(entry, "watcha_comments_renamed.json").page
    assert not page.records and len(page.rejects) == 2
    with pytest.raises(MarkupChanged, match=r"watcha: selector 'text'"):
        check_health("watcha", page, None, CFG.list_field)


def test_missing_list_fails_naming_the_field(entry: TitleEntry) -> None:
    ctx = record_context("watcha", entry, "m")
    with pytest.raises(MarkupChanged, match=r"watcha: selector 'result.result'"):
        watcha.parse_comments({"result": {"comments": []}}, CFG, ctx)


def test_empty_page_is_not_an_error(entry: TitleEntry) -> None:
    page = watcha.parse_comments(
        {"result": {"result": [], "next_uri": None}}, CFG, record_context("watcha", entry, "m")
    )
    check_health("watcha", page.page, None, CFG.list_field)  # no reviews is not a failure
    assert page.page.records == [] and page.next_uri is None


def test_search_picks_exact_name_and_year() -> None:
    hits = watcha.parse_search(fixture_json("watcha_search.json"), CFG)
    assert len(hits) == 4  # the entry without a code is skipped
    old = TitleEntry(title_id("올드보이", 2003), "올드보이", 2003)
    assert watcha.pick_title(hits, old).content_id == "mOld2003"
    # Without a year the first exact match wins; punctuation and spaces do not matter.
    assert watcha.pick_title(hits, TitleEntry("t", "올드보이")).content_id == "mOld2013"
    assert watcha.pick_title(hits, TitleEntry("t", "어벤져스 엔드게임")).content_id == "mAvg0001"
    # "기생충 (리마스터)" is another film: no loose match.
    assert watcha.pick_title(hits, TitleEntry("t", "기생충")) is None


def test_search_payload_without_list_is_markup_change() -> None:
    with pytest.raises(MarkupChanged, match=r"'result\.movies'"):
        watcha.parse_search({"result": {}}, CFG)


def test_urls_from_config() -> None:
    assert watcha.search_url(CFG, "올드 보이") == (
        "http://api.test/api/searches?query=%EC%98%AC%EB%93%9C%20%EB%B3%B4%EC%9D%B4"
    )
    assert watcha.comments_url(CFG, "mX", 3) == (
        "http://api.test/api/contents/mX/comments?filter=all&order=recent&page=3&size=20"
    )


def test_parse_written_at_rejects_non_strings() -> None:
    assert watcha.parse_written_at(None) is None
    with pytest.raises(ValueError):
        watcha.parse_written_at(12345)
    assert watcha.parse_written_at("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
