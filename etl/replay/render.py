"""What the replay site answers: Watcha's JSON and pages, Naver's search-result HTML.

The shapes are those the site contracts document from public evidence (docs/sources/), not
what the scrapers' config happens to say: a replay written from our own assumptions would
only prove that we agree with ourselves. Guesses are marked here and in the contracts.
"""

from __future__ import annotations

import json
from hashlib import sha256
from html import escape
from typing import Any
from urllib.parse import quote_plus

from etl.replay.corpus import KST, Film, Review

# --- Watcha ----------------------------------------------------------------------------
# Shapes from docs/sources/watcha.md: the search lists, the comment object with its 1–10
# rating, `prev_uri`/`next_uri` paging, the 403 a client without the web app's headers gets.

NOT_ALLOWED = {"code": "not_allowed_client", "message": "허용되지 않은 클라이언트입니다."}


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
        "watched_at": r.written_at.astimezone(KST).date().isoformat(),
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
        "result": {
            "prev_uri": uri(page - 1) if page > 1 else None,
            "next_uri": uri(page + 1) if page * size < len(ordered) else None,
            "result": items,
        }
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
# Markup from docs/sources/naver.md: `li.area_card._item` cards carrying `data-rating-id` and
# the full text in `data-report-title`, the shown text cut with 펼쳐보기, spoiler cards hidden
# behind a switch, 최신순 in `div._sorting_wrap`. What no public source shows (the request
# behind the scroll, the review count, the cut length, class names inside the sort menu) is
# marked "guess" there, and kept out of the scraper's required path.

CUT_CHARS = 100  # guess: shown texts longer than this are cut with " ..."


def naver_shown_text(text: str) -> tuple[str, bool]:
    """The text as the card shows it, and whether it was cut."""
    if len(text) <= CUT_CHARS:
        return text, False
    return text[:CUT_CHARS].rstrip() + " ...", True


def naver_card(r: Review, *, changed: bool = False) -> str:
    shown, cut = naver_shown_text(r.text)
    when = r.written_at.astimezone(KST)
    author = escape(r.author[:4]) + "****"
    rating = r.rating if r.rating is not None else 0
    spoiler = (
        '<span class="lego_text_spoiler _review_spoiler_text">스포일러가 포함된 감상평입니다</span>'
        if r.spoiler
        else ""
    )
    more = '<button type="button" class="story_more _tail">펼쳐보기</button>' if cut else ""
    # The site's new markup: same cards, but the id and rating moved (selectors no longer match).
    id_attr, rating_cls = (
        ("data-review-no", "area_star_box")
        if changed
        else (
            "data-rating-id",
            "area_text_box",
        )
    )
    return (
        f'<li class="area_card _item" {id_attr}="{r.review_id}" data-report-nid="{r.review_id}"'
        f' data-report-title="{escape(r.text, quote=True)}"'
        f' data-report-time="{when.strftime("%Y%m%d %H:%M")}">'
        f'<div class="area_title_box"><div class="{rating_cls}">'
        f'<span class="blind">별점(10점 만점 중)</span>{rating}</div></div>'
        f'<div class="area_review_content">{spoiler}<div class="story_area">'
        f'<span class="desc _text">{escape(shown).replace(chr(10), "<br>")}</span>{more}'
        "</div></div>"
        '<dl class="cm_upload_info"><dt class="blind">작성자</dt>'
        f'<dd class="this_text_stress _btn_writer">{author}</dd>'
        f'<dt class="blind">작성일</dt><dd class="this_text_normal">'
        f"{when.strftime('%Y.%m.%d. %H:%M')}</dd></dl>"
        '<div class="area_button_box"><button type="button" class="area_button_upvote">'
        f'<span class="blind">공감</span><span class="this_text_number _count_num">{r.likes:,}'
        "</span></button></div></li>"
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


def naver_cards(reviews: list[Review], *, changed: bool = False, bad_items: bool = False) -> str:
    cards = "".join(naver_card(r, changed=changed) for r in reviews)
    return cards + ("".join(BAD_NAVER_CARDS) if bad_items else "")


def naver_order(reviews: list[Review], sort: str) -> list[Review]:
    """``recent``: newest first; anything else: 공감순 (most liked first)."""
    return reviews if sort == "recent" else sorted(reviews, key=lambda r: -r.likes)


# The page's own script. Scrolling near the bottom of the box loads the next cards (the
# request behind it is a guess: no public source shows it; the scraper only scrolls). 최신순
# reloads the list newest first; 펼쳐보기 shows a card's whole text; the spoiler switch shows
# spoiler cards' texts. A failed load leaves `loading` false, so the next scroll tries again
# (what the scraper's stall-and-rescroll relies on).
_SCRIPT = """
(function () {
  var box = document.querySelector('div.lego_review_list._scroller');
  if (!box) return;
  var list = box.querySelector('ul');
  var os = box.getAttribute('data-os');
  var size = parseInt(box.getAttribute('data-page-size'), 10);
  var sort = 'sympathy';
  var start = list.children.length;
  var more = box.getAttribute('data-more') === '1';
  var loading = false;
  function load(reset) {
    if (loading || (!more && !reset)) return;
    loading = true;
    var from = reset ? 0 : start;
    fetch('/api/review_list?os=' + os + '&sort=' + sort + '&start=' + from + '&display=' + size)
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (d) {
        if (reset) { list.innerHTML = ''; start = 0; }
        list.insertAdjacentHTML('beforeend', d.html);
        start += d.count; more = d.has_more;
      })
      .catch(function () {})
      .then(function () { loading = false; });
  }
  box.addEventListener('scroll', function () {
    if (box.scrollTop + box.clientHeight >= box.scrollHeight - 50) load(false);
  });
  document.querySelectorAll('div._sorting_wrap li').forEach(function (item) {
    item.querySelector('a').addEventListener('click', function (ev) {
      ev.preventDefault();
      document.querySelectorAll('div._sorting_wrap li').forEach(function (i) {
        i.classList.remove('on');
      });
      item.classList.add('on');
      sort = item.getAttribute('data-value') === 'recent' ? 'recent' : 'sympathy';
      more = true;
      load(true);
    });
  });
  list.addEventListener('click', function (ev) {
    var button = ev.target.closest('button.story_more._tail');
    if (!button) return;
    var card = button.closest('li.area_card');
    card.querySelector('span.desc._text').textContent = card.getAttribute('data-report-title');
    button.remove();
  });
  var spoilers = document.querySelector("button.btn_area_auto[title='스포일러']");
  if (spoilers) spoilers.addEventListener('click', function () {
    var on = spoilers.getAttribute('aria-pressed') !== 'true';
    spoilers.setAttribute('aria-pressed', on ? 'true' : 'false');
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
    " body:not(._spoiler_on) li.area_card:has(._review_spoiler_text) span.desc"
    "{{display:none}}</style></head><body>"
)


def naver_not_found(query: str) -> str:
    return (
        _HEAD.format(title=escape(query))
        + f"<div class=\"api_noresult\"><p>'{escape(query)}'에 대한 검색결과가 없습니다.</p></div>"
        + "</body></html>"
    )


def naver_page(
    film: Film,
    query: str,
    first: list[Review],
    total: int,
    *,
    page_size: int,
    changed: bool = False,
    bad_items: bool = False,
) -> str:
    def tab(name: str) -> str:
        q = quote_plus(f"영화 {film.name} 관람평")
        return f"/search.naver?where=nexearch&query={q}&pkid=68&os={film.naver_os}&qvt=0&{name}"

    more = "1" if len(first) < total else "0"
    return (
        _HEAD.format(title=escape(query))
        + '<div class="cm_content_wrap"><h2 class="area_title">'
        + f'<a class="_title_link" href="{escape(tab("tab=info"))}">{escape(film.name)}</a>'
        + f' <span class="sub_text">{film.year}</span></h2>'
        + '<div class="lego_tab"><a role="tab" aria-selected="true" '
        + f'href="{escape(tab("tab=audience"))}">실관람객</a> <a role="tab" aria-selected="false" '
        + f'href="{escape(tab("tab=netizen"))}">네티즌</a></div>'
        + '<div class="_content" data-tab="audience">'
        + '<div class="area_card_header"><span class="area_card_count _total_count">'
        + f"관람평 <em>{total:,}</em>건</span></div>"
        + '<div class="lego_sorting _sorting_wrap"><ul>'
        + '<li class="on" data-value="sympathy"><a href="#" role="button">공감순</a></li>'
        + '<li data-value="recent"><a href="#" role="button">최신순</a></li></ul>'
        + '<button type="button" class="btn_area_auto" title="스포일러" aria-pressed="false">'
        + "스포일러 보기</button></div>"
        + f'<div class="lego_review_list _scroller" data-os="{film.naver_os}"'
        + f' data-page-size="{page_size}" data-more="{more}">'
        + f'<ul class="area_list_review">{naver_cards(first, changed=changed, bad_items=bad_items)}'
        + "</ul></div></div>"
        + '<div class="_content" data-tab="netizen" style="display:none"></div></div>'
        + f"<script>{_SCRIPT}</script></body></html>"
    )


def naver_more(reviews: list[Review], start: int, size: int, *, bad_items: bool = False) -> str:
    chunk = reviews[start : start + size]
    return json.dumps(
        {
            "html": naver_cards(chunk, bad_items=bad_items),
            "count": len(chunk),
            "has_more": start + size < len(reviews),
        },
        ensure_ascii=False,
    )
