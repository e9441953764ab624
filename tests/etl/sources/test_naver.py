from __future__ import annotations

from datetime import UTC, datetime

import pytest
from selectolax.lexbor import LexborHTMLParser

from etl.raw_schema import RAW_SCHEMA, author_hash
from etl.scrape_config import NaverConfig, ScrapeConfig
from etl.sources import (
    MarkupChanged,
    RatingScaleMismatch,
    RatingTally,
    Reject,
    check_health,
    naver,
)
from etl.titles import TitleEntry, title_id
from tests.etl.sources.conftest import (
    SALT,
    SCRAPED_AT,
    changed_naver_page,
    fixture_text,
    record_context,
)

CFG = NaverConfig(base_url="http://naver.test")
URL = "http://naver.test/search.naver?where=nexearch&query=x"
MAX_SHARE = ScrapeConfig().max_bad_rating_share
LONG_TEXT = (
    "처음엔 반지하 가족의 코미디인 줄 알았는데 중반부터 완전히 다른 영화가 된다. "
    "계단과 비, 냄새라는 소재로 계급을 이렇게까지 보여줄 수 있다니 놀랍다. "
    "두 번째 볼 때 복선이 하나하나 보여서 더 좋았고, "
    "마지막 장면은 여운이 너무 길다. 강력 추천합니다!"
)
LONG_SHOWN = LONG_TEXT[: LONG_TEXT.index("하나하나") + 1] + "..."  # as the card shows it


def _parse(entry: TitleEntry, html: str | None = None, cfg: NaverConfig = CFG) -> naver.ParsedPage:
    html = fixture_text("naver_page.html") if html is None else html
    return naver.parse_cards(html, cfg, record_context("naver", entry, "229506"), URL)


def _with_bad_cards() -> str:
    """The fixture page with three odd cards appended to its list."""
    page = fixture_text("naver_page.html")
    end = '</ul>\n   </div>\n   <div class="api_loading'
    assert page.count(end) == 1
    return page.replace(end, fixture_text("naver_bad_cards.html") + end)


def _card_page(*cards: str) -> str:
    """Cards inside the 실관람객 pane's list, as the item selector expects them."""
    return (
        '<div class="_content" data-tab="audience"><div class="lego_review_list _scroller">'
        '<ul class="area_card_outer _item_wrapper">' + "".join(cards) + "</ul></div></div>"
    )


def _card(
    rid: str = "41000001",
    *,
    title: str | None = None,
    shown: str = "짧은 리뷰",
    more: str | None = None,
    rating: str | None = "8",
) -> str:
    """One card like the site's: ``title`` for data-report-title (None: left out), ``more``
    for the 펼쳐보기 button's style (None: no button)."""
    attrs = f' data-rating-id="{rid}"' if rid else ""
    if title is not None:
        attrs += f' data-report-title="{title}"'
    label = '<span class="blind">별점(10점 만점 중)</span>'
    stars = "" if rating is None else f'<div class="area_text_box">{label}{rating}</div>'
    button = (
        ""
        if more is None
        else f'<button type="button" class="story_more _tail" style="{more}">'
        '<span class="blind">펼쳐보기</span></button>'
    )
    return (
        f'<li class="area_card _item"{attrs}><div class="area_title_box">{stars}</div>'
        f'<div class="area_review_content"><span class="desc _text">{shown}</span>{button}</div>'
        '<dl class="cm_upload_info"><dd class="this_text_stress _btn_writer">abcd****</dd>'
        '<dd class="this_text_normal">2026.10.31. 13:45</dd></dl></li>'
    )


def _one(entry: TitleEntry, card: str, cfg: NaverConfig = CFG) -> naver.RawRecord | Reject:
    node = LexborHTMLParser(_card_page(card)).css_first(cfg.item_selector)
    assert node is not None
    return naver.parse_card(node, cfg, record_context("naver", entry, "1"), URL)


# --- the search-result page -------------------------------------------------------------


def test_search_page_facts() -> None:
    info = naver.parse_search_page(fixture_text("naver_page.html"), CFG)
    assert info.found and info.has_container
    assert info.source_title_id == "229506"  # from the tab links' os= parameter
    assert info.promised is None  # the page states no review count
    # The 실관람객 pane's cards only: the hidden 네티즌 pane's two are not counted.
    assert info.cards == 4 and info.box_items == 4


def test_hidden_netizen_pane_is_never_collected(entry: TitleEntry) -> None:
    html = fixture_text("naver_page.html")
    assert 'data-rating-id="36000001"' in html  # the 네티즌 pane's cards are on the page
    ids = {r["review_id"] for r in _parse(entry, html).records}
    assert ids == {"31000001", "31000002", "31000003", "31000004"}


def test_no_result_page_is_not_found() -> None:
    info = naver.parse_search_page(fixture_text("naver_noresult.html"), CFG)
    assert not info.found and info.promised is None and info.cards == 0


def test_cards_become_raw_records(entry: TitleEntry) -> None:
    page = _parse(entry)
    assert page.items == 4 and not page.rejects
    first, _spoiler, long, escaped = page.records
    assert set(first) == set(RAW_SCHEMA.names)
    ids = [r["review_id"] for r in page.records]
    assert ids == ["31000001", "31000002", "31000003", "31000004"]  # data-rating-id
    # Entities decoded, emoji kept, the attribute's trailing space not part of the text.
    assert first["text"] == "감동ㅠㅠ 두 번 봤어요 & 또 볼래요 😭"
    assert escaped["text"] == "<살인의 추억> 이후 최고"
    # 1-10 as the card shows it, stored as-is (rating_scale 1).
    assert [r["rating"] for r in page.records] == [10.0, 2.0, 7.0, 1.0]
    # The upvote count (with its thousands comma), never the downvote count beside it.
    assert [r["likes"] for r in page.records] == [6567, 0, 13265, 5]
    assert [r["spoiler"] for r in page.records] == [False, True, False, False]
    # 2026.10.31. 13:45 KST; the date, not the 신고 link in the next dd.this_text_normal.
    assert first["written_at"] == datetime(2026, 10, 31, 4, 45, tzinfo=UTC)
    assert long["written_at"] == datetime(2026, 10, 30, 14, 57, tzinfo=UTC)
    assert first["url"] == URL and first["source_title_id"] == "229506"
    assert first["improper"] is None  # Naver has no such flag


def test_long_card_stored_with_its_full_text(entry: TitleEntry) -> None:
    long = _parse(entry).records[2]
    assert long["review_id"] == "31000003"
    # The card shows it cut, with 펼쳐보기; data-report-title has all of it.
    assert LONG_SHOWN in fixture_text("naver_page.html")
    assert long["text"] == LONG_TEXT
    for rec in _parse(entry).records:
        assert not rec["text"].endswith(("...", "…")), rec["review_id"]


def test_spoiler_card_text_read_although_hidden(entry: TitleEntry) -> None:
    spoiler = _parse(entry).records[1]
    assert spoiler["spoiler"] is True
    assert spoiler["text"] == "결말이 허무해요 😬 6.3점"


def test_raw_ratings_as_the_cards_show_them(entry: TitleEntry) -> None:
    assert _parse(entry).raw_ratings == [10.0, 2.0, 7.0, 1.0]


def test_author_hashed(entry: TitleEntry) -> None:
    records = _parse(entry).records
    assert records[0]["author_hash"] == author_hash(SALT, "naver", "영화광****")
    assert "영화광" not in repr(records) and "r__a" not in repr(records)


def test_rejects_carry_reason_and_snippet(entry: TitleEntry) -> None:
    page = _parse(entry, _with_bad_cards())
    assert page.items == 7 and len(page.records) == 4
    rejects = {r.reason: r for r in page.rejects}
    assert set(rejects) == {"missing_id", "bad_rating", "bad_date"}
    assert "아이디 없는 리뷰" in rejects["missing_id"].raw
    assert rejects["missing_id"].selector == CFG.review_id_attribute
    assert rejects["bad_rating"].review_id == "39000002"
    assert rejects["bad_rating"].selector == CFG.rating_selector
    assert rejects["bad_date"].detail.startswith("unknown date format")
    # A few odd cards do not fail the page.
    naver.check_first_cards(page, CFG)


# --- texts: full, shown, cut ------------------------------------------------------------


def test_full_text_attribute_wins_over_the_cut_shown_text(entry: TitleEntry) -> None:
    card = _card(title=LONG_TEXT + " ", shown=LONG_SHOWN, more="")
    out = _one(entry, card)
    assert not isinstance(out, Reject)
    assert out["text"] == LONG_TEXT


def test_cut_text_without_full_text_is_rejected_truncated(entry: TitleEntry) -> None:
    out = _one(entry, _card(shown=LONG_TEXT[:97] + " ...", more=""))
    assert isinstance(out, Reject)
    assert out.reason == "truncated_text" and out.review_id == "41000001"
    assert out.selector == CFG.more_button_selector


def test_cut_with_unicode_ellipsis_also_rejected(entry: TitleEntry) -> None:
    out = _one(entry, _card(shown=LONG_TEXT[:60] + "…", more=""))
    assert isinstance(out, Reject) and out.reason == "truncated_text"


def test_text_ending_in_dots_with_hidden_more_button_is_kept(entry: TitleEntry) -> None:
    # The writer's own "..." on a text the page did not cut (펼쳐보기 hidden).
    out = _one(entry, _card(shown="그냥 그랬다...", more="display: none"))
    assert not isinstance(out, Reject)
    assert out["text"] == "그냥 그랬다..."


def test_shown_text_used_when_the_card_has_no_full_text(entry: TitleEntry) -> None:
    # No data-report-title and no 펼쳐보기: the shown text is the whole text; <br> is a line
    # break as shown.
    out = _one(entry, _card(shown="감동ㅠㅠ<br>두 번 봤어요 &amp; 또 볼래요"))
    assert not isinstance(out, Reject)
    assert out["text"] == "감동ㅠㅠ\n두 번 봤어요 & 또 볼래요"


def test_card_text_reports_where_the_text_came_from() -> None:
    def origin(card: str) -> tuple[str | None, str]:
        node = LexborHTMLParser(_card_page(card)).css_first(CFG.item_selector)
        assert node is not None
        return naver.card_text(node, CFG)

    assert origin(_card(title="전부 ", shown="전 ...", more="")) == ("전부", "data-report-title")
    assert origin(_card(shown="전 ...", more="")) == ("전 ...", "cut")
    assert origin(_card(shown="짧다")) == ("짧다", "shown")
    # Every real card has 펼쳐보기; only a shown one means the text was cut.
    assert origin(_card(shown="전 ...", more="display:none;")) == ("전 ...", "shown")
    # A blank attribute is no full text.
    assert origin(_card(title="  ", shown="짧다")) == ("짧다", "shown")


def test_without_full_text_attribute_the_unclicked_cut_card_is_rejected(
    entry: TitleEntry,
) -> None:
    # full_text_attribute = None: the scraper must click 펼쳐보기 first; a page read without
    # that click keeps the cut text, which must never be stored.
    cfg = CFG.model_copy(update={"full_text_attribute": None})
    page = _parse(entry, cfg=cfg)
    assert [r.reason for r in page.rejects] == ["truncated_text"]
    assert page.rejects[0].review_id == "31000003"
    assert [r["review_id"] for r in page.records] == ["31000001", "31000002", "31000004"]


def test_text_selector_change_named(entry: TitleEntry) -> None:
    # Both the full-text attribute and the shown text renamed: nothing to read anywhere.
    html = (
        fixture_text("naver_page.html")
        .replace("data-report-title=", "data-report-body=")
        .replace("desc _text", "desc_v2")
    )
    page = _parse(entry, html)
    assert {r.reason for r in page.rejects} == {"missing_text"}
    with pytest.raises(MarkupChanged, match=r"naver: selector 'span.desc._text'"):
        check_health("naver", page, None, CFG.item_selector)


# --- ratings ----------------------------------------------------------------------------


def test_card_without_rating_is_missing_rating(entry: TitleEntry) -> None:
    out = _one(entry, _card(rating=None))
    assert isinstance(out, Reject)
    assert out.reason == "missing_rating" and out.selector == CFG.rating_selector


def test_rating_outside_ten_after_scale_is_bad_rating(entry: TitleEntry) -> None:
    cfg = CFG.model_copy(update={"rating_scale": 2.0})
    out = _one(entry, _card(rating="6"), cfg)
    assert isinstance(out, Reject) and out.reason == "bad_rating"
    assert "×2" in out.detail
    ok = _one(entry, _card(rating="5"), cfg)
    assert not isinstance(ok, Reject) and ok["rating"] == 10.0


def test_wrong_scale_fails_the_title_not_item_by_item(entry: TitleEntry) -> None:
    cards = [_card(str(41000000 + v), rating=str(v)) for v in range(1, 11)]
    cfg = CFG.model_copy(update={"rating_scale": 2.0})
    page = _parse(entry, _card_page(*cards), cfg)
    assert page.raw_ratings == [float(v) for v in range(1, 11)]
    tally = RatingTally()
    for value in page.raw_ratings:
        tally.add(value, cfg.rating_scale)
    with pytest.raises(
        RatingScaleMismatch, match=r"saw values up to 10 with sources\.naver\.rating_scale 2 "
    ):
        tally.check("naver", naver.RATING_KEY, cfg.rating_scale, MAX_SHARE)


# --- a changed page fails on its first cards ---------------------------------------------


def test_changed_page_fails_on_the_first_cards_naming_the_id_attribute(
    entry: TitleEntry,
) -> None:
    html = changed_naver_page()
    info = naver.parse_search_page(html, CFG)
    assert info.found and info.cards == 4  # the cards still match; their id does not
    page = _parse(entry, html)
    assert page.items == 4 and not page.records and not page.raw_ratings
    assert {r.reason for r in page.rejects} == {"missing_id"}
    with pytest.raises(MarkupChanged) as err:
        naver.check_first_cards(page, CFG)
    assert err.value.source == "naver" and err.value.selector == "data-rating-id"
    assert str(err.value).startswith("naver: selector 'data-rating-id' matched nothing usable")


def test_moved_rating_box_fails_on_the_first_cards_naming_the_rating_selector(
    entry: TitleEntry,
) -> None:
    html = fixture_text("naver_page.html").replace('class="area_text_box"', 'class="area_star_box"')
    page = _parse(entry, html)
    assert {r.reason for r in page.rejects} == {"missing_rating"} and not page.raw_ratings
    with pytest.raises(MarkupChanged) as err:
        naver.check_first_cards(page, CFG)
    assert err.value.selector == CFG.rating_selector == "div.area_text_box"


def test_card_selector_change_seen_before_scrolling() -> None:
    # The list still holds items, but not ones the card selector matches: the crawl fails at
    # once on this (cards == 0 while the box has items), not after scrolling.
    html = fixture_text("naver_page.html").replace("area_card _item", "review_item_v2")
    info = naver.parse_search_page(html, CFG)
    assert info.cards == 0 and info.box_items == 4 and info.has_container


def test_count_line_read_when_configured() -> None:
    # No count today; a configured count selector is read (the promise the crawl stops at).
    html = fixture_text("naver_page.html").replace(
        '<div class="lego_review_list _scroller">',
        '<span class="_total_count">관람평 <em>1,234</em>건</span>'
        '<div class="lego_review_list _scroller">',
        1,
    )
    cfg = CFG.model_copy(update={"count_selector": "span._total_count"})
    assert naver.parse_search_page(html, cfg).promised == 1234


def test_first_cards_of_the_fixture_page_pass(entry: TitleEntry) -> None:
    naver.check_first_cards(_parse(entry), CFG)


# --- dates and URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ("2026.10.31. 13:45", datetime(2026, 10, 31, 4, 45, tzinfo=UTC)),
        ("2026.10.31.", datetime(2026, 10, 30, 15, 0, tzinfo=UTC)),
        ("26.01.02.", datetime(2026, 1, 1, 15, 0, tzinfo=UTC)),
        ("15분 전", datetime(2026, 11, 1, 2, 45, tzinfo=UTC)),
        ("3시간 전", datetime(2026, 11, 1, 0, 0, tzinfo=UTC)),
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
    assert naver.search_url(CFG, plain) == (
        "http://naver.test/search.naver?where=nexearch&query="
        "%EC%98%81%ED%99%94+%EA%B8%B0%EC%83%9D%EC%B6%A9+%EA%B4%80%EB%9E%8C%ED%8F%89"
    )
