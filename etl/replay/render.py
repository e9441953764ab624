"""What the replay site answers: Watcha's JSON and Naver's search-result HTML.

The shapes imitate the real sites as the scrapers' config describes them (field names,
classes, the scrolling review box), so the same code and config crawl both.
"""

from __future__ import annotations

import json
from datetime import UTC
from html import escape
from typing import Any
from urllib.parse import quote_plus

from etl.replay.corpus import KST, Film, Review

# --- Watcha ----------------------------------------------------------------------------


def watcha_search(films: list[Film]) -> dict[str, Any]:
    movies = [
        {"code": f.watcha_code, "title": f.name, "year": f.year, "content_type": "movies"}
        for f in films
    ]
    return {"result": {"top_results": movies[:3], "movies": movies}}


def watcha_comment(r: Review, *, changed: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {
        "code": r.review_id,
        "text": r.text,
        "spoiler": r.spoiler,
        "likes_count": r.likes,
        "replies_count": 0,
        "created_at": r.written_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "user": {"code": "u" + r.author.encode().hex()[:10], "name": r.author},
        "user_content_action": {"rating": r.stars, "status": "watched"},
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
    {"code": "cNOTEXT00001", "spoiler": False, "user_content_action": {"rating": 3.0}},
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
    more = page * size < len(ordered)
    next_uri = (
        f"/api/contents/{film.watcha_code}/comments?filter=all&order={order}"
        f"&page={page + 1}&size={size}"
        if more
        else None
    )
    return {"result": {"result": items, "next_uri": next_uri}}


# --- Naver -----------------------------------------------------------------------------


def naver_card(r: Review, *, changed: bool = False) -> str:
    text = escape(r.text).replace("\n", "<br>")
    when = r.written_at.astimezone(KST).strftime("%Y.%m.%d. %H:%M")
    author = escape(r.author[:4]) + "****"
    spoiler = (
        '<div class="area_spoiler"><span class="blind">스포일러가 포함된 감상평입니다</span></div>'
        if r.spoiler
        else ""
    )
    if changed:  # the site's new markup: none of the configured classes match any more
        return (
            f'<li class="review_item_v2" data-rid="{r.review_id}"><em class="score">'
            f'{int(r.stars * 2)}</em><p class="txt">{text}</p><span>{author}</span></li>'
        )
    return (
        f'<li class="area_card _item" data-report-id="{r.review_id}">'
        f'<div class="area_title_box"><div class="area_text_box">'
        f'<span class="blind">별점(10점 만점 중)</span>{int(r.stars * 2)}</div></div>'
        f'<div class="area_review_content">{spoiler}'
        f'<span class="desc _text">{text}</span></div>'
        f'<dl class="cm_upload_info"><dt class="blind">작성자</dt>'
        f'<dd class="this_text_stress">{author}</dd>'
        f'<dt class="blind">작성일</dt><dd class="this_text_normal">{when}</dd></dl>'
        f'<div class="area_button_box"><button type="button" class="area_button_upvote">'
        f'<span class="blind">공감</span><span class="this_text_stress">{r.likes}</span>'
        f"</button></div></li>"
    )


BAD_NAVER_CARDS = (
    # No review id: cannot be keyed.
    '<li class="area_card _item"><div class="area_text_box">8</div>'
    '<span class="desc _text">아이디 없는 리뷰</span></li>',
    # A rating that is not a number.
    '<li class="area_card _item" data-report-id="99999999999"><div class="area_text_box">'
    '<span class="blind">별점(10점 만점 중)</span>별로</div>'
    '<span class="desc _text">평점이 이상한 리뷰</span></li>',
)


def naver_cards(reviews: list[Review], *, changed: bool = False, bad_items: bool = False) -> str:
    cards = "".join(naver_card(r, changed=changed) for r in reviews)
    return cards + ("".join(BAD_NAVER_CARDS) if bad_items else "")


def naver_order(reviews: list[Review], sort: str) -> list[Review]:
    """``recent``: newest first; anything else: 공감순 (most liked first)."""
    return reviews if sort == "recent" else sorted(reviews, key=lambda r: -r.likes)


# The page's own script: load the next cards when the box is scrolled near its bottom; the
# tabs reload the list in another order. A failed load leaves `loading` false, so the next
# scroll tries again (what the scraper's stall-and-rescroll relies on).
_SCRIPT = """
(function () {
  var box = document.querySelector('._scroller');
  if (!box) return;
  var list = box.querySelector('ul');
  var os = box.getAttribute('data-os');
  var size = parseInt(box.getAttribute('data-page-size'), 10);
  var sort = box.getAttribute('data-sort');
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
        box.setAttribute('data-sort', sort);
      })
      .catch(function () {})
      .then(function () { loading = false; });
  }
  box.addEventListener('scroll', function () {
    if (box.scrollTop + box.clientHeight >= box.scrollHeight - 50) load(false);
  });
  document.querySelectorAll('a._sort_tab').forEach(function (tab) {
    tab.addEventListener('click', function (ev) {
      ev.preventDefault();
      document.querySelectorAll('a._sort_tab').forEach(function (t) { t.classList.remove('on'); });
      tab.classList.add('on');
      sort = tab.getAttribute('data-sort');
      more = true;
      load(true);
    });
  });
})();
"""

_HEAD = (
    '<!doctype html><html lang="ko"><head><meta charset="utf-8">'
    '<link rel="icon" href="data:,"><title>{title} : 네이버 검색</title>'
    "<style>body{{font-family:sans-serif}} .blind{{display:none}}"
    " ._scroller{{height:420px;overflow-y:auto;border:1px solid #ddd}}"
    " li{{min-height:60px;border-bottom:1px solid #eee;list-style:none}}</style></head><body>"
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
    link = (
        f"/search.naver?where=nexearch&query={quote_plus('영화 ' + film.name)}&os={film.naver_os}"
    )
    more = "1" if len(first) < total else "0"
    return (
        _HEAD.format(title=escape(query))
        + '<div class="cm_content_wrap"><h2 class="area_title">'
        + f'<a class="_title_link" href="{escape(link)}">{escape(film.name)}</a>'
        + f' <span class="sub_text">{film.year}</span></h2>'
        + '<div class="area_card_header"><span class="area_card_count _total_count">'
        + f"관람평 <em>{total:,}</em>건</span></div>"
        + '<div class="area_sort"><a href="#" class="_sort_tab on" data-sort="sympathy">공감순</a>'
        + ' <a href="#" class="_sort_tab" data-sort="recent">최신순</a></div>'
        + f'<div class="lego_review_list _scroller" data-os="{film.naver_os}" data-sort="sympathy"'
        + f' data-page-size="{page_size}" data-more="{more}">'
        + f'<ul class="area_list_review">{naver_cards(first, changed=changed, bad_items=bad_items)}'
        + "</ul></div></div>"
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
