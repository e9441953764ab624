"""`kreview scrape --probe TITLE`: one title fetched, every selector and field checked.

What an operator runs when a site changes: for each configured selector or JSON field, how
many items it matched on the live page, the first values, and what the scrape would do with
it (ok, a null field, every item rejected, the title failing). Nothing is written.

This module holds what every site's probe shares (rows, checks, the scale verdict) and the
entry point; each site module's ``probe`` builds its rows (pure: page HTML or payload in,
rows out) and drives the browser for its own pages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from etl.fetch import Fetcher
from etl.scrape_config import ScrapeConfig
from etl.sources.table import site
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


def probe_row(source: str, check: Check, value: str, found: list[str]) -> ProbeRow:
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


# --- entry point -----------------------------------------------------------------------


async def probe(
    scrape_cfg: ScrapeConfig,
    sources: list[tuple[str, Any]],
    entry: TitleEntry,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> list[ProbeReport]:
    """One report per (source name, its config), in order. Only reads the sites."""
    reports = []
    async with Fetcher(scrape_cfg, log) as fetcher:
        for name, cfg in sources:
            reports.append(await site(name).probe(fetcher, cfg, entry))
    return reports
