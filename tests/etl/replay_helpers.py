"""Helpers for the scraper tests that crawl the local replay site in headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from core.catalog import open_reader
from core.stage import StageResult
from core.warehouse import Warehouse
from etl.replay import Corpus, ReplaySite
from etl.replay.corpus import Film
from etl.scrape_config import ScrapeConfig
from jobs.config import AppConfig, load_config
from jobs.runner import Run

CHROMIUM = ScrapeConfig().chromium_path
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (make system-deps)"
)

# Fast and still meaningful: a real interval and real retries, scaled down.
FAST = {
    "scrape.min_interval_s": 0.05,
    "scrape.jitter_s": 0.0,
    "scrape.timeout_s": 3.0,
    "scrape.retries": 3,
    "scrape.backoff_base_s": 0.05,
    "scrape.backoff_max_s": 0.2,
    "scrape.min_per_title": 10,
    "scrape.max_per_title": 30,
    "sources.naver.scroll_wait_s": 0.5,
}


def replay_site() -> Iterator[ReplaySite]:
    """Body of the modules' ``replay`` fixture: the demo corpus on two loopback ports."""
    with ReplaySite(Corpus(seed=7)) as site:
        yield site


def make_cfg(tmp_path: Path, site: ReplaySite, titles: list[str], **overrides: Any) -> AppConfig:
    titles_file = tmp_path / "titles.txt"
    titles_file.write_text("\n".join(titles) + "\n", encoding="utf-8")
    dotted = {k.replace("__", "."): v for k, v in overrides.items()}
    return load_config(
        env={},
        overrides={
            "warehouse.root": tmp_path / "wh",
            "scrape.titles_file": titles_file,
            **site.overrides(),
            **FAST,
            **dotted,
        },
    )


def scrape(cfg: AppConfig) -> StageResult:
    from etl import scrape as stage

    with Run(cfg, "scrape", show_progress=False) as run:
        return run.stage("scrape", stage.run)


def raw_rows(cfg: AppConfig, source: str | None = None) -> list[dict[str, Any]]:
    raw = Warehouse(cfg.warehouse.root).raw_dir
    files = sorted(raw.rglob("*.parquet"))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    return [r for r in rows if source is None or r["source"] == source]


def query(cfg: AppConfig, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with open_reader(Warehouse(cfg.warehouse.root)) as con:
        cur = con.execute(sql, params or [])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def title_rows(cfg: AppConfig) -> dict[tuple[str, str], dict[str, Any]]:
    """Latest scrape_titles row per (source, title)."""
    rows = query(cfg, "SELECT * FROM scrape_titles ORDER BY finished_at, run_id")
    return {(r["source"], r["title"]): r for r in rows}


def line(film: Film) -> str:
    """The film as a titles-list line (with its year: 올드보이 has two)."""
    return f"{film.name}\t{film.year}"


def film_with(
    corpus: Corpus, at_least: int = 0, below: int | None = None, exclude: set[str] | None = None
) -> Film:
    """A demo film with enough (or few enough) reviews on both sites."""
    for film in corpus.films:
        if exclude and film.name in exclude:
            continue
        counts = (film.count("watcha"), film.count("naver"))
        if min(counts) >= at_least and (below is None or max(counts) < below):
            return film
    raise LookupError("no such film in the corpus")
