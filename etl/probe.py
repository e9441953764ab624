"""`kreview scrape --probe TITLE`: one title fetched, every selector and field checked.

What an operator runs when a site changes: for each configured selector or JSON field, how
many items it matched on the live page, the first values, and what the scrape would do with
it (ok, a null field, every item rejected, the title failing). Nothing is written.

Row builders are pure (page HTML or payload in, rows out); :func:`probe` drives the browser.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from etl.fetch import Fetcher, FetchError, PageSession
from etl.scrape_config import NaverConfig, ScrapeConfig, WatchaConfig
from etl.sources import MarkupChanged, naver, watcha
from etl.titles import TitleEntry

FIRST = 3  # values shown per row
FAILS = "the title fails"


@dataclass(frozen=True)
class ProbeRow:
    what: str  # what the scraper reads
    key: str  # the config key that names it
    value: str  # the selector, attribute, field or URL
    matched: int | None  # items it matched (None: not a count)
    first: tuple[str, ...]  # the first values it gave
    verdict: str  # "ok", or what the scrape does without it
    ok: bool


@dataclass(frozen=True)
class ProbeReport:
    source: str
    title: str
    url: str
    rows: list[ProbeRow]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)


@dataclass(frozen=True)
class Check:
    """One configured selector or field: what it is, and what happens when it matches nothing."""

    what: str
    key: str  # attribute of the source's config
    missing: str
    required: bool = False


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _row(source: str, check: Check, value: str, found: list[str]) -> ProbeRow:
    return ProbeRow(
        check.what,
        f"sources.{source}.{check.key}",
        value,
        len(found),
        tuple(_short(v) for v in found[:FIRST]),
        "ok" if found else check.missing,
        bool(found) or not check.required,
    )


def scale_verdict(
    values: list[float], scale: float, key: str, max_share: float
) -> tuple[str, bool]:
    """What the title's rating-scale check would make of these ratings (as the site gives
    them): the verdict, and whether the title passes."""
    if not values:
        return f"no ratings: {FAILS} (MarkupChanged)", False
    bad = sum(not 0 <= v * scale <= 10 for v in values)
    low, top = min(values), max(values)
    if bad >= 3 and bad > max_share * len(values):
        return (
            f"values up to {top:g} × {key} {scale:g}: {bad} of {len(values)} outside 0-10, "
            f"{FAILS} (rating scale mismatch)",
            False,
        )
    if top * scale <= 5 and len(values) >= 10:
        # 0.5-5 stars stored as if 0-10 would look like this: passes, but say so.
        return f"values {low:g}-{top:g} × {scale:g} use only half of 0-10: check {key}", True
    return f"values {low:g}-{top:g} × {scale:g} fit 0-10", True


# --- Naver -----------------------------------------------------------------------------

NAVER_CHECKS = (
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
        nodes = [n for n in nodes if n is not None and not naver.hidden_by_style(n)]
    return [n.text(deep=True).strip() or "found" for n in nodes if n is not None]


def naver_rows(
    html: str, cfg: NaverConfig, max_share: float, browser_counts: dict[str, int]
) -> list[ProbeRow]:
    """Rows for a Naver search-result page. ``browser_counts``: matches of the selectors only
    the browser can evaluate (:data:`BROWSER_KEYS`)."""
    tree = LexborHTMLParser(html)
    cards = tree.css(cfg.item_selector)
    rows = []
    for check in NAVER_CHECKS:
        value = getattr(cfg, check.key)
        if value is None:
            continue  # switched off in the config
        if check.key in BROWSER_KEYS:
            found = ["found"] * browser_counts.get(check.key, 0)
            # 최신순 matters only when there are cards to sort.
            check = check if cards else replace(check, required=False)
        else:
            found = _found(tree, cards, check.key, value)
        rows.append(_row("naver", check, value, found))
    return [_naver_verdicts(row, cards, cfg, max_share) for row in rows]


def _naver_verdicts(
    row: ProbeRow, cards: list[LexborNode], cfg: NaverConfig, max_share: float
) -> ProbeRow:
    """Rating and date rows say more than "matched": the scale check, unreadable dates."""
    if row.key.endswith(".rating_selector") and row.matched:
        raw = [r for r in (naver.raw_rating(c, cfg) for c in cards) if r is not None]
        verdict, ok = scale_verdict(raw, cfg.rating_scale, "sources.naver.rating_scale", max_share)
        return replace(row, verdict=verdict, ok=ok)
    if row.key.endswith(".date_selector") and row.matched:
        now = datetime.now(UTC)
        for card in cards:
            node = card.css_first(cfg.date_selector)
            if node is None:
                continue  # stored as null, as the scrape does
            try:
                naver.parse_naver_date(node.text(deep=True), now)
            except ValueError as exc:
                return replace(row, verdict=f"{exc}: those cards are rejected", ok=False)
    return row


async def _probe_naver(fetcher: Fetcher, cfg: NaverConfig, entry: TitleEntry) -> ProbeReport:
    url = naver.search_url(cfg, entry)
    async with fetcher.page(url) as ps:
        counts = {}
        for key in BROWSER_KEYS:
            selector = getattr(cfg, key)
            counts[key] = await ps.page.locator(selector).count() if selector else 0
        html = await ps.page.content()
    rows = naver_rows(html, cfg, fetcher.cfg.max_bad_rating_share, counts)
    return ProbeReport("naver", entry.label, url, rows)


# --- Watcha ----------------------------------------------------------------------------

WATCHA_CHECKS = (
    Check("comment id", "id_field", "every comment is rejected", True),
    Check("text", "text_field", "every comment is rejected", True),
    Check("rating", "rating_field", "every comment is rejected", True),
    Check("writer", "author_field", "author_hash stored as null"),
    Check("date", "date_field", "written_at stored as null"),
    Check("likes", "likes_field", "likes stored as null"),
    Check("spoiler", "spoiler_field", "spoiler stored as null"),
    Check("improper", "improper_field", "improper comments are no longer told apart"),
)


def watcha_comment_rows(payload: Any, cfg: WatchaConfig, max_share: float) -> list[ProbeRow]:
    """Rows for one page of the comments API."""
    items = watcha.dig(payload, cfg.list_field)
    items = items if isinstance(items, list) else []
    listed = Check("comments", "list_field", f"missing or empty: {FAILS}", True)
    rows = [_row("watcha", listed, cfg.list_field, [f"{len(items)} comments"] if items else [])]
    for check in WATCHA_CHECKS:
        path = getattr(cfg, check.key)
        present = [v for v in (watcha.dig(i, path) for i in items) if v is not watcha.MISSING]
        row = _row("watcha", check, path, [str(v) for v in present])
        if check.key == "rating_field" and present:
            numbers = [float(v) for v in present if isinstance(v, int | float)]
            key = "sources.watcha.rating_scale"
            verdict, ok = scale_verdict(numbers, cfg.rating_scale, key, max_share)
            unrated = sum(v is None for v in present)
            row = replace(row, verdict=verdict + (f"; {unrated} unrated" if unrated else ""), ok=ok)
        rows.append(row)
    nxt = watcha.dig(payload, cfg.next_field)
    paged = Check("next page", "next_field", "only the first page is read", True)
    rows.append(_row("watcha", paged, cfg.next_field, [] if nxt is watcha.MISSING else [str(nxt)]))
    return rows


async def _device(ps: PageSession, cfg: WatchaConfig, rows: list[ProbeRow]) -> dict[str, str]:
    """The API headers from the page's cookies; a row says whether the device cookie came."""
    cookies = {c["name"]: c["value"] for c in await ps.page.context.cookies(ps.url)}
    check = Check("device cookie", "device_cookie", f"not set by the site: every {FAILS}", True)
    rows.append(_row("watcha", check, cfg.device_cookie, [cookies.get(cfg.device_cookie, "")][:1]))
    return watcha.api_headers(cfg, cookies) if cookies.get(cfg.device_cookie) else {}


async def _call(
    fetcher: Fetcher, ps: PageSession, url: str, headers: dict[str, str], check: Check
) -> tuple[Any, ProbeRow]:
    try:
        payload = await fetcher.page_json(ps, url, headers)
    except FetchError as exc:
        failed = replace(_row("watcha", check, url, []), matched=None)
        return None, replace(failed, verdict=f"{exc}: every {FAILS}")
    return payload, replace(_row("watcha", check, url, ["HTTP 200"]), matched=None)


async def _probe_watcha(fetcher: Fetcher, cfg: WatchaConfig, entry: TitleEntry) -> ProbeReport:
    rows: list[ProbeRow] = []
    url = watcha.session_page_url(cfg)
    async with fetcher.page(url) as ps:
        headers = await _device(ps, cfg, rows)
        check = Check("search API", "search_path", f"every {FAILS}", True)
        search, row = await _call(fetcher, ps, watcha.search_url(cfg, entry.name), headers, check)
        rows.append(row)
        if search is None:
            return ProbeReport("watcha", entry.label, url, rows)
        listed = Check("search results", "search_list_field", f"{FAILS} (MarkupChanged)", True)
        try:
            hits = watcha.parse_search(search, cfg)
        except MarkupChanged as exc:
            rows.append(
                replace(_row("watcha", listed, cfg.search_list_field, []), verdict=str(exc))
            )
            return ProbeReport("watcha", entry.label, url, rows)
        hit = watcha.pick_title(hits, entry)
        found = [f"{h.title} ({h.year}) {h.content_id}" for h in hits]
        row = _row("watcha", listed, cfg.search_list_field, found)
        rows.append(row if hit else replace(row, verdict="no hit by this name and year", ok=False))
        if hit is None:
            return ProbeReport("watcha", entry.label, url, rows)
        url = watcha.content_page_url(cfg, hit.content_id)
        await fetcher.navigate(ps, url)
        headers = await _device(ps, cfg, [])
        check = Check("comments API", "comments_path", f"every {FAILS}", True)
        page_url = watcha.comments_url(cfg, hit.content_id)
        payload, row = await _call(fetcher, ps, page_url, headers, check)
        rows.append(row)
        if payload is not None:
            rows += watcha_comment_rows(payload, cfg, fetcher.cfg.max_bad_rating_share)
    return ProbeReport("watcha", entry.label, url, rows)


# --- entry point -----------------------------------------------------------------------


async def probe(
    scrape_cfg: ScrapeConfig,
    sources: list[NaverConfig | WatchaConfig],
    entry: TitleEntry,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> list[ProbeReport]:
    """One report per source, in order. Only reads the sites; writes nothing."""
    reports = []
    async with Fetcher(scrape_cfg, log) as fetcher:
        for cfg in sources:
            if isinstance(cfg, NaverConfig):
                reports.append(await _probe_naver(fetcher, cfg, entry))
            else:
                reports.append(await _probe_watcha(fetcher, cfg, entry))
    return reports
