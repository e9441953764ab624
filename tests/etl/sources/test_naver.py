from __future__ import annotations

from datetime import UTC, datetime

import pytest

from etl.raw_schema import RAW_SCHEMA, author_hash
from etl.scrape_config import NaverConfig
from etl.sources import MarkupChanged, check_health, naver
from etl.titles import TitleEntry, title_id
from tests.etl.sources.conftest import SALT, SCRAPED_AT, fixture_text, record_context

CFG = NaverConfig(base_url="http://naver.test")
URL = "http://naver.test/search.naver?query=x"


def _parse(entry: TitleEntry, name: str = "naver_page.html") -> naver.ParsedPage:
    return naver.parse_cards(fixture_text(name), CFG, record_context("naver", entry, "229506"), URL)


def test_search_page_facts() -> None:
    info = naver.parse_search_page(fixture_text("naver_page.html"), CFG)
    assert info.found and info.has_container
    assert info.source_title_id == "229506"  # from the title link's os= parameter
    assert info.promised == 1234  # "관람평 1,234건"
    assert info.cards == 5


def test_no_result_page_is_not_found() -> None:
    info = naver.parse_search_page(fixture_text("naver_noresult.html"), CFG)
    assert not info.found and info.promised is None and info.cards == 0


def test_cards_become_raw_records(entry: TitleEntry) -> None:
    page = _parse(entry)
    assert page.items == 5
    first, second = page.records
    assert set(first) == set(RAW_SCHEMA.names)
    assert first["review_id"] == "2295060000001"
    # <br> is a line break as shown; entities decoded; emoji kept.
    assert first["text"] == "감동ㅠㅠ\n두 번 봤어요 & 또 볼래요 😭"
    assert first["rating"] == 10.0 and second["rating"] == 2.0
    assert first["likes"] == 1024 and second["likes"] is None
    assert first["spoiler"] is False and second["spoiler"] is True
    # 2026.10.31. 13:45 KST
    assert first["written_at"] == datetime(2026, 10, 31, 4, 45, tzinfo=UTC)
    # "3시간 전" counts back from when the page was scraped.
    assert second["written_at"] == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    assert first["url"] == URL and first["source_title_id"] == "229506"


def test_author_hashed(entry: TitleEntry) -> None:
    first = _parse(entry).records[0]
    assert first["author_hash"] == author_hash(SALT, "naver", "영화광****")
    assert "영화광" not in repr(_parse(entry).records)


def test_rejects_carry_reason_and_snippet(entry: TitleEntry) -> None:
    rejects = {r.reason: r for r in _parse(entry).rejects}
    assert set(rejects) == {"missing_id", "bad_rating", "bad_date"}
    assert "아이디 없는 리뷰" in rejects["missing_id"].raw
    assert rejects["bad_rating"].review_id == "2295060000004"
    assert rejects["bad_rating"].selector == CFG.rating_selector
    assert rejects["bad_date"].detail.startswith("unknown date format")


def test_changed_markup_fails_naming_source_and_selector(entry: TitleEntry) -> None:
    html = fixture_text("naver_page_changed.html")
    info = naver.parse_search_page(html, CFG)
    assert info.promised == 153 and info.cards == 0
    page = naver.parse_cards(html, CFG, record_context("naver", entry, "1"), URL)
    with pytest.raises(MarkupChanged) as err:
        check_health("naver", page, info.promised, CFG.item_selector)
    assert str(err.value).startswith("naver: selector 'li.area_card._item' matched nothing")
    assert err.value.source == "naver" and err.value.selector == CFG.item_selector


def test_text_selector_change_named(entry: TitleEntry) -> None:
    html = fixture_text("naver_page.html").replace("desc _text", "desc_v2")
    page = naver.parse_cards(html, CFG, record_context("naver", entry, "1"), URL)
    with pytest.raises(MarkupChanged, match=r"naver: selector 'span.desc._text'"):
        check_health("naver", page, 1234, CFG.item_selector)


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ("2026.10.31. 13:45", datetime(2026, 10, 31, 4, 45, tzinfo=UTC)),
        ("2026.10.31.", datetime(2026, 10, 30, 15, 0, tzinfo=UTC)),
        ("26.01.02.", datetime(2026, 1, 1, 15, 0, tzinfo=UTC)),
        ("15분 전", datetime(2026, 11, 1, 2, 45, tzinfo=UTC)),
        ("2일 전", datetime(2026, 10, 30, 3, 0, tzinfo=UTC)),
        ("어제", datetime(2026, 10, 31, 3, 0, tzinfo=UTC)),
    ],
)
def test_dates(shown: str, expected: datetime) -> None:
    assert naver.parse_naver_date(shown, SCRAPED_AT) == expected


def test_bad_date_raises() -> None:
    with pytest.raises(ValueError):
        naver.parse_naver_date("지난주", SCRAPED_AT)


def test_search_url_uses_year_template_when_given() -> None:
    plain = TitleEntry(title_id("기생충"), "기생충")
    dated = TitleEntry(title_id("올드보이", 2003), "올드보이", 2003)
    assert naver.search_query(CFG, plain) == "영화 기생충 관람평"
    assert naver.search_query(CFG, dated) == "영화 올드보이 2003 관람평"
    assert naver.search_url(CFG, plain).startswith("http://naver.test/search.naver?query=")
    assert "%EA%B8%B0%EC%83%9D%EC%B6%A9" in naver.search_url(CFG, plain)
