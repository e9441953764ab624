"""The report's files: numbers from the views, escaping, atomic replacement, the CLI and
the pipeline stage. The browser tests (test_browser.py) look at the same pages in Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.catalog import open_reader, open_writer
from core.fonts import HangulFontMissing
from core.warehouse import Warehouse
from etl.report.build import ReportResult, ViewsMissing, build_report
from etl.report.pages import title_file
from etl.snapshots import prune
from jobs import pipeline
from jobs.config import AppConfig, load_config
from jobs.runner import Run
from tests.report import fixture

REPO = Path(__file__).resolve().parents[2]


def kreview(
    cfg: AppConfig, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    full_env.update(KREVIEW_WAREHOUSE__ROOT=str(cfg.warehouse.root), PYTHONPATH=str(REPO))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", "-q", *args],
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
        cwd=cfg.warehouse.root.parent,
        timeout=120,
    )


def test_report_layout_and_latest_link(built: ReportResult) -> None:
    root = built.path
    assert root.parent.joinpath("latest").resolve() == root
    names = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert {"index.html", "run.html", "report.css", "report.js"} <= names
    assert {f"titles/{title_file(t)}" for t in ("t1", "t2", "t3")} <= names
    # the current models' plots are copied, the old version's folder is not
    plots = {p for p in names if p.startswith("models/")}
    assert plots == {
        "models/sentiment/sent-v1/learning_curves.png",
        "models/emotion/emo-v1/per_label_f1.png",
    }
    assert built.pages == 5 and built.titles == 3 and built.plots == 2
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".")]


def test_no_page_refers_to_anything_outside_the_report(built: ReportResult) -> None:
    for page in built.path.rglob("*.html"):
        html = page.read_text("utf-8")
        # no URL with a scheme or a protocol-relative one: nothing to fetch from a network
        assert not re.search(r"""(src|href)=["']?(https?:|//)""", html), page
        assert "@import" not in html and "url(http" not in html
    css = (built.path / "report.css").read_text("utf-8")
    assert "url(" not in css and "@import" not in css and "@font-face" not in css


def test_scraped_text_is_escaped(built: ReportResult) -> None:
    t1 = (built.path / "titles" / "t1.html").read_text("utf-8")
    assert "<script>alert(1)</script>" not in t1
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 별로였다 &amp; 지루함" in t1
    assert "&lt;b&gt;r1&lt;/b&gt; 리뷰" in t1 and "<b>r1</b>" not in t1  # a cluster's review
    assert len(re.findall(r"<script\b", t1)) == 1  # only the report's own report.js
    index = (built.path / "index.html").read_text("utf-8")
    assert "톰 &amp; 제리 &lt;i&gt;&#34;극장판&#34;&lt;/i&gt;" in index  # markupsafe's &#34;
    assert "<i>" not in index


def test_charts_are_inline_svg_drawing_the_view_values(built: ReportResult) -> None:
    t1 = (built.path / "titles" / "t1.html").read_text("utf-8")
    charts = re.findall(r'<svg class="chart".*?</svg>', t1, re.S)
    assert len(charts) == 4  # distribution, emotions, trend, sources
    assert "<text" not in t1  # glyphs as paths: Korean shows without a font where it is viewed
    assert not re.search(r'\bid="', "".join(charts))  # nothing that could clash on the page
    wh = Warehouse(built.path.parent.parent)
    with open_reader(wh) as con:
        bins = con.execute(
            "SELECT n_reviews FROM title_sentiment_distribution"
            " WHERE title_id = 't1' AND scope = 'all' ORDER BY bin"
        ).fetchall()
        emotions = con.execute(
            "SELECT mean_intensity FROM title_emotions WHERE title_id = 't1'"
            " ORDER BY mean_intensity DESC, emotion_idx"
        ).fetchall()
    drawn = [re.findall(r'data-value="([^"]+)"', c) for c in charts]
    assert [float(v) for v in drawn[0]] == [float(n) for (n,) in bins]  # one bar per bin
    assert [float(v) for v in drawn[1]] == [v for (v,) in emotions]  # 44 bars, strongest first
    assert len(drawn[1]) == 44


def test_rebuild_replaces_the_report_of_the_same_run_and_prunes(rcfg: AppConfig) -> None:
    wh = Warehouse(rcfg.warehouse.root)
    first = build_report(wh, rcfg.report)
    (first.path / "stale.txt").write_text("from an older build")
    again = build_report(wh, rcfg.report)
    assert again.path == first.path and not (again.path / "stale.txt").exists()
    other = build_report(wh, rcfg.report, run_id="29991231T000000Z-ffffff")
    assert (wh.reports_dir / "latest").resolve() == other.path
    assert prune(wh.reports_dir, keep=1) == [first.path]
    assert (wh.reports_dir / "latest").resolve() == other.path


def test_a_dead_builds_temp_folder_is_removed(rcfg: AppConfig) -> None:
    wh = Warehouse(rcfg.warehouse.root)
    # a killed build's folder: its pid (above any pid_max) is not alive
    stale = wh.reports_dir / ".tmp-20260101T000000Z-aaaaaa-999999999"
    stale.mkdir(parents=True)
    build_report(wh, rcfg.report)
    assert not stale.exists()


def _pages(result: ReportResult) -> list[str]:
    return sorted(p.name for p in (result.path / "titles").iterdir())


def _linked(result: ReportResult) -> dict[str, str | None]:
    """title id -> the page its index row links to (None: no link), for every index row."""
    index = (result.path / "index.html").read_text("utf-8")
    out: dict[str, str | None] = {}
    for tid, row in re.findall(r'<tr data-title-id="([^"]+)"(.*?)</tr>', index, re.S):
        link = re.search(r'<a href="titles/([^"]+)"', row)
        out[tid] = link.group(1) if link else None
    return out


def test_pages_only_for_the_most_reviewed_and_the_titles_asked(rcfg: AppConfig) -> None:
    wh = Warehouse(rcfg.warehouse.root)
    fixture.add_titles(wh)
    every = {"t1", "t2", "t3"} | {tid for tid, _, _ in fixture.MORE_TITLES}
    cfg = load_config(
        env={},
        overrides={
            "warehouse.root": rcfg.warehouse.root,
            "report.max_title_pages": 2,
            "report.disagreement_pages": 0,
        },
    )
    top = build_report(wh, cfg.report)
    assert _pages(top) == ["x5.html", "x6.html"]  # 6 and 7 reviews: the most reviewed
    assert top.titles == len(every) == 9 and top.pages == 2 + 2
    links = _linked(top)
    assert set(links) == every  # the index still lists every title
    assert {t for t, page in links.items() if page} == {"x5", "x6"}
    assert all(page == title_file(t) for t, page in links.items() if page)
    index = (top.path / "index.html").read_text("utf-8")
    assert "2 of 9 titles have a page" in index and "kreview report --title ID" in index

    asked = build_report(wh, cfg.report, titles=("괴물", "x1"))  # by name and by id
    assert _pages(asked) == ["t1.html", "x1.html", "x5.html", "x6.html"]
    assert {t for t, page in _linked(asked).items() if page} == {"t1", "x1", "x5", "x6"}
    with pytest.raises(LookupError, match="없는영화"):
        build_report(wh, cfg.report, titles=("없는영화",))


def test_pages_for_the_titles_with_the_most_disagreements(rcfg: AppConfig) -> None:
    wh = Warehouse(rcfg.warehouse.root)
    fixture.add_titles(wh)
    cfg = load_config(
        env={},
        overrides={
            "warehouse.root": rcfg.warehouse.root,
            "report.max_title_pages": 1,
            "report.disagreement_pages": 1,
        },
    )
    result = build_report(wh, cfg.report)
    # x6 has the most reviews; of the others x2 holds the most stars-vs-sentiment contradictions
    assert _pages(result) == ["x2.html", "x6.html"]
    x2 = (result.path / "titles" / "x2.html").read_text("utf-8")
    assert x2.count('<tr data-review-id="x2-r') == 2  # both listed as worth a look


def test_every_title_gets_a_page_when_few(built: ReportResult) -> None:
    assert all(_linked(built).values()) and len(_linked(built)) == 3
    assert "Every title has a page (3)" in (built.path / "index.html").read_text("utf-8")


def test_cli_prints_the_index_path(rcfg: AppConfig, tmp_path: Path) -> None:
    out = tmp_path / "site"
    no_pages = {"KREVIEW_REPORT__MAX_TITLE_PAGES": "0", "KREVIEW_REPORT__DISAGREEMENT_PAGES": "0"}
    proc = kreview(rcfg, "report", "--out", str(out), "--title", fixture.ODD_TITLE, env=no_pages)
    assert proc.returncode == 0, proc.stderr
    index = Path(proc.stdout.strip().splitlines()[-1])
    assert index.is_file() and index.parent.parent == out
    assert [p.name for p in (index.parent / "titles").iterdir()] == ["t3.html"]
    assert "3 titles, 3 pages" in proc.stdout  # index, run page, the one asked for
    bad = kreview(rcfg, "report", "--title", "없는영화")
    assert bad.returncode == 2 and "no title named '없는영화'" in bad.stderr


def test_report_is_the_pipelines_last_stage(rcfg: AppConfig) -> None:
    assert pipeline.STAGES[-1] == "report" and pipeline.STAGES[-2] == "export"
    with Run(rcfg, "run", show_progress=False) as run:
        res = run.stage("report", pipeline._stage("report"))
    index = Path(res.details["path"])
    assert index == Warehouse(rcfg.warehouse.root).reports_dir / run.run_id / "index.html"
    assert res.rows_in == 3 and res.rows_out == 5 and index.is_file()
    assert {"read_s", "index_s", "pages_s", "write_s"} <= res.details.keys()
    run_html = (index.parent / "run.html").read_text("utf-8")
    assert run.run_id in run_html and 'data-stage="report"' in run_html  # this run, running
    with open_reader(Warehouse(rcfg.warehouse.root)) as con:
        status = con.execute(
            "SELECT status FROM run_stages WHERE run_id = ? AND stage = 'report'", [run.run_id]
        ).fetchone()
    assert status == ("succeeded",)


def test_no_hangul_font_stops_the_build_before_anything_is_written(rcfg: AppConfig) -> None:
    cfg = load_config(
        env={}, overrides={"warehouse.root": rcfg.warehouse.root, "report.font": "DejaVu Sans"}
    )
    wh = Warehouse(cfg.warehouse.root)
    before = sorted(wh.reports_dir.iterdir()) if wh.reports_dir.exists() else []
    with pytest.raises(HangulFontMissing, match="fonts-nanum"):
        build_report(wh, cfg.report)
    assert sorted(wh.reports_dir.iterdir()) == before  # no report, no temp folder left


def test_a_catalog_without_the_report_views_says_what_to_do(rcfg: AppConfig) -> None:
    wh = Warehouse(rcfg.warehouse.root)
    with open_writer(wh) as con:  # as a catalog last written by an older kreview
        con.execute("DROP VIEW model_metrics")
    with pytest.raises(ViewsMissing, match="kreview views"):
        build_report(wh, rcfg.report)
