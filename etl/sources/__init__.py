"""One module per site (``naver``, ``watcha``): URLs, title-id resolution, paging, and pure
parsing of a payload or page into raw records plus rejects.

This package holds what they share: the record builder (RAW_SCHEMA row), rejects, the
selector-health error, and the per-title plan and outcome that the scrape stage passes around.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from etl.raw_schema import author_hash, review_key
from etl.titles import TitleEntry

RawRecord = dict[str, Any]  # one row of RAW_SCHEMA, keyed by column name

_NON_WORD = re.compile(r"[\W_]+")


class MarkupChanged(RuntimeError):
    """A page or payload that promises reviews yields none: the site changed its markup or
    JSON. Names the source and the selector (or field) that no longer matches."""

    def __init__(self, source: str, selector: str, detail: str) -> None:
        self.source = source
        self.selector = selector
        super().__init__(f"{source}: selector {selector!r} {detail}")


class RatingScaleMismatch(RuntimeError):
    """More than a small share of a title's ratings fall outside 0-10 after the configured
    scale: the scale is wrong (or the site changed it), so none of the title's ratings can
    be trusted. Fails the title instead of rejecting rows one by one (a silent skew)."""

    def __init__(self, source: str, key: str, scale: float, seen_max: float, bad: int, rated: int):
        self.source = source
        super().__init__(
            f"{source}: rating scale mismatch: saw values up to {seen_max:g} with "
            f"{key} {scale:g} ({bad} of {rated} ratings outside 0-10 after ×{scale:g}; "
            f"fix {key}, check with `kreview scrape --probe TITLE --source {source}`)"
        )


@dataclass
class RatingTally:
    """A title's ratings as the site gave them, before scaling: the evidence for a scale check."""

    rated: int = 0
    out_of_range: int = 0
    seen_max: float = 0.0

    def add(self, raw: float, scale: float) -> None:
        """Count one rating as the site gave it."""
        self.rated += 1
        self.seen_max = max(self.seen_max, raw)
        self.out_of_range += not 0 <= raw * scale <= 10

    def check(self, source: str, key: str, scale: float, max_share: float) -> None:
        """Raise RatingScaleMismatch when too many ratings fell outside the scale (at least 3,
        so that one odd item on a small title stays a per-item reject)."""
        if self.out_of_range >= 3 and self.out_of_range > max_share * self.rated:
            raise RatingScaleMismatch(
                source, key, scale, self.seen_max, self.out_of_range, self.rated
            )


@dataclass(frozen=True)
class Reject:
    """An item that could not become a record; it goes to the quarantine."""

    reason: str  # short code: missing_id, missing_text, bad_rating, bad_date, malformed_json...
    detail: str
    raw: str  # the item or payload as it arrived, truncated
    review_id: str | None = None
    # The selector or JSON field at fault, if one is: names it when a whole page fails.
    selector: str | None = None


@dataclass(frozen=True)
class ParsedPage:
    records: list[RawRecord]
    rejects: list[Reject]
    items: int  # items the page held (records + rejects)
    # Ratings as the site gave them (before scaling), for the title's scale check.
    raw_ratings: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class RecordContext:
    """What every record of one page shares."""

    source: str
    title: TitleEntry
    source_title_id: str
    salt: str
    run_id: str
    scraped_at: datetime


@dataclass(frozen=True)
class TitlePlan:
    """Inputs of one title's crawl on one source."""

    entry: TitleEntry
    # Review ids of this source already in raw (all titles: an id is unique per source).
    known_ids: frozenset[str]
    # Stop at the first known review: only once an earlier run paged this title to its end
    # (or its cap) cleanly; after a failed run, known reviews are skipped but paging goes on.
    stop_at_known: bool
    max_new: int
    salt: str
    run_id: str


@dataclass
class TitleCrawl:
    """What one title's crawl on one source produced (records kept even when it failed)."""

    entry: TitleEntry
    source: str
    source_title_id: str | None = None
    records: list[RawRecord] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    items_seen: int = 0
    duplicates: int = 0
    pages: int = 0
    not_found: bool = False
    ratings: RatingTally = field(default_factory=RatingTally)
    # Spoiler cards whose text the page kept hidden (the spoiler switch was not turned on).
    spoiler_hidden: int = 0
    # Paging ended normally: end of list, cap reached, or known reviews reached.
    complete: bool = False
    error: str | None = None
    _seen: set[str] = field(default_factory=set, repr=False)

    def absorb(self, records: list[RawRecord], plan: TitlePlan) -> bool:
        """Keep records not collected before, up to the cap. True if a known review was met."""
        reached_known = False
        for rec in records:
            rid = rec["review_id"]
            if rid in plan.known_ids:
                reached_known = True
                self.duplicates += 1
            elif rid in self._seen:
                # Paging shifted under us (a new review pushed items down a page).
                self.duplicates += 1
            elif len(self.records) < plan.max_new:
                self._seen.add(rid)
                self.records.append(rec)
        return reached_known


def make_record(
    ctx: RecordContext,
    *,
    review_id: str,
    text: str,
    rating: float | None,
    author: str | None,
    written_at: datetime | None,
    likes: int | None,
    spoiler: bool | None,
    url: str,
    improper: bool | None = None,
) -> RawRecord:
    """A RAW_SCHEMA row. The author is hashed here and never leaves this function."""
    return {
        "source": ctx.source,
        "review_id": review_id,
        "review_key": review_key(ctx.source, review_id),
        "title_id": ctx.title.title_id,
        "title": ctx.title.name,
        "source_title_id": ctx.source_title_id,
        "rating": rating,
        "text": text,
        "author_hash": author_hash(ctx.salt, ctx.source, author) if author else None,
        "written_at": written_at,
        "likes": likes,
        "spoiler": spoiler,
        "improper": improper,
        "url": url,
        "scraped_at": ctx.scraped_at,
        "run_id": ctx.run_id,
    }


def snippet(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def check_health(source: str, page: ParsedPage, promised: int | None, item_selector: str) -> None:
    """A page that promises reviews but parses to none is an error naming the selector.

    ``promised``: reviews the page says it has (None: it says nothing). Items that all failed
    point at the selector or field most of them failed on.
    """
    if page.items == 0:
        if promised:
            raise MarkupChanged(
                source, item_selector, f"matched nothing on a page that promises {promised}"
            )
        return
    if page.records:
        return
    faults = Counter(r.selector for r in page.rejects if r.selector)
    selector = faults.most_common(1)[0][0] if faults else item_selector
    raise MarkupChanged(
        source, selector, f"matched nothing usable in any of {page.items} items on the page"
    )


def same_title(a: str, b: str) -> bool:
    """Title names equal up to case, spaces and punctuation ("어벤져스: 엔드게임")."""
    return _NON_WORD.sub("", a).casefold() == _NON_WORD.sub("", b).casefold()
