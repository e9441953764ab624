"""Fixtures of the report tests: the report warehouse (tests/report/fixture.py), built once
per module, a report of it, and its data with hostile text in every field a page shows."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import pytest

from core.fonts import hangul_font_file
from core.warehouse import Warehouse
from etl.report import pages
from etl.report.build import ReportResult, build_report, read_report_data
from etl.report.glyphs import Glyphs
from etl.report.queries import ReportData, TitleData
from jobs.config import AppConfig, load_config
from tests.report import fixture


@pytest.fixture(scope="module")
def report_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report") / "wh"
    fixture.build(load_config(env={}, overrides={"warehouse.root": root}))
    return root


@pytest.fixture
def rcfg(report_template: Path, tmp_path: Path, clean_env: None) -> AppConfig:
    """Config of a fresh copy of the report warehouse."""
    root = tmp_path / "wh"
    shutil.copytree(report_template, root, symlinks=True)
    return load_config(env={}, overrides={"warehouse.root": root})


@pytest.fixture(scope="module")
def built(report_template: Path) -> ReportResult:
    """One report of the template warehouse (read-only for the tests that use it)."""
    cfg = load_config(env={}, overrides={"warehouse.root": report_template})
    return build_report(Warehouse(report_template), cfg.report)


# Markup, both quotes and ampersands, as a scraped title or review may hold them.
HOSTILE = "<script>alert(1)</script> \"quotes\" & 'ampersands' &amp; <b>bold</b>"
HOSTILE_TITLE = f"영화 {HOSTILE}"
HOSTILE_ID = f"id {HOSTILE}"  # not a plain file name: its page is named by a hash
HOSTILE_REVIEW = f"{HOSTILE} 별로였다"


@dataclass(frozen=True)
class Hostile:
    """The fixture's report data with HOSTILE text in every field of t1 a page shows (title
    name and id, reviews, keywords, an emotion name) and in the run page's text fields."""

    data: ReportData
    plots: dict[str, list[str]]

    @property
    def title(self) -> TitleData:  # the title page's data
        return self.data.titles[0]

    def write(self, dest: Path, glyphs: Glyphs) -> dict[str, Path]:
        """Every page kind (and the assets) into ``dest``: kind -> the page's path."""
        static = resources.files("etl.report") / "static"
        for name in pages.ASSETS:
            (dest / name).write_bytes((static / name).read_bytes())
        paths = {
            "index": dest / "index.html",
            "run": dest / "run.html",
            "title": dest / "titles" / pages.title_file(HOSTILE_ID),
        }
        paths["title"].parent.mkdir(parents=True, exist_ok=True)
        paths["index"].write_text(pages.index_page(self.data, "now"), "utf-8")
        paths["run"].write_text(
            pages.run_page(self.data.run, self.data, "now", self.plots), "utf-8"
        )
        paths["title"].write_text(
            pages.title_page(self.title, self.data, "now", glyphs, 5), "utf-8"
        )
        return paths


@pytest.fixture(scope="module")
def hostile(report_template: Path) -> Hostile:
    cfg = load_config(env={}, overrides={"warehouse.root": report_template})
    data = read_report_data(Warehouse(report_template), cfg.report)
    t1 = next(t for t in data.titles if t.title_id == "t1")
    title = replace(
        t1,
        title=HOSTILE_TITLE,
        title_id=HOSTILE_ID,
        emotions=[{**t1.emotions[0], "emotion": HOSTILE}, *t1.emotions[1:]],
        clusters=[
            {**c, "representative_text": HOSTILE_REVIEW, "keywords": [HOSTILE, "연기"]}
            for c in t1.clusters
        ],
        disagreements=[{**d, "text_raw": HOSTILE_REVIEW} for d in t1.disagreements],
        rating_gaps=[{**g, "text_raw": HOSTILE_REVIEW} for g in t1.rating_gaps],
    )
    index = [
        replace(r, title=HOSTILE_TITLE, title_id=HOSTILE_ID) if r.title_id == "t1" else r
        for r in data.index
    ]
    stages = [{**s, "command": HOSTILE, "error": HOSTILE} for s in data.run.stages]
    rejects = [{**r, "reason": HOSTILE} for r in data.run.rejects]
    models = [{**m, "base_id": HOSTILE} for m in data.run.models]
    run = replace(data.run, stages=stages, rejects=rejects, models=models)
    plots = {f"models/{HOSTILE}": [f"{HOSTILE}.png"]}
    return Hostile(replace(data, run=run, index=index, titles=[title]), plots)


@pytest.fixture(scope="module")
def glyphs() -> Glyphs:
    return Glyphs(hangul_font_file(None))
