"""What the replay site answers: Watcha's JSON and pages, Naver's search-result HTML.

The shapes are those the site contracts document from public evidence (docs/sources/), not
what the scrapers' config happens to say: a replay written from our own assumptions would
only prove that we agree with ourselves. Guesses are marked here and in the contracts.
"""

from __future__ import annotations

import json
from dataclasses import replace
from hashlib import sha256
from html import escape
from typing import Any
from urllib.parse import quote_plus

from etl.replay.corpus import KST, Film, Review

# --- Watcha ----------------------------------------------------------------------------
# Shapes from docs/sources/watcha.md: the search lists, the comment object with its 1–10
# rating, `prev_uri`/`next_uri` paging, the 403 a client without the web app's headers gets.

NOT_ALLOWED = {
    "code": "not_allowed_client",
    "msg": "Not allowed",
    "detail": None,
    "type": "Hop::NotAllowedClient",
}
# robots.txt of both hosts, as public sources quote them (2026).
WATCHA_ROBOTS = "User-agent: *\nDisallow: /api\n"
NAVER_ROBOTS = "User-agent: *\nDisallow: /\n"


def watcha_search(films: list[Film]) -> dict[str, Any]:
    movies = [
        {
            "code": f.watcha_code,
            "content_type": "movies",
            "title": f.name,
            "year": f.year,
            "ratings_avg": 3.6,
        }
        for f in films
    ]
    return {"result": {"top_results": movies[:3], "movies": movies, "tv_seasons": []}}


def watcha_comment(r: Review, *, changed: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {
        "code": r.review_id,
        "text": r.text,
        "spoiler": r.spoiler,
        "improper": r.improper,
        "likes_count": r.likes,
        "replies_count": 0,
        "watched_at": None if r.likes % 3 else r.written_at.astimezone(KST).date().isoformat(),
        # Korean time with its offset, as the API sends it.
        "created_at": r.written_at.astimezone(KST).isoformat(timespec="seconds"),
        "user": {"code": "u" + sha256(r.author.encode()).hexdigest()[:10], "name": r.author},
        "user_content_action": {"rating": r.rating, "status": "watched"},
    }
    if changed:
        item["content"] = item.pop("text")  # the API renamed a field
    return item


BAD_WATCHA_ITEMS: tuple[dict[str, Any], ...] = (
    {
        "code": "cBADRATING01",
        "text": "별점이 이상한 리뷰",
        "user_content_action": {"rating": "별로"},
    },
    {"code": "cNOTEXT00001", "spoiler": False, "user_content_action": {"rating": 6}},
)


def watcha_comments(
    film: Film,
    reviews: list[Review],
    *,
    order: str,
    page: int,
    size: int,
    changed: bool = False,
    bad_items: bool = False,
) -> dict[str, Any]:
    ordered = sorted(reviews, key=lambda r: -r.likes) if order == "popular" else reviews
    chunk = ordered[(page - 1) * size : page * size]
    items = [watcha_comment(r, changed=changed) for r in chunk]
    if bad_items:
        items.extend(BAD_WATCHA_ITEMS)

    def uri(n: int) -> str:
        return (
            f"/api/contents/{film.watcha_code}/comments?filter=all&order={order}"
            f"&page={n}&size={size}"
        )

    return {
        "metadata": {},
        "result": {
            "prev_uri": uri(page - 1) if page > 1 else None,
            "next_uri": uri(page + 1) if page * size < len(ordered) else None,
            "result": items,
        },
    }


def watcha_page(title: str) -> str:
    """The web app's HTML shell (the real one renders client-side; only its cookies and its
    origin matter to the scraper)."""
    return (
        '<!doctype html><html lang="ko"><head><meta charset="utf-8">'
        f'<link rel="icon" href="data:,"><title>{escape(title)} - 왓챠피디아</title></head>'
        '<body><div id="root"></div></body></html>'
    )


WAF_CHALLENGE = (
    "<!doctype html><html><head><title>Access denied</title></head><body>"
    "<h1>Request blocked</h1><p>Automated requests are not allowed.</p></body></html>"
)


# --- Naver -----------------------------------------------------------------------------
# Markup from docs/sources/naver.md (page dumps of 2025): the 실관람객 and 네티즌 panes, each
# with its own scrolling list of `li.area_card._item` cards carrying `data-rating-id` and the
# full text in `data-report-title`; the shown text cut with 펼쳐보기; spoiler cards masked
# until the switch is on; 최신순 as `li._tab[data-param="u3=newest"]` in `div._sorting_wrap`;
# more cards from `nqapirender.nhn` as {"html": ...}, "" past the end, loaded as a JSONP
# <script> with the `_callback` the site's own calls carry. Marked guesses there: the cut
# length, what the spoiler switch's "on" does.

CUT_CHARS = 100  # guess: shown texts longer than this are cut with "..."
NAVER_PAGE_SIZE = 10  # cards per list request (the dumps grow by 10)
LIST_PATH = "/p/csearch/content/nqapirender.nhn"


def naver_code(film: Film) -> str:
    """The legacy movie code (`data-movie-code`, the list API's u1): not the `os=` id."""
    return str(int(film.naver_os) * 7 % 1_000_000 + 100_000)


def naver_shown_text(text: str) -> tuple[str, bool]:
    """The text as the card shows it, and whether it was cut."""
    if len(text) <= CUT_CHARS:
        return text, False
    return text[: CUT_CHARS - 3].rstrip() + "...", True


def naver_card(r: Review, film: Film, *, changed: bool = False) -> str:
    shown, cut = naver_shown_text(r.text)
    when = r.written_at.astimezone(KST)
    writer = escape(r.author[:4]) + "****"
    rating = r.rating if r.rating is not None else 0
    hidden = ' style="display: none"' if r.spoiler else ""
    spoiler = (
        '<span class="lego_text_spoiler _review_spoiler_text"><span class="this_text">'
        '스포일러가 포함된 감상평입니다.</span><a href="#" class="spo_more _btn_show_spoiler">'
        "감상평보기</a></span>"
        if r.spoiler
        else ""
    )
    more_style = "" if cut else ' style="display:none;"'
    # The site's new markup: same cards, but the id and the rating box moved.
    id_attr, rating_cls = (
        ("data-review-no", "area_star_box") if changed else ("data-rating-id", "area_text_box")
    )
    return (
        f'<li class="area_card _item" {id_attr}="{r.review_id}"'
        f' data-movie-code="{naver_code(film)}"'
        f' data-rating-point-type="after" data-report-writer-id="{writer}"'
        f' data-report-title="{escape(r.text, quote=True)} " data-report-nid="{r.review_id}"'
        f' data-report-time="{when.strftime("%Y%m%d %H:%M")}">'
        '<div class="area_title_box"><div class="lego_movie_pure_star">'
        f'<div class="{rating_cls}"><span class="blind">별점(10점 만점 중)</span>{rating}</div>'
        "</div></div>"
        '<div class="area_review_content"><div class="area_text_expand _ellipsis"'
        f' data-ellipsis-omitted="{"true" if cut else "false"}">'
        f'<span class="lego_badge_movie_visit">관람객</span>{spoiler}'
        f'<span class="desc _text"{hidden}>{escape(shown)}</span>'
        f'<button type="button" class="story_more _tail"{more_style}>'
        '<span class="blind">펼쳐보기</span></button></div></div>'
        '<dl class="cm_upload_info"><dt class="blind">작성자</dt>'
        f'<dd class="this_text_stress _btn_writer" data-writer-id="{writer}">{writer}</dd>'
        f'<dt class="blind">작성일</dt><dd class="this_text_normal">'
        f"{when.strftime('%Y.%m.%d. %H:%M')}</dd>"
        '<dt class="blind">신고여부</dt><dd class="this_text_normal">'
        '<a href="#" class="this_play_btn _btn_report">신고</a></dd></dl>'
        '<div class="cm_sympathy_area">'
        '<button type="button" class="area_button_upvote _btn_upvote">'
        f'<span class="this_text_number _count_num">{r.likes:,}</span></button>'
        '<button type="button" class="area_button_downvote _btn_downvote">'
        f'<span class="this_text_number _count_num">{r.likes // 5:,}</span></button></div></li>'
    )


BAD_NAVER_CARDS = (
    # No review id: cannot be keyed.
    '<li class="area_card _item"><div class="area_text_box">8</div>'
    '<span class="desc _text">아이디 없는 리뷰</span></li>',
    # A rating that is not a number.
    '<li class="area_card _item" data-rating-id="99999999999"><div class="area_text_box">'
    '<span class="blind">별점(10점 만점 중)</span>별로</div>'
    '<span class="desc _text">평점이 이상한 리뷰</span></li>',
)


def naver_cards(
    reviews: list[Review], film: Film, *, changed: bool = False, bad_items: bool = False
) -> str:
    cards = "".join(naver_card(r, film, changed=changed) for r in reviews)
    return cards + ("".join(BAD_NAVER_CARDS) if bad_items else "")


def naver_order(reviews: list[Review], sort: str) -> list[Review]:
    """``newest``: newest first; anything else: 공감순 (most liked first)."""
    return reviews if sort == "newest" else sorted(reviews, key=lambda r: -r.likes)


def naver_netizen(reviews: list[Review]) -> list[Review]:
    """The 네티즌 pane's cards: other reviews (other ids) that a scraper scoped to the
    실관람객 pane must never collect."""
    return [replace(r, review_id=str(int(r.review_id) + 5_000_000)) for r in reviews[-10:]]


# The page's own script. Scrolling near the bottom of a pane's box loads its next cards, as a
# JSONP <script> named by the site's `_callback` scheme (docs/sources/naver.md, N7); 최신순
# reloads the list newest first; 펼쳐보기 shows a card's whole text; the spoiler switch unmasks
# spoiler texts (a guess). A failed load (an HTTP error, or a body that never calls back)
# leaves `loading` false, so the next scroll tries again (what the scraper's stall-and-rescroll
# relies on).
_SCRIPT = """
(function () {
  var pane = document.querySelector('div._content[data-tab="audience"]');
  var box = pane && pane.querySelector('div.lego_review_list._scroller');
  if (!box) return;
  var list = box.querySelector('ul');
  var api = box.getAttribute('data-api');
  var sort = 'sympathyScore';
  var page = 1;
  var more = box.getAttribute('data-more') === '1';
  var loading = false;
  var code = new URL(api, location.href).searchParams.get('u1');
  function load(reset) {
    if (loading || (!more && !reset)) return;
    loading = true;
    var next = reset ? 1 : page + 1;
    var u4 = String(sort === 'newest');
    var name = '_nexearch_where_68_pkid_movieKBPointAPI_fileKey_' + code + '_u1_true_u5_' +
      sort + '_u3_' + u4 + '_u4_' + next + '_u2';
    window[name] = function (d) {
      if (reset) { list.innerHTML = ''; }
      list.insertAdjacentHTML('beforeend', d.html);
      page = next; more = d.html !== '';
    };
    var tag = document.createElement('script');
    tag.onload = tag.onerror = function () {
      delete window[name]; tag.remove(); loading = false;
    };
    tag.src = api + '&u3=' + sort + '&u4=' + u4 + '&u2=' + next + '&_callback=' + name;
    document.head.appendChild(tag);
  }
  box.addEventListener('scroll', function () {
    if (box.scrollTop + box.clientHeight >= box.scrollHeight - 50) load(false);
  });
  pane.querySelectorAll('div._sorting_wrap li._tab').forEach(function (item) {
    item.querySelector('a').addEventListener('click', function (ev) {
      ev.preventDefault();
      pane.querySelectorAll('div._sorting_wrap li._tab').forEach(function (i) {
        i.setAttribute('aria-selected', 'false');
      });
      item.setAttribute('aria-selected', 'true');
      sort = item.getAttribute('data-param').split('=')[1];
      more = true;
      load(true);
    });
  });
  list.addEventListener('click', function (ev) {
    var button = ev.target.closest('button.story_more._tail');
    if (!button) return;
    var card = button.closest('li.area_card');
    card.querySelector('span.desc._text').textContent =
      card.getAttribute('data-report-title').trim();
    button.style.display = 'none';
  });
  var toggle = pane.querySelector('div._spoiler_switch > button.btn_area_auto');
  if (toggle) toggle.addEventListener('click', function () {
    var state = toggle.querySelector('span._switch_text');
    var on = state.textContent.trim() !== 'on';
    state.textContent = on ? 'on' : 'off';
    document.body.classList.toggle('_spoiler_on', on);
  });
})();
"""

_HEAD = (
    '<!doctype html><html lang="ko"><head><meta charset="utf-8">'
    '<link rel="icon" href="data:,"><title>{title} : 네이버 검색</title>'
    "<style>body{{font-family:sans-serif}} .blind{{display:none}}"
    " ._scroller{{height:420px;overflow-y:auto;border:1px solid #ddd}}"
    " li.area_card{{min-height:60px;border-bottom:1px solid #eee;list-style:none}}"
    " body._spoiler_on span.desc._text{{display:inline !important}}"
    "</style></head><body>"
)


def naver_not_found(query: str) -> str:
    return (
        _HEAD.format(title=escape(query))
        + f"<div class=\"api_noresult\"><p>'{escape(query)}'에 대한 검색결과가 없습니다.</p></div>"
        + "</body></html>"
    )


def _pane(tab: str, film: Film, cards: str, *, more: bool, shown: bool) -> str:
    u5 = "true" if tab == "audience" else ""
    api = (
        f"{LIST_PATH}?where=nexearch&pkid=68&fileKey=movieKBPointAPI&u1={naver_code(film)}&u5={u5}"
    )
    selected = {"sympathyScore": "true", "newest": "false"}
    sorts = "".join(
        f'<li class="tab _tab" role="tab" data-param="u3={key}" aria-selected="{sel}">'
        f'<a href="#"><span class="menu">{label}</span></a></li>'
        for (key, sel), label in zip(selected.items(), ("공감순", "최신순"), strict=True)
    )
    return (
        f'<div class="_content" data-tab="{tab}"'
        + ("" if shown else ' style="display:none"')
        + '><div class="lego_review_write _comment_wrap"><div class="area_text_box _star_text">'
        + "</div></div>"
        + '<div class="cm_tap_area type_inline _sorting_wrap">'
        + f'<div class="type_scroll type_dot _sorting_tab_order"><div><ul>{sorts}</ul></div></div>'
        + '<div class="lego_toggle_sort _spoiler_switch"><span class="txt">스포일러 포함</span>'
        + '<button type="button" class="btn_area_auto" title="스포일러">'
        + '<span class="ico_position_auto _switch_text">off</span></button></div></div>'
        + f'<div class="lego_review_list _scroller" data-api="{escape(api)}"'
        + f' data-more="{"1" if more else "0"}">'
        + f'<ul class="area_card_outer _item_wrapper">{cards}</ul></div>'
        + '<div class="cm_error_no_rate _empty"'
        + (' style="display:none"' if cards else "")
        + ">아직 등록된 평점이 없습니다.</div></div>"
    )


def naver_page(
    film: Film,
    query: str,
    first: list[Review],
    total: int,
    *,
    changed: bool = False,
    bad_items: bool = False,
) -> str:
    def tab_link(name: str) -> str:
        q = quote_plus(f"영화 {film.name} 관람평")
        return (
            f"?where=nexearch&sm=tab_etc&mra=bkEw&pkid=68&os={film.naver_os}&qvt=0&query={q}&{name}"
        )

    audience = naver_cards(first, film, changed=changed, bad_items=bad_items)
    netizen = naver_cards(naver_netizen(first), film, changed=changed)
    return (
        _HEAD.format(title=escape(query))
        + '<div class="cm_content_wrap"><h2 class="area_title">'
        + f'<a class="_title_link" href="{escape(tab_link("tab=info"))}">{escape(film.name)}</a>'
        + f' <span class="sub_text">{film.year}</span></h2>'
        + '<div class="cm_tap_area _tab_wrap"><ul>'
        + '<li class="tab _tab" data-tab="audience" aria-selected="true">'
        + f'<a href="{escape(tab_link("tab=audience"))}">'
        + '<span class="menu">실관람객</span></a></li>'
        + '<li class="tab _tab" data-tab="netizen" aria-selected="false">'
        + f'<a href="{escape(tab_link("tab=netizen"))}"><span class="menu">네티즌</span></a></li>'
        + "</ul></div>"
        + _pane("audience", film, audience, more=len(first) < total, shown=True)
        + _pane("netizen", film, netizen, more=False, shown=False)
        + f"</div><script>{_SCRIPT}</script></body></html>"
    )


def naver_list(
    reviews: list[Review],
    film: Film,
    page: int,
    *,
    size: int = NAVER_PAGE_SIZE,
    bad_items: bool = False,
) -> str:
    """One page of the list API: {"html": "<li…>"}, "" past the last page."""
    chunk = reviews[(page - 1) * size : page * size]
    html = naver_cards(chunk, film, bad_items=bad_items) if chunk else ""
    return json.dumps({"html": html}, ensure_ascii=False)
