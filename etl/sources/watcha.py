"""Watcha Pedia: a JSON API, same-origin with the web app. Search resolves a title to its
content code; comments come in pages (``result.result``) linked by ``next_uri``. Ratings are
integers 1–10 (10 = 5 stars), already raw's 0–10 scale.

The API refuses clients that do not look like the web app (403 ``not_allowed_client``), so
the crawl goes through a browser page as a reader would: open the site (it sets the
``_c_pdi`` device cookie), search from there, open the title's page, and fetch the comments
from it with the web app's headers and the device id taken from the cookie.

Parsing is pure (payload in, records and rejects out); :func:`collect` drives the browser
through a :class:`~etl.fetch.Fetcher`. Every field, path and header lives in
:class:`WatchaConfig`, and docs/sources/watcha.md says where each one comes from.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin
from zoneinfo import ZoneInfo

from playwright.async_api import Error as PlaywrightError

from etl.fetch import Fetcher, FetchError, MalformedPayload, PageSession, Refused
from etl.probe import FAILS, Check, ProbeReport, ProbeRow, probe_row, scale_verdict
from etl.scrape_config import WatchaConfig
from etl.sources import (
    MarkupChanged,
    ParsedPage,
    RatingScaleMismatch,
    RecordContext,
    Reject,
    TitleCrawl,
    TitlePlan,
    check_health,
    make_record,
    same_title,
    snippet,
)
from etl.titles import TitleEntry

SOURCE = "watcha"
RATING_KEY = "sources.watcha.rating_scale"
KST = ZoneInfo("Asia/Seoul")

MISSING: Any = object()  # a level absent in a payload (null is None)


def dig(obj: Any, dotted: str) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"``; ``MISSING`` where a level is absent."""
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return MISSING
        obj = obj[part]
    return obj


# --- URLs ------------------------------------------------------------------------------


def search_url(cfg: WatchaConfig, name: str) -> str:
    return cfg.api_base_url.rstrip("/") + cfg.search_path.format(query=quote(name))


def comments_url(cfg: WatchaConfig, content_id: str, page: int = 1) -> str:
    path = cfg.comments_path.format(content_id=quote(content_id), page=page, size=cfg.page_size)
    return cfg.api_base_url.rstrip("/") + path


def comment_url(cfg: WatchaConfig, comment_id: str) -> str:
    return cfg.web_base_url.rstrip("/") + cfg.comment_url_path.format(comment_id=quote(comment_id))


def session_page_url(cfg: WatchaConfig) -> str:
    return cfg.web_base_url.rstrip("/") + cfg.session_page_path


def content_page_url(cfg: WatchaConfig, content_id: str) -> str:
    return cfg.web_base_url.rstrip("/") + cfg.content_page_path.format(content_id=quote(content_id))


def api_headers(cfg: WatchaConfig, cookies: dict[str, str]) -> dict[str, str]:
    """The web app's headers plus the device id from the cookie the site set. A missing
    cookie means the site changed how it identifies devices: fail naming the cookie."""
    device = cookies.get(cfg.device_cookie)
    if not device:
        raise MarkupChanged(
            SOURCE, cfg.device_cookie, "(the device cookie) was not set by the site's page"
        )
    return {
        **cfg.api_headers,
        cfg.device_header: cfg.device_header_template.format(cookie=device),
    }


# --- pure parsing ----------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    content_id: str
    title: str
    year: int | None


def parse_search(payload: Any, cfg: WatchaConfig) -> list[SearchHit]:
    """Films in a search payload. A missing list is a changed API, not "no results"."""
    items = dig(payload, cfg.search_list_field)
    if items is MISSING or not isinstance(items, list):
        raise MarkupChanged(SOURCE, cfg.search_list_field, "is missing from the search payload")
    hits: list[SearchHit] = []
    for item in items:
        cid, title, year = (
            dig(item, cfg.search_id_field),
            dig(item, cfg.search_title_field),
            dig(item, cfg.search_year_field),
        )
        if not isinstance(cid, str | int) or not isinstance(title, str):
            continue  # not a film entry (or one we cannot name): it cannot be picked anyway
        hits.append(SearchHit(str(cid), title, year if isinstance(year, int) else None))
    return hits


def pick_title(hits: list[SearchHit], entry: TitleEntry) -> SearchHit | None:
    """The hit that is this entry: same name (up to case, spaces, punctuation) and, when the
    list gives a year, the same year. No loose match: a wrong film is worse than none."""
    named = [h for h in hits if same_title(h.title, entry.name)]
    if entry.year is not None:
        named = [h for h in named if h.year == entry.year]
    return named[0] if named else None


def parse_written_at(value: Any) -> datetime | None:
    """ISO 8601 as the API sends it; a naive time is Korean local time. None if absent."""
    if value is None or value is MISSING:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date string: {value!r}")
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=KST)
    return when.astimezone(UTC)


def _rating_value(value: Any) -> float | None:
    """The rating as the API gave it; None for a comment without one (null)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"rating is not a number: {value!r}")
    return float(value)


def _likes(value: Any) -> int | None:
    if value is None or value is MISSING:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"likes is not a count: {value!r}")
    return value


def _dump(item: Any, limit: int) -> str:
    return snippet(json.dumps(item, ensure_ascii=False, default=str), limit)


def parse_comment(
    item: Any, cfg: WatchaConfig, ctx: RecordContext, snippet_chars: int = 2000
) -> dict[str, Any] | Reject:
    """One comment object → a raw record, or a Reject naming the field at fault."""

    def _dump_item(obj: Any) -> str:
        return _dump(obj, snippet_chars)

    if not isinstance(item, dict):
        return Reject("not_an_object", f"comment is {type(item).__name__}", _dump_item(item))
    rid = dig(item, cfg.id_field)
    if not isinstance(rid, str | int) or isinstance(rid, bool) or str(rid) == "":
        return Reject("missing_id", f"no {cfg.id_field}", _dump_item(item), None, cfg.id_field)
    rid = str(rid)
    text = dig(item, cfg.text_field)
    if not isinstance(text, str):
        return Reject("missing_text", f"no {cfg.text_field}", _dump_item(item), rid, cfg.text_field)
    if not text.strip():
        return Reject("empty_text", "text is blank", _dump_item(item), rid, cfg.text_field)
    # A missing rating field (not a null one) is a changed API: the page check names it.
    raw_rating = dig(item, cfg.rating_field)
    if raw_rating is MISSING:
        return Reject(
            "missing_rating", f"no {cfg.rating_field}", _dump_item(item), rid, cfg.rating_field
        )
    try:
        value = _rating_value(raw_rating)
    except ValueError as exc:
        return Reject("bad_rating", str(exc), _dump_item(item), rid, cfg.rating_field)
    rating = None if value is None else value * cfg.rating_scale
    if rating is not None and not 0 <= rating <= 10:
        return Reject(
            "bad_rating",
            f"rating {raw_rating!r} outside 0–10 after ×{cfg.rating_scale:g}",
            _dump_item(item),
            rid,
            cfg.rating_field,
        )
    fields: dict[str, Any] = {}
    for name, path, conv in (
        ("written_at", cfg.date_field, parse_written_at),
        ("likes", cfg.likes_field, _likes),
    ):
        try:
            fields[name] = conv(dig(item, path))
        except ValueError as exc:
            reason = {"written_at": "bad_date", "likes": "bad_likes"}
            return Reject(reason[name], str(exc), _dump_item(item), rid, path)
    author = dig(item, cfg.author_field)
    spoiler = dig(item, cfg.spoiler_field)
    improper = dig(item, cfg.improper_field)
    return make_record(
        ctx,
        review_id=rid,
        text=text,
        rating=rating,
        author=str(author) if isinstance(author, str | int) else None,
        written_at=fields["written_at"],
        likes=fields["likes"],
        spoiler=spoiler if isinstance(spoiler, bool) else None,
        url=comment_url(cfg, rid),
        improper=improper if isinstance(improper, bool) else None,
    )


@dataclass(frozen=True)
class CommentsPage:
    page: ParsedPage
    next_uri: str | None


def parse_comments(
    payload: Any, cfg: WatchaConfig, ctx: RecordContext, snippet_chars: int = 2000
) -> CommentsPage:
    """One page of the comments API → records, rejects, the ratings as given (for the
    title's scale check) and the next page's URI."""
    items = dig(payload, cfg.list_field)
    if items is MISSING or not isinstance(items, list):
        raise MarkupChanged(SOURCE, cfg.list_field, "is missing from the comments payload")
    records, rejects = [], []
    for item in items:
        out = parse_comment(item, cfg, ctx, snippet_chars)
        (rejects if isinstance(out, Reject) else records).append(out)
    raw_ratings = [
        float(v)
        for v in (dig(item, cfg.rating_field) for item in items)
        if isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(v)
    ]
    nxt = dig(payload, cfg.next_field)
    return CommentsPage(
        ParsedPage(records, rejects, len(items), raw_ratings),
        nxt if isinstance(nxt, str) and nxt else None,
    )


# --- crawling --------------------------------------------------------------------------


async def collect(fetcher: Fetcher, cfg: WatchaConfig, plan: TitlePlan) -> TitleCrawl:
    """Resolve the title, then page its comments until the cap, the end, or known reviews.

    Failures are recorded on the result (with what was collected before them), not raised:
    one failing title must not stop the others. A wrong rating scale drops the title's
    records: none of its ratings can be trusted.
    """
    out = TitleCrawl(plan.entry, SOURCE)
    try:
        async with fetcher.page(session_page_url(cfg)) as ps:
            await _collect(fetcher, ps, cfg, plan, out)
    except MalformedPayload as exc:
        out.rejects.append(Reject("malformed_json", str(exc), exc.snippet))
        out.error = f"MalformedPayload: {exc}"
    except Refused as exc:
        out.error = (
            f"Refused: the API refused the client ({exc}); the web app's headers or cookies "
            "changed: update [sources.watcha] from docs/sources/watcha.md and check with "
            f"`kreview scrape --probe '{plan.entry.name}' --source watcha`"
        )
    except RatingScaleMismatch as exc:
        out.records.clear()
        out.error = f"RatingScaleMismatch: {exc}"
    except (FetchError, MarkupChanged) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    except PlaywrightError as exc:  # e.g. the browser went away mid-request
        out.error = f"browser error: {str(exc).splitlines()[0]}"
    return out


async def _collect(
    fetcher: Fetcher, ps: PageSession, cfg: WatchaConfig, plan: TitlePlan, out: TitleCrawl
) -> None:
    headers = api_headers(cfg, await _cookies(ps))
    search = await fetcher.page_json(ps, search_url(cfg, plan.entry.name), headers)
    hit = pick_title(parse_search(search, cfg), plan.entry)
    if hit is None:
        out.not_found = True
        out.complete = True
        return
    out.source_title_id = hit.content_id
    # The title's own page, as a reader would open it: the Referer of the comment requests.
    await fetcher.navigate(ps, content_page_url(cfg, hit.content_id))
    headers = api_headers(cfg, await _cookies(ps))
    url: str | None = comments_url(cfg, hit.content_id)
    while url is not None:
        payload = await fetcher.page_json(ps, url, headers)
        ctx = RecordContext(
            SOURCE, plan.entry, hit.content_id, plan.salt, plan.run_id, datetime.now(UTC)
        )
        out.pages += 1
        parsed = parse_comments(payload, cfg, ctx, fetcher.cfg.snippet_chars)
        out.items_seen += parsed.page.items
        out.rejects.extend(parsed.page.rejects)
        # The scale first: a page whose every rating is out of range is a wrong scale, and
        # the message should say so rather than blame the rating field.
        for value in parsed.page.raw_ratings:
            out.ratings.add(value, cfg.rating_scale)
        out.ratings.check(
            SOURCE,
            RATING_KEY,
            cfg.rating_scale,
            fetcher.cfg.max_bad_rating_share,
        )
        check_health(SOURCE, parsed.page, None, cfg.list_field)
        reached_known = out.absorb(parsed.page.records, plan)
        if len(out.records) >= plan.max_new or (reached_known and plan.stop_at_known):
            break
        url = urljoin(cfg.api_base_url, parsed.next_uri) if parsed.next_uri else None
    out.complete = True


async def _cookies(ps: PageSession) -> dict[str, str]:
    """The cookies the browser holds for the page's URL."""
    return {c["name"]: c["value"] for c in await ps.page.context.cookies(ps.url)}


# --- probe (`kreview scrape --probe`) ---------------------------------------------------

PROBE_CHECKS = (
    Check("comment id", "id_field", "every comment is rejected", True),
    Check("text", "text_field", "every comment is rejected", True),
    Check("rating", "rating_field", "every comment is rejected", True),
    Check("writer", "author_field", "author_hash stored as null"),
    Check("date", "date_field", "written_at stored as null"),
    Check("likes", "likes_field", "likes stored as null"),
    Check("spoiler", "spoiler_field", "spoiler stored as null"),
    Check("improper", "improper_field", "improper comments are no longer told apart"),
)


def probe_comment_rows(payload: Any, cfg: WatchaConfig, max_share: float) -> list[ProbeRow]:
    """Rows for one page of the comments API."""
    items = dig(payload, cfg.list_field)
    items = items if isinstance(items, list) else []
    listed = Check("comments", "list_field", f"missing or empty: {FAILS}", True)
    rows = [probe_row(SOURCE, listed, cfg.list_field, [f"{len(items)} comments"] if items else [])]
    for check in PROBE_CHECKS:
        path = getattr(cfg, check.key)
        present = [v for v in (dig(i, path) for i in items) if v is not MISSING]
        row = probe_row(SOURCE, check, path, [str(v) for v in present])
        if check.key == "rating_field" and present:
            numbers = [float(v) for v in present if isinstance(v, int | float)]
            key = RATING_KEY
            verdict, ok = scale_verdict(numbers, cfg.rating_scale, key, max_share)
            unrated = sum(v is None for v in present)
            row = replace(row, verdict=verdict + (f"; {unrated} unrated" if unrated else ""), ok=ok)
        rows.append(row)
    nxt = dig(payload, cfg.next_field)
    paged = Check("next page", "next_field", "only the first page is read", True)
    rows.append(probe_row(SOURCE, paged, cfg.next_field, [] if nxt is MISSING else [str(nxt)]))
    return rows


async def _device(ps: PageSession, cfg: WatchaConfig, rows: list[ProbeRow]) -> dict[str, str]:
    """The API headers from the page's cookies; a row says whether the device cookie came."""
    cookies = {c["name"]: c["value"] for c in await ps.page.context.cookies(ps.url)}
    check = Check("device cookie", "device_cookie", f"not set by the site: every {FAILS}", True)
    found = [cookies.get(cfg.device_cookie, "")][:1]
    rows.append(probe_row(SOURCE, check, cfg.device_cookie, found))
    return api_headers(cfg, cookies) if cookies.get(cfg.device_cookie) else {}


async def _call(
    fetcher: Fetcher, ps: PageSession, url: str, headers: dict[str, str], check: Check
) -> tuple[Any, ProbeRow]:
    try:
        payload = await fetcher.page_json(ps, url, headers)
    except FetchError as exc:
        failed = replace(probe_row(SOURCE, check, url, []), matched=None)
        return None, replace(failed, verdict=f"{exc}: every {FAILS}")
    return payload, replace(probe_row(SOURCE, check, url, ["HTTP 200"]), matched=None)


async def probe(fetcher: Fetcher, cfg: WatchaConfig, entry: TitleEntry) -> ProbeReport:
    """The search and comments APIs called as the scrape calls them, every field checked
    (reads only)."""
    rows: list[ProbeRow] = []
    url = session_page_url(cfg)
    async with fetcher.page(url) as ps:
        headers = await _device(ps, cfg, rows)
        check = Check("search API", "search_path", f"every {FAILS}", True)
        search, row = await _call(fetcher, ps, search_url(cfg, entry.name), headers, check)
        rows.append(row)
        if search is None:
            return ProbeReport(SOURCE, entry.label, url, rows)
        listed = Check("search results", "search_list_field", f"{FAILS} (MarkupChanged)", True)
        try:
            hits = parse_search(search, cfg)
        except MarkupChanged as exc:
            rows.append(
                replace(probe_row(SOURCE, listed, cfg.search_list_field, []), verdict=str(exc))
            )
            return ProbeReport(SOURCE, entry.label, url, rows)
        hit = pick_title(hits, entry)
        found = [f"{h.title} ({h.year}) {h.content_id}" for h in hits]
        row = probe_row(SOURCE, listed, cfg.search_list_field, found)
        rows.append(row if hit else replace(row, verdict="no hit by this name and year", ok=False))
        if hit is None:
            return ProbeReport(SOURCE, entry.label, url, rows)
        url = content_page_url(cfg, hit.content_id)
        await fetcher.navigate(ps, url)
        headers = await _device(ps, cfg, [])
        check = Check("comments API", "comments_path", f"every {FAILS}", True)
        page_url = comments_url(cfg, hit.content_id)
        payload, row = await _call(fetcher, ps, page_url, headers, check)
        rows.append(row)
        if payload is not None:
            rows += probe_comment_rows(payload, cfg, fetcher.cfg.max_bad_rating_share)
    return ProbeReport(SOURCE, entry.label, url, rows)
