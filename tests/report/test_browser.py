"""The report in headless Chromium: the numbers on the pages equal the views, the index's
filter and sorting work, scraped HTML shows as text, and no request leaves the machine."""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from core.catalog import open_reader
from core.warehouse import Warehouse
from etl.report import pages
from etl.report.build import ReportResult
from etl.report.glyphs import Glyphs
from etl.report.pages import fmt
from etl.report.queries import IndexRow, PagePolicy, ReportData, RunData
from tests.etl.replay_helpers import CHROMIUM, needs_chromium
from tests.report import fixture
from tests.report.conftest import HOSTILE, HOSTILE_REVIEW, HOSTILE_TITLE, Hostile

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-background-networking"],
        )
        yield b
        b.close()


class Tab:
    """A page that records every request (and lets only file: URLs through) and every
    JavaScript dialog (an alert() from an unescaped review would open one)."""

    def __init__(self, browser: Any) -> None:
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        self.page.route("**/*", self._route)
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            route.abort()

    def open(self, path: Path) -> Any:
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        return self.page

    def left_machine(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(("file:", "data:"))]


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    t = Tab(browser)
    yield t
    t.page.close()


def view(built: ReportResult, sql: str, *params: Any) -> list[dict[str, Any]]:
    wh = Warehouse(built.path.parent.parent)
    with open_reader(wh) as con:
        cur = con.execute(sql, list(params))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def cells(page: Any, selector: str) -> list[list[dict[str, str]]]:
    """Text and data-value of every cell of every visible body row."""
    return page.eval_on_selector_all(
        f"{selector} tbody tr",
        """rows => rows.filter(r => !r.hidden).map(r => Array.from(r.children).map(c => ({
            text: c.textContent, value: c.getAttribute('data-value')})))""",
    )


def same(cell: dict[str, str], value: Any, digits: int = 2) -> None:
    assert cell["text"] == fmt(value, digits), (cell, value)
    if isinstance(value, float):
        assert float(cell["value"]) == value  # the exact number behind the rounded text
    elif isinstance(value, int):
        assert int(cell["value"]) == value


def test_index_numbers_equal_the_view(built: ReportResult, tab: Tab) -> None:
    page = tab.open(built.path / "index.html")
    expected = view(
        built,
        "SELECT * FROM title_scores WHERE scope = 'all' ORDER BY n_reviews DESC, title, title_id",
    )
    rows = cells(page, "#titles")
    assert [r[0]["text"] for r in rows] == [e["title"] for e in expected]
    for row, e in zip(rows, expected, strict=True):
        same(row[1], e["n_reviews"])
        same(row[2], e["n_scored"])
        same(row[3], e["mean_rating"])
        same(row[4], e["mean_predicted_rating"])  # the predicted stars, next to the given
        same(row[5], e["mean_rating_gap"])
        same(row[6], e["share_positive"], 3)
        same(row[7], e["bayes_score"])
        same(row[8], e["title_score_0_10"])
        same(row[9], e["sentiment_rating_agreement"], 3)
    t1_trend = view(
        built, "SELECT title_score_0_10 FROM daily_title_trend WHERE title_id = 't1' ORDER BY day"
    )
    points = page.get_attribute('tr[data-title-id="t1"] svg.spark', "data-points")
    assert [float(p) for p in points.split()] == [round(r["title_score_0_10"], 3) for r in t1_trend]
    assert tab.left_machine() == [] and tab.errors == []
    assert any(u.endswith("/report.js") for u in tab.requests)  # the route saw the requests


def test_index_filter_and_sort(built: ReportResult, tab: Tab) -> None:
    page = tab.open(built.path / "index.html")
    page.fill("#filter", "괴물")
    assert [r[0]["text"] for r in cells(page, "#titles")] == ["괴물"]
    assert page.text_content("#count") == "1 of 3 titles"
    page.fill("#filter", "제리")
    assert [r[0]["text"] for r in cells(page, "#titles")] == [fixture.ODD_TITLE]
    page.fill("#filter", "t2")  # ids match too
    assert [r[0]["text"] for r in cells(page, "#titles")] == ["곡성"]
    page.fill("#filter", "no such title")
    assert cells(page, "#titles") == [] and page.text_content("#count") == "0 of 3 titles"
    page.fill("#filter", "")
    assert len(cells(page, "#titles")) == 3

    by_rating = view(
        built, "SELECT title FROM title_scores WHERE scope = 'all' ORDER BY mean_rating"
    )
    header = page.locator("#titles thead th", has_text="mean rating")
    header.click()
    assert [r[0]["text"] for r in cells(page, "#titles")] == [r["title"] for r in by_rating]
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert [r[0]["text"] for r in cells(page, "#titles")] == [r["title"] for r in by_rating][::-1]


def test_title_page_numbers_equal_the_views(built: ReportResult, tab: Tab) -> None:
    page = tab.open(built.path / "titles" / "t1.html")
    assert page.text_content("#title-name") == "괴물"
    scores = {
        r["scope"]: r for r in view(built, "SELECT * FROM title_scores WHERE title_id = 't1'")
    }
    for row in cells(page, "#scores"):
        e = scores[{"all": "all", "Naver": "naver", "Watcha": "watcha"}[row[0]["text"]]]
        same(row[1], e["n_reviews"])
        same(row[3], e["mean_rating"])
        same(row[4], e["mean_predicted_rating"])
        same(row[5], e["mean_rating_gap"])
        same(row[6], e["share_positive"], 3)
        same(row[8], e["title_score_0_10"])
    bins = view(
        built,
        "SELECT * FROM title_sentiment_distribution WHERE title_id = 't1' AND scope = 'all'"
        " ORDER BY bin",
    )
    rows = cells(page, "#distribution")
    assert len(rows) == len(bins) == 10
    for row, b in zip(rows, bins, strict=True):
        same(row[1], b["n_reviews"])
        same(row[3], b["share"], 3)
    emotions = view(
        built,
        "SELECT * FROM title_emotions WHERE title_id = 't1'"
        " ORDER BY mean_intensity DESC, emotion_idx",
    )
    page.click("text=All 44 intensities")
    rows = cells(page, "#emotions")
    assert [r[0]["text"] for r in rows] == [e["emotion"] for e in emotions] and len(rows) == 44
    for row, e in zip(rows, emotions, strict=True):
        same(row[1], e["mean_intensity"], 3)
    assert page.locator("#emotions tr.top").count() == 5
    clusters = view(built, "SELECT * FROM title_clusters WHERE title_id = 't1' ORDER BY cluster_id")
    rows = cells(page, "#clusters")
    assert [(r[1]["text"], r[3]["text"], r[4]["text"]) for r in rows] == [
        (fmt(c["size"]), c["representative_text"], ", ".join(c["keywords"])) for c in clusters
    ]
    src = {
        r["source"]: r for r in view(built, "SELECT * FROM source_comparison WHERE title_id = 't1'")
    }
    rows = {r[0]["text"]: r for r in cells(page, "#sources")}
    same(rows["reviews"][1], src["naver"]["n_reviews"])
    same(rows["reviews"][2], src["watcha"]["n_reviews"])
    same(rows["title score 0–10"][1], src["naver"]["title_score"])
    gap = "title score gap (vs the other sources)"
    same(rows[gap][1], src["naver"]["title_score_gap"])
    same(rows[gap][2], src["watcha"]["title_score_gap"])
    # Two sources: each one's gap is the other's, negated.
    assert src["naver"]["title_score_gap"] == -src["watcha"]["title_score_gap"]
    gaps = view(
        built,
        "SELECT * FROM scored_reviews WHERE title_id = 't1' AND rating_gap IS NOT NULL"
        " ORDER BY abs(rating_gap) DESC, review_key",
    )
    rows = cells(page, "#rating-gaps")
    assert len(rows) == len(gaps) == 5  # every rated t1 review (a handful: 5 per page)
    for row, g in zip(rows, gaps, strict=True):
        same(row[3], g["rating"], 1)
        same(row[4], g["predicted_rating"], 0)
        same(row[5], g["expected_rating"])
        same(row[6], g["rating_gap"])
        assert row[7]["text"] == g["text_raw"]
    assert tab.left_machine() == [] and tab.errors == []


def test_review_with_html_shows_as_text(built: ReportResult, tab: Tab, tmp_path: Path) -> None:
    page = tab.open(built.path / "titles" / "t1.html")
    rows = cells(page, "#disagreements")
    expected = view(
        built,
        "SELECT * FROM sentiment_rating_disagreements WHERE title_id = 't1' ORDER BY rank_in_title",
    )
    assert [r[7]["text"] for r in rows] == [e["text_raw"] for e in expected]
    assert rows[0][7]["text"] == fixture.SCRIPT_REVIEW  # shown as the text it is
    same(rows[0][5], expected[0]["p_positive"], 3)
    assert tab.dialogs == []  # alert(1) never ran
    assert page.locator("script").count() == 1  # report.js only
    assert page.locator("td.review b").count() == 0  # <b>r1</b> of a cluster stays text
    odd = tab.open(built.path / "titles" / "t3.html")
    assert odd.text_content("#title-name") == fixture.ODD_TITLE
    assert odd.locator("#title-name i, td.review img").count() == 0 and tab.dialogs == []
    # a title page, as a test artifact to look at
    shot = tmp_path / "report-title-t1.png"
    page = tab.open(built.path / "titles" / "t1.html")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / shot.name)
    assert tab.left_machine() == []


def test_hostile_text_shows_as_text_on_every_page_kind(
    hostile: Hostile, glyphs: Glyphs, tab: Tab, tmp_path: Path
) -> None:
    """<script>alert(1)</script>, quotes and ampersands in a title name, its reviews and the
    run's fields: every page kind shows them as text, and no alert() runs."""
    paths = hostile.write(tmp_path, glyphs)
    index = tab.open(paths["index"])
    assert index.locator("script").count() == 1 and tab.dialogs == []
    link = index.locator("#titles a", has_text="영화")
    assert link.text_content() == HOSTILE_TITLE
    index.fill("#filter", "quotes")  # the filter matches the name as it is
    assert [r[0]["text"] for r in cells(index, "#titles")] == [HOSTILE_TITLE]
    link.click()  # its page, under a file name of its own
    page = tab.page
    page.wait_for_load_state("load")
    assert page.url == paths["title"].as_uri()
    assert page.title() == f"{HOSTILE_TITLE} · kreview"
    assert page.text_content("#title-name") == HOSTILE_TITLE
    reviews = page.eval_on_selector_all("td.review", "tds => tds.map(td => td.textContent)")
    assert reviews and set(reviews) == {HOSTILE_REVIEW}
    assert page.locator("main b, main script").count() == 0
    assert page.locator("script").count() == 1  # report.js only
    assert tab.dialogs == []  # alert(1) never ran
    run = tab.open(paths["run"])
    errors = run.eval_on_selector_all("#stages td.error", "tds => tds.map(td => td.textContent)")
    assert errors and set(errors) == {HOSTILE}
    assert run.get_attribute("#plots img", "alt") == f"{HOSTILE}.png"
    assert run.locator("script").count() == 1
    assert tab.dialogs == [] and tab.errors == [] and tab.left_machine() == []


def test_run_page_numbers_equal_the_views(built: ReportResult, tab: Tab) -> None:
    page = tab.open(built.path / "run.html")
    run_id = built.path.name
    stages = view(
        built, "SELECT * FROM run_stage_rows WHERE run_id = ? ORDER BY started_at", run_id
    )
    rows = cells(page, "#stages")
    assert (
        [r[0]["text"] for r in rows]
        == [s["stage"] for s in stages]
        == [
            "clean",
            "score",
            "views",
        ]
    )
    for row, s in zip(rows, stages, strict=True):
        same(row[4], s["rows_in"])
        same(row[6], s["rows_rejected"])
        same(row[7], s["reviews_per_s"], 1)
    rejects = view(built, "SELECT * FROM quarantine_reasons WHERE run_id = ?", run_id)
    got = {r[2]["text"]: int(r[3]["value"]) for r in cells(page, "#rejects")}
    assert got == {r["reason"]: r["n_rows"] for r in rejects} and sum(got.values()) == 4
    speed = cells(page, "#scoring")
    assert speed[0][4]["text"] == "123.4" and speed[0][5]["text"] == "cpu"
    models = view(built, "SELECT * FROM model_version_summary")
    assert page.locator("#models tbody tr").count() == len(models)
    assert page.locator("#models tr.current").count() == sum(m["is_current"] for m in models)
    loaded = page.eval_on_selector_all(
        "#plots img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"
    )
    assert loaded == [True, True]
    assert tab.left_machine() == [] and tab.errors == []


def test_an_index_of_14_thousand_titles_stays_usable(tab: Tab, tmp_path: Path) -> None:
    """The real corpus's title count: every row is in the page, 500 show at once; filter,
    sort and "show all" work. Timings go to test-artifacts/ (this machine is shared, so
    only loose bounds are asserted)."""
    n = 14_103
    rng = random.Random(0)
    index = [
        IndexRow(
            f"nsmc-{i}",
            f"영화 {i}",
            {
                "n_reviews": n - i,
                "n_scored": n - i,
                "mean_rating": rng.uniform(1, 10),
                "share_positive": rng.random(),
                "bayes_score": rng.uniform(0, 10),
                "title_score_0_10": rng.uniform(0, 10),
                "sentiment_rating_agreement": rng.random(),
            },
            [rng.uniform(0, 10) for _ in range(30)],
        )
        for i in range(n)
    ]
    data = ReportData(RunData("run", [], [], [], [], []), index, [], PagePolicy(100, 20))
    (tmp_path / "index.html").write_text(pages.index_page(data, "now"), "utf-8")
    static = resources.files("etl.report") / "static"
    for name in pages.ASSETS:
        (tmp_path / name).write_bytes((static / name).read_bytes())
    raf = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"
    timings: dict[str, float] = {}

    def timed(name: str, action: Any) -> None:
        t = time.perf_counter()
        action()
        tab.page.evaluate(raf)  # after the next frame: the change is laid out
        timings[name] = round(time.perf_counter() - t, 3)

    timed("load", lambda: tab.open(tmp_path / "index.html"))
    page = tab.page
    assert page.locator("#titles tbody tr").count() == n  # every title is in the page
    assert len(cells(page, "#titles")) == 500
    assert page.text_content("#count") == f"{n} of {n} titles; the first 500 shown"
    timed("filter", lambda: page.fill("#filter", "nsmc-1400"))
    shown = [r[0]["text"] for r in cells(page, "#titles")]
    assert shown == [f"영화 {i}" for i in [1400, *range(14000, 14010)]]  # most reviewed first
    timed("clear", lambda: page.fill("#filter", ""))
    header = page.locator("#titles thead th", has_text="reviews").first
    timed("sort", header.click)  # was descending: now the fewest reviews first
    assert [r[0]["text"] for r in cells(page, "#titles")][:2] == [f"영화 {n - 1}", f"영화 {n - 2}"]
    timed("show all", lambda: page.click("#show-all"))
    assert len(cells(page, "#titles")) == n and page.is_hidden("#show-all")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-index-14k-timings.json").write_text(json.dumps(timings, indent=1))
    assert tab.errors == [] and tab.left_machine() == []
    assert timings["filter"] < 10 and timings["sort"] < 10 and timings["load"] < 60, timings
