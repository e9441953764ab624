"""The source table: every site kreview reads, one row each.

Everything that varies by site is looked up here (the scrape stage, the probe, the CLI's
``--source`` choice, the report's per-source columns and colours, the HTTP API's scope
parameter); nothing else names a site. Adding a site is one module in ``etl/sources/`` (with
``collect`` and ``probe``), its config class in ``etl/scrape_config.py`` (a field of
``SourcesConfig``), and one row below; docs/ARCHITECTURE.md has the checklist.

This module is imported by light code (config, report, serve), so it imports no site module:
:func:`site` loads one when a scrape or probe needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from types import ModuleType


@dataclass(frozen=True)
class Source:
    name: str  # the `source` column's value, the `sources.<name>` config section, the scope
    label: str  # how reports and tables name it
    color: str  # its colour in the report's charts
    module: str  # the site module: `collect(fetcher, cfg, plan)`, `probe(fetcher, cfg, entry)`


SOURCES = (
    Source("naver", "Naver", "#03a94d", "etl.sources.naver"),
    Source("watcha", "Watcha", "#ff2f6e", "etl.sources.watcha"),
)
NAMES = tuple(s.name for s in SOURCES)
LABELS = {s.name: s.label for s in SOURCES}
ALL_SCOPE = "all"  # the scope of figures over every source together
SCOPES = (ALL_SCOPE, *NAMES)


def by_name(name: str) -> Source:
    for source in SOURCES:
        if source.name == name:
            return source
    raise ValueError(f"unknown source {name!r} (sources: {', '.join(NAMES)})")


def site(name: str) -> ModuleType:
    """The site module of source ``name`` (imported on first use: Playwright, selectolax)."""
    return import_module(by_name(name).module)
