"""The source table is the one place that names the sites: every row has a config section
and a site module with the two entry points, and the code around the sources follows it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from etl.scrape_config import SourcesConfig
from etl.sources import table

REPO = Path(__file__).resolve().parents[2]


def test_every_source_has_a_config_section_and_a_site_module() -> None:
    assert tuple(SourcesConfig.model_fields) == table.NAMES
    for source in table.SOURCES:
        module = table.site(source.name)
        assert source.name == module.SOURCE
        for entry in ("collect", "probe"):
            assert inspect.iscoroutinefunction(getattr(module, entry)), (source.name, entry)
        assert re.fullmatch(r"#[0-9a-f]{6}", source.color)


def test_no_module_outside_the_sources_branches_on_a_site_name() -> None:
    """Adding a site is one module plus one row: nothing else lists the sites."""
    names = "|".join(table.NAMES)
    quoted = re.compile(rf"""["'](?:{names})["']|\b(?:{names})_\w+\b""")
    outside = [
        p
        for folder in ("core", "etl", "models", "jobs", "sql")
        for p in (REPO / folder).rglob("*")
        if p.suffix in (".py", ".sql", ".html", ".toml")
        and "sources" not in p.relative_to(REPO).parts  # the site modules and their table
        and "replay" not in p.relative_to(REPO).parts  # the stand-in sites, one per source
        and "migrations" not in p.relative_to(REPO).parts  # history, never edited
        and p.name != "scrape_config.py"  # each site's config class
    ]
    hits = [
        f"{p.relative_to(REPO)}:{n}: {line.strip()}"
        for p in outside
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if quoted.search(line.split("#", 1)[0].split("--", 1)[0])
    ]
    assert hits == []


def test_by_name_refuses_an_unknown_source() -> None:
    assert table.by_name("watcha").label == "Watcha"
    with pytest.raises(ValueError, match=r"unknown source 'imdb' .*naver"):
        table.by_name("imdb")
