"""Naver: reviews on the search-result page (``영화 {title} 관람평``), as cards
(``li.area_card._item``) in a scrolling box that loads more cards as it scrolls. Ratings are
1–10. The shown text is cut for long reviews; the card's ``data-report-title`` holds it whole.

Parsing is pure (HTML string in, records and rejects out, with selectolax); :func:`collect`
drives the page with Playwright: check the first cards (a changed selector fails here, before
any scrolling), 최신순, the spoiler switch, scroll, wait for new cards, stop at the cap, at
known reviews, at the promised count, or when no more come. Every selector lives in
:class:`NaverConfig`, and docs/sources/naver.md says where each one comes from.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from selectolax.lexbor import LexborHTMLParser, LexborNode

from etl.fetch import Fetcher, FetchError, PageSession
from etl.probe import FAILS, Check, ProbeReport, ProbeRow, probe_row, scale_verdict
from etl.scrape_config import NaverConfig
from etl.sources import (
    MarkupChanged,
    ParsedPage,
    RatingScaleMismatch,
    RawRecord,
    RecordContext,
    Reject,
    TitleCrawl,
    TitlePlan,
    check_health,
    make_record,
    snippet,
)
from etl.titles import TitleEntry

SOURCE = "naver"
KST = ZoneInfo("Asia/Seoul")
RATING_KEY = "sources.naver.rating_scale"
# What the site appends to a text it cut: a stored text must never end in one.
_CUT_MARK = re.compile(r"(\.\.\.|…)\s*$")

_NUMBER = re.compile(r"\d[\d,]*")
_TRAILING_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*$")
_ABS_DATE = re.compile(r"^(\d{2,4})\.(\d{1,2})\.(\d{1,2})\.?(?:\s+(\d{1,2}):(\d{2}))?$")
_REL_DATE = re.compile(r"^(\d+)\s*(분|시간|일)\s*전$")


# --- URLs ------------------------------------------------------------------------------


def search_query(cfg: NaverConfig, entry: TitleEntry) -> str:
    if entry.year is not None:
        return cfg.query_template_year.format(title=entry.name, year=entry.year)
    return cfg.query_template.format(title=entry.name)


def search_url(cfg: NaverConfig, entry: TitleEntry) -> str:
    query = quote_plus(search_query(cfg, entry))
    return cfg.base_url.rstrip("/") + cfg.search_path.format(query=query)


# --- pure parsing ----------------------------------------------------------------------


@dataclass(frozen=True)
class SearchPage:
    found: bool  # the page has a review section at all
    has_container: bool  # the scrolling box is there
    source_title_id: str | None
    promised: int | None  # reviews the page says the film has
    cards: int  # cards the page shows now
    # List items inside the scrolling box, whatever their classes: items there that the
    # card selector does not match mean the selector broke, not that there are no reviews.
    box_items: int


def parse_search_page(html: str, cfg: NaverConfig) -> SearchPage:
    tree = LexborHTMLParser(html)
    box = tree.css_first(cfg.scroll_container_selector)
    count_node = tree.css_first(cfg.count_selector) if cfg.count_selector else None
    promised = None
    if count_node is not None:
        digits = _NUMBER.search(count_node.text(deep=True))
        promised = int(digits.group().replace(",", "")) if digits else None
    source_title_id = None
    for link in tree.css(cfg.title_link_selector):
        match = re.search(cfg.title_id_pattern, link.attributes.get("href") or "")
        if match:
            source_title_id = match.group(1)
            break
    return SearchPage(
        found=box is not None or count_node is not None,
        has_container=box is not None,
        source_title_id=source_title_id,
        promised=promised,
        cards=len(tree.css(cfg.item_selector)),
        box_items=len(box.css("li")) if box is not None else 0,
    )


def parse_naver_date(text: str, now: datetime) -> datetime:
    """``2024.05.01.``, ``2024.05.01. 13:45``, ``24.05.01.``, ``3시간 전``, ``어제`` → UTC.

    Shown times are Korean local time. Raises ValueError on anything else.
    """
    text = text.strip()
    if match := _ABS_DATE.match(text):
        year, month, day = (int(g) for g in match.groups()[:3])
        year += 2000 if year < 100 else 0
        hour, minute = int(match.group(4) or 0), int(match.group(5) or 0)
        return datetime(year, month, day, hour, minute, tzinfo=KST).astimezone(UTC)
    if match := _REL_DATE.match(text):
        n, unit = int(match.group(1)), match.group(2)
        delta = {"분": timedelta(minutes=n), "시간": timedelta(hours=n), "일": timedelta(days=n)}
        return now.astimezone(UTC) - delta[unit]
    if text == "어제":
        return now.astimezone(UTC) - timedelta(days=1)
    raise ValueError(f"unknown date format: {text!r}")


def _shown_text(node: LexborNode) -> str:
    """Text as a reader sees it: ``<br>`` is a line break; outer whitespace is not shown."""
    for br in node.css("br"):
        br.replace_with("\n")
    return node.text(deep=True).strip()


def _first_text(card: LexborNode, selector: str) -> str | None:
    node = card.css_first(selector)
    return None if node is None else node.text(deep=True).strip()


def card_text(card: LexborNode, cfg: NaverConfig) -> tuple[str | None, str]:
    """The review's text and where it came from: the full-text attribute when the card has
    it, else the shown text (``"shown"``; cut if the card still offers 펼쳐보기)."""
    if cfg.full_text_attribute:
        full = card.attributes.get(cfg.full_text_attribute)
        if full and full.strip():
            return full.strip(), cfg.full_text_attribute
    node = card.css_first(cfg.text_selector)
    if node is None:
        return None, cfg.text_selector
    more = card.css_first(cfg.more_button_selector)
    cut = more is not None and not hidden_by_style(more)
    return _shown_text(node), "cut" if cut else "shown"


def hidden_by_style(node: LexborNode) -> bool:
    """Hidden by its inline style (how the page hides 펼쳐보기 on texts it did not cut)."""
    style = (node.attributes.get("style") or "").replace(" ", "").lower()
    return "display:none" in style


def parse_card(
    card: LexborNode, cfg: NaverConfig, ctx: RecordContext, url: str, snippet_chars: int = 2000
) -> RawRecord | Reject:
    raw = snippet(card.html or "", snippet_chars)
    rid = (card.attributes.get(cfg.review_id_attribute) or "").strip()
    if not rid:
        return Reject(
            "missing_id", f"no {cfg.review_id_attribute}", raw, None, cfg.review_id_attribute
        )
    text, origin = card_text(card, cfg)
    if text is None:
        return Reject("missing_text", "no review text", raw, rid, cfg.text_selector)
    if not text:
        return Reject("empty_text", "review text is blank", raw, rid, cfg.text_selector)
    if origin == "cut" and _CUT_MARK.search(text):
        # Never store a text the site cut: 펼쳐보기 was not clicked, or did not work.
        return Reject(
            "truncated_text", "text cut by the site (펼쳐보기)", raw, rid, cfg.more_button_selector
        )
    rating = None
    rating_text = _first_text(card, cfg.rating_selector)
    if rating_text is None:
        return Reject("missing_rating", "no rating", raw, rid, cfg.rating_selector)
    match = _TRAILING_NUMBER.search(rating_text)
    if not match:
        return Reject("bad_rating", f"rating {rating_text!r}", raw, rid, cfg.rating_selector)
    rating = float(match.group(1)) * cfg.rating_scale
    if not 0 <= rating <= 10:
        return Reject(
            "bad_rating",
            f"rating {rating_text!r} outside 0–10 after ×{cfg.rating_scale:g}",
            raw,
            rid,
            cfg.rating_selector,
        )
    written_at = None
    date_text = _first_text(card, cfg.date_selector)
    if date_text:
        try:
            written_at = parse_naver_date(date_text, ctx.scraped_at)
        except ValueError as exc:
            return Reject("bad_date", str(exc), raw, rid, cfg.date_selector)
    likes = None
    likes_text = _first_text(card, cfg.likes_selector)
    if likes_text:
        digits = likes_text.replace(",", "")
        if not digits.isdigit():
            return Reject("bad_likes", f"likes {likes_text!r}", raw, rid, cfg.likes_selector)
        likes = int(digits)
    return make_record(
        ctx,
        review_id=rid,
        text=text,
        rating=rating,
        author=_first_text(card, cfg.author_selector) or None,
        written_at=written_at,
        likes=likes,
        spoiler=card.css_first(cfg.spoiler_selector) is not None,
        url=url,
    )


def raw_rating(card: LexborNode, cfg: NaverConfig) -> float | None:
    """The rating as the card shows it, before scaling (None: no number there)."""
    text = _first_text(card, cfg.rating_selector)
    match = _TRAILING_NUMBER.search(text) if text is not None else None
    return float(match.group(1)) if match else None


def parse_cards(
    html: str, cfg: NaverConfig, ctx: RecordContext, url: str, snippet_chars: int = 2000
) -> ParsedPage:
    """Every review card on a search-result page → records, rejects, and the ratings as the
    cards show them (for the title's scale check)."""
    records, rejects = [], []
    cards = LexborHTMLParser(html).css(cfg.item_selector)
    for card in cards:
        out = parse_card(card, cfg, ctx, url, snippet_chars)
        (rejects if isinstance(out, Reject) else records).append(out)
    raw_ratings = [r for r in (raw_rating(c, cfg) for c in cards) if r is not None]
    return ParsedPage(records, rejects, len(cards), raw_ratings)


def check_first_cards(page: ParsedPage, cfg: NaverConfig) -> None:
    """The first cards must give ids and ratings: a changed selector fails here, on the first
    page, not after scrolling the whole list."""
    # A card without an id or a rating is a reject naming its selector, so a page of cards
    # none of which is usable names the selector most of them failed on.
    check_health(SOURCE, page, None, cfg.item_selector)


# --- crawling --------------------------------------------------------------------------

_COUNT_ABOVE = "([sel, n]) => document.querySelectorAll(sel).length > n"
_IDS = "(els, attr) => els.map(e => e.getAttribute(attr))"


def _wait_ms(fetcher: Fetcher, cfg: NaverConfig) -> float:
    """Wait for new cards: the configured wait, plus the time the page's request may spend
    queued behind the other pages' requests to the host (politeness, not a stall)."""
    return (cfg.scroll_wait_s + fetcher.queue_allowance_s) * 1000


async def collect(fetcher: Fetcher, cfg: NaverConfig, plan: TitlePlan) -> TitleCrawl:
    """Open the title's search page, scroll its review list, parse the cards (sorting and
    scrolling stalls are retried ``scrape.retries`` times).

    Failures are recorded on the result (with the cards loaded before them), not raised. A
    wrong rating scale drops the title's records: none of its ratings can be trusted.
    """
    out = TitleCrawl(plan.entry, SOURCE)
    url = search_url(cfg, plan.entry)
    try:
        async with fetcher.page(url, cfg.list_api_paths) as ps:
            await _collect(fetcher, ps, cfg, plan, fetcher.cfg.retries, out)
    except RatingScaleMismatch as exc:
        out.records.clear()
        out.error = f"RatingScaleMismatch: {exc}"
    except (FetchError, MarkupChanged) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    except PlaywrightError as exc:
        out.error = f"browser error: {str(exc).splitlines()[0]}"
    return out


def _context(ps: PageSession, plan: TitlePlan, source_title_id: str) -> RecordContext:
    return RecordContext(
        SOURCE, plan.entry, source_title_id, plan.salt, plan.run_id, datetime.now(UTC)
    )


async def _collect(
    fetcher: Fetcher,
    ps: PageSession,
    cfg: NaverConfig,
    plan: TitlePlan,
    retries: int,
    out: TitleCrawl,
) -> None:
    html = await ps.page.content()
    info = parse_search_page(html, cfg)
    if not info.found:
        out.not_found = True
        out.complete = True
        return
    out.source_title_id = info.source_title_id or f"query:{search_query(cfg, plan.entry)}"
    if info.cards == 0 and (info.promised or info.box_items):
        # Fail before scrolling: the cards are there, our selector is not.
        shown = info.promised or f"{info.box_items} list items"
        raise MarkupChanged(
            SOURCE, cfg.item_selector, f"matched nothing on a page that shows {shown}"
        )
    if info.promised and info.cards < info.promised and not info.has_container:
        raise MarkupChanged(
            SOURCE, cfg.scroll_container_selector, "(the scrolling review box) matched nothing"
        )
    snippet_chars = fetcher.cfg.snippet_chars
    # The first page of cards decides whether the selectors still work: ids and ratings.
    check_first_cards(parse_cards(html, cfg, _context(ps, plan, "-"), ps.url, snippet_chars), cfg)
    if info.cards and cfg.recent_tab_selector:
        await _sort_newest_first(fetcher, ps, cfg, retries)
    if info.cards and cfg.spoiler_switch_selector:
        await _show_spoilers(ps, cfg, fetcher)
    stalled = await _scroll(fetcher, ps, cfg, plan, retries, info.promised)
    await _expand_cut_texts(ps, cfg, fetcher)
    ctx = _context(ps, plan, out.source_title_id)
    parsed = parse_cards(await ps.page.content(), cfg, ctx, ps.url, snippet_chars)
    out.pages = 1 + len(ps.data_statuses)
    out.items_seen = parsed.items
    out.rejects.extend(parsed.rejects)
    for value in parsed.raw_ratings:
        out.ratings.add(value, cfg.rating_scale)
    out.ratings.check(SOURCE, RATING_KEY, cfg.rating_scale, fetcher.cfg.max_bad_rating_share)
    check_health(SOURCE, parsed, info.promised, cfg.item_selector)
    out.spoiler_hidden = await _hidden_spoilers(ps, cfg)
    out.absorb(parsed.records, plan)
    if stalled is not None:
        raise FetchError(ps.url, stalled)
    out.complete = True


async def _show_spoilers(ps: PageSession, cfg: NaverConfig, fetcher: Fetcher) -> None:
    """Turn the spoiler switch on (when the page has one and it is off), so that spoiler
    reviews show their texts. A page without the switch is left as it is: the cards it
    hides are counted by :func:`_hidden_spoilers`."""
    assert cfg.spoiler_switch_selector is not None
    switch = ps.page.locator(cfg.spoiler_switch_selector).first
    if await switch.count() == 0:
        return
    state = switch.locator(cfg.spoiler_switch_state_selector).first
    if await state.count() and (await state.inner_text()).strip().lower() != "off":
        return  # already on
    await switch.click(timeout=fetcher.timeout_ms)


_HIDDEN_SPOILERS = """([item, spoiler, text]) => Array.from(document.querySelectorAll(item))
  .filter(c => c.querySelector(spoiler))
  .filter(c => { const t = c.querySelector(text); return !t || t.offsetParent === null; })
  .length"""


async def _hidden_spoilers(ps: PageSession, cfg: NaverConfig) -> int:
    """Spoiler cards whose shown text the page keeps hidden (recorded on the title)."""
    return int(
        await ps.page.evaluate(
            _HIDDEN_SPOILERS, [cfg.item_selector, cfg.spoiler_selector, cfg.text_selector]
        )
    )


async def _expand_cut_texts(ps: PageSession, cfg: NaverConfig, fetcher: Fetcher) -> None:
    """Click 펼쳐보기 on every cut card that lacks the full-text attribute (all of them when
    none is configured; none while the site keeps sending it)."""
    cards = f":is({cfg.item_selector})"
    if cfg.full_text_attribute:
        cards += f":not([{cfg.full_text_attribute}])"
    buttons = ps.page.locator(f"{cards} {cfg.more_button_selector}")
    for i in range(await buttons.count()):
        button = buttons.nth(i)
        if await button.is_visible():
            await button.click(timeout=fetcher.timeout_ms)


# Mark the list's first card, then wait for a first card without the mark: the list was
# rendered anew. Works whatever loads it (XHR, fetch or a JSONP <script>: the page's own
# requests are not documented) and whether or not the newest review is also the most liked.
_MARK_FIRST = "(sel) => { const c = document.querySelector(sel); if (c) c.__kreviewOld = 1; }"
_FIRST_IS_NEW = "(sel) => { const c = document.querySelector(sel); return !!c && !c.__kreviewOld; }"


async def _sort_newest_first(
    fetcher: Fetcher, ps: PageSession, cfg: NaverConfig, retries: int
) -> None:
    """Click 최신순 and wait for the list it renders."""
    assert cfg.recent_tab_selector is not None
    tab = ps.page.locator(cfg.recent_tab_selector).first
    if await tab.count() == 0:
        raise MarkupChanged(
            SOURCE, cfg.recent_tab_selector, "(최신순, newest first) matched nothing"
        )
    backoff = fetcher.backoff_for(retries + 1)
    while True:
        await ps.page.evaluate(_MARK_FIRST, cfg.item_selector)
        try:
            await tab.click(timeout=fetcher.timeout_ms)
            await ps.page.wait_for_function(
                _FIRST_IS_NEW, arg=cfg.item_selector, timeout=_wait_ms(fetcher, cfg)
            )
            return
        except PlaywrightTimeoutError:
            delay = backoff.next_delay()
        if delay is None:
            raise FetchError(ps.url, f"could not switch to newest first after {retries + 1} tries")
        await asyncio.sleep(delay)


async def _scroll(
    fetcher: Fetcher,
    ps: PageSession,
    cfg: NaverConfig,
    plan: TitlePlan,
    retries: int,
    promised: int | None,
) -> str | None:
    """Scroll until enough cards are loaded. Returns why loading failed, or None when the list
    simply ended.

    The page shows no review count, so the end is read from the page's own list requests:
    a scroll whose request was answered (2xx) without adding cards is the end (the list API
    answers an empty page past its last one); so is a second scroll in a row that makes the
    page request nothing (it knows it is done). Failing requests are retried: up to
    ``retries`` stalls, with backoff, then the title fails if the page's requests were failing.
    """
    page, stalls, quiet = ps.page, fetcher.backoff_for(retries + 1), 0
    while True:
        # Every card counts for "did more load?"; only cards with an id for known/new (a card
        # without one is a reject, and must not make the list look as if it kept growing).
        cards = await page.eval_on_selector_all(cfg.item_selector, _IDS, cfg.review_id_attribute)
        ids = {i for i in cards if i}
        new = ids - plan.known_ids
        if len(new) >= plan.max_new or (plan.stop_at_known and len(new) < len(ids)):
            return None
        if promised is not None and len(ids) >= promised:
            return None
        asked = len(ps.data_statuses)
        await page.eval_on_selector(
            cfg.scroll_container_selector, "el => el.scrollTo(0, el.scrollHeight)"
        )
        try:
            await page.wait_for_function(
                _COUNT_ABOVE, arg=[cfg.item_selector, len(cards)], timeout=_wait_ms(fetcher, cfg)
            )
            stalls.reset()
            quiet = 0
            continue
        except PlaywrightTimeoutError:
            delay = stalls.next_delay()
        answers = ps.data_statuses[asked:]
        if answers and all(200 <= status < 300 for status in answers):
            return None  # the list answered and added nothing: its end
        quiet = 0 if answers else quiet + 1
        if quiet >= 2:
            return None  # two scrolls in a row asked for nothing: the page is done
        if delay is None:
            if ps.failing():
                return (
                    f"loading more reviews failed: HTTP {ps.data_statuses[-1]} "
                    f"after {stalls.failures} tries"
                )
            return None
        await asyncio.sleep(delay)
        # Scroll back a little so the next scroll to the bottom fires a scroll event again.
        await page.eval_on_selector(
            cfg.scroll_container_selector,
            "el => el.scrollTo(0, Math.max(0, el.scrollHeight - el.clientHeight - 200))",
        )


# --- probe (`kreview scrape --probe`) ---------------------------------------------------

PROBE_CHECKS = (
    Check("review list", "scroll_container_selector", "no review section: not found", True),
    Check("review cards", "item_selector", f"{FAILS} (MarkupChanged)", True),
    Check("review id", "review_id_attribute", f"every card is rejected, {FAILS}", True),
    Check("full text", "full_text_attribute", "the shown text is read (펼쳐보기 clicked)"),
    Check("shown text", "text_selector", "cards without the full text are rejected"),
    Check("cut texts (펼쳐보기)", "more_button_selector", "none on this page"),
    Check("rating", "rating_selector", f"{FAILS} (MarkupChanged)", True),
    Check("writer", "author_selector", "author_hash stored as null"),
    Check("date", "date_selector", "written_at stored as null"),
    Check("likes", "likes_selector", "likes stored as null"),
    Check("spoiler mark", "spoiler_selector", "none on this page (or the mark changed)"),
    Check("최신순 (newest first)", "recent_tab_selector", f"{FAILS} (MarkupChanged)", True),
    Check("spoiler switch", "spoiler_switch_selector", "hidden spoiler texts are counted"),
    Check("review count", "count_selector", "fine: the list is scrolled until it ends"),
    Check("film id (os=)", "title_link_selector", "the search query stands in for the id"),
)
# Selectors only a browser evaluates (Playwright's :has-text and the like).
BROWSER_KEYS = ("recent_tab_selector", "spoiler_switch_selector")
ATTRIBUTE_KEYS = ("review_id_attribute", "full_text_attribute")


def _found(tree: LexborHTMLParser, cards: list[LexborNode], key: str, value: str) -> list[str]:
    if key in ATTRIBUTE_KEYS:
        return [v for v in (c.attributes.get(value) for c in cards) if v]
    if key == "item_selector":
        return [c.attributes.get("class") or c.tag or "" for c in cards]
    if key == "scroll_container_selector":
        return ["found"] * len(tree.css(value))
    if key in ("count_selector", "title_link_selector"):
        nodes = tree.css(value)
        return [n.attributes.get("href") or n.text(deep=True).strip() or "found" for n in nodes]
    nodes = [c.css_first(value) for c in cards]
    if key == "more_button_selector":  # every card has one; shown only on cut texts
        nodes = [n for n in nodes if n is not None and not hidden_by_style(n)]
    return [n.text(deep=True).strip() or "found" for n in nodes if n is not None]


def probe_rows(
    html: str, cfg: NaverConfig, max_share: float, browser_counts: dict[str, int]
) -> list[ProbeRow]:
    """Rows for a Naver search-result page. ``browser_counts``: matches of the selectors only
    the browser can evaluate (:data:`BROWSER_KEYS`)."""
    tree = LexborHTMLParser(html)
    cards = tree.css(cfg.item_selector)
    rows = []
    for check in PROBE_CHECKS:
        value = getattr(cfg, check.key)
        if value is None:
            continue  # switched off in the config
        if check.key in BROWSER_KEYS:
            found = ["found"] * browser_counts.get(check.key, 0)
            # 최신순 matters only when there are cards to sort.
            check = check if cards else replace(check, required=False)
        else:
            found = _found(tree, cards, check.key, value)
        rows.append(probe_row(SOURCE, check, value, found))
    return [_probe_verdicts(row, cards, cfg, max_share) for row in rows]


def _probe_verdicts(
    row: ProbeRow, cards: list[LexborNode], cfg: NaverConfig, max_share: float
) -> ProbeRow:
    """Rating and date rows say more than "matched": the scale check, unreadable dates."""
    if row.key.endswith(".rating_selector") and row.matched:
        raw = [r for r in (raw_rating(c, cfg) for c in cards) if r is not None]
        verdict, ok = scale_verdict(raw, cfg.rating_scale, RATING_KEY, max_share)
        return replace(row, verdict=verdict, ok=ok)
    if row.key.endswith(".date_selector") and row.matched:
        now = datetime.now(UTC)
        for card in cards:
            node = card.css_first(cfg.date_selector)
            if node is None:
                continue  # stored as null, as the scrape does
            try:
                parse_naver_date(node.text(deep=True), now)
            except ValueError as exc:
                return replace(row, verdict=f"{exc}: those cards are rejected", ok=False)
    return row


async def probe(fetcher: Fetcher, cfg: NaverConfig, entry: TitleEntry) -> ProbeReport:
    """Every selector of the config checked on the title's search page (reads only)."""
    url = search_url(cfg, entry)
    async with fetcher.page(url, cfg.list_api_paths) as ps:
        counts = {}
        for key in BROWSER_KEYS:
            selector = getattr(cfg, key)
            counts[key] = await ps.page.locator(selector).count() if selector else 0
        html = await ps.page.content()
    rows = probe_rows(html, cfg, fetcher.cfg.max_bad_rating_share, counts)
    return ProbeReport(SOURCE, entry.label, url, rows)
