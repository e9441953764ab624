"""Predicted stars on the report (issue 22): the mean predicted stars and the mean gap to the
stars given next to the mean rating (index and title pages), the reviews whose predicted
stars differ most from the given ones, and one sentence where no rating model is current.
The fixture's stars are hand-checked (tests/report/fixture.py, PREDICTED)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from core.catalog import open_reader
from core.warehouse import Warehouse
from etl.report.build import ReportResult, build_report
from jobs.config import AppConfig, load_config
from tests.report import fixture

NO_MODEL = "No rating model is current, so no predicted stars are shown"
# title -> (mean_predicted_rating, mean_rating_gap) of scope 'all', by hand (fixture.py)
BY_HAND = {"t1": (5.7, -1.5), "t2": (4.75, -1.75), "t3": (5.5, 0.0)}


class Tables(HTMLParser):
    """Every table of a page by id: its header labels and, per body row, the row's attributes
    and its cells (th or td) as (data-value, text); cell i of a row is under header i."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict[str, Any]] = {}
        self._table: dict[str, Any] = {}
        self._part = ""  # thead or tbody
        self._cell: list[str] | None = None
        self._value: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables[a.get("id") or ""] = {"headers": [], "rows": []}
        elif tag in ("thead", "tbody"):
            self._part = tag
        elif tag == "tr" and self._part == "tbody":
            self._table["rows"].append({"attrs": a, "cells": []})
        elif tag in ("th", "td") and self._part:
            self._cell, self._value = [], a.get("data-value")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._part = ""
        elif tag in ("th", "td") and self._cell is not None:
            text = "".join(self._cell)
            if self._part == "thead":
                self._table["headers"].append(text)
            else:
                self._table["rows"][-1]["cells"].append((self._value, text))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def page(result: ReportResult, name: str) -> str:
    return (result.path / name).read_text("utf-8")


def view(wh: Warehouse, sql: str, *params: Any) -> list[dict[str, Any]]:
    with open_reader(wh) as con:
        cur = con.execute(sql, list(params))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def test_title_pages_show_the_views_mean_predicted_stars_and_gap(built: ReportResult) -> None:
    wh = Warehouse(built.path.parent.parent)
    for tid, (mean_pred, mean_gap) in BY_HAND.items():
        scores = {
            r["scope"]: r for r in view(wh, "SELECT * FROM title_scores WHERE title_id = ?", tid)
        }
        # the view holds the hand-checked numbers, so equal to it is right, not just equal
        assert scores["all"]["mean_predicted_rating"] == pytest.approx(mean_pred)
        assert scores["all"]["mean_rating_gap"] == pytest.approx(mean_gap)
        html = page(built, f"titles/{tid}.html")
        table = Tables(html).tables["scores"]
        headers = table["headers"]
        at = headers.index("mean rating")
        assert headers[at + 1 : at + 3] == ["predicted stars", "predicted − given"]
        shown = {r["attrs"]["data-scope"]: r["cells"] for r in table["rows"]}
        assert set(shown) == set(scores) and len(shown) >= 2  # 'all' and each source
        for scope, cells in shown.items():
            e = scores[scope]
            # cells[0] is the scope's <th>
            given, pred, gap = (cells[at + k] for k in range(3))
            assert float(given[0]) == e["mean_rating"]
            assert float(pred[0]) == e["mean_predicted_rating"], (tid, scope)
            assert float(gap[0]) == e["mean_rating_gap"], (tid, scope)
            assert pred[1] == f"{e['mean_predicted_rating']:,.2f}"
            assert gap[1] == f"{e['mean_rating_gap']:,.2f}"
        # the section's summary line: scope 'all'
        assert f'id="mean-predicted-rating">{mean_pred:.2f}</strong>' in html
        assert f'id="mean-rating-gap">{mean_gap:.2f}</strong>' in html
        assert f"{scores['all']['n_predicted']} reviews predicted" in html
        assert NO_MODEL not in html


def test_index_shows_predicted_stars_next_to_the_mean_rating(built: ReportResult) -> None:
    wh = Warehouse(built.path.parent.parent)
    expected = {
        r["title_id"]: r for r in view(wh, "SELECT * FROM title_scores WHERE scope = 'all'")
    }
    html = page(built, "index.html")
    table = Tables(html).tables["titles"]
    at = table["headers"].index("mean rating")
    assert table["headers"][at : at + 3] == ["mean rating", "predicted stars", "predicted − given"]
    rows = {r["attrs"]["data-title-id"]: r["cells"] for r in table["rows"]}
    assert set(rows) == set(BY_HAND)
    for tid, cells in rows.items():
        assert float(cells[at][0]) == expected[tid]["mean_rating"]
        assert float(cells[at + 1][0]) == expected[tid]["mean_predicted_rating"]
        assert float(cells[at + 2][0]) == expected[tid]["mean_rating_gap"]
        assert (float(cells[at + 1][0]), float(cells[at + 2][0])) == pytest.approx(BY_HAND[tid])
    assert 'id="rating-note"' in html and "<code>rate-v1</code>" in html
    assert NO_MODEL not in html


def test_title_pages_list_the_largest_gaps_between_predicted_and_given_stars(
    built: ReportResult,
) -> None:
    wh = Warehouse(built.path.parent.parent)
    table = Tables(page(built, "titles/t1.html")).tables["rating-gaps"]
    assert table["headers"] == [
        "#",
        "source",
        "day",
        "stars",
        "predicted (median)",
        "predicted (mean)",
        "predicted − given",
        "review",
    ]
    got = [
        (r["attrs"]["data-review-id"], *(float(c[0]) for c in r["cells"][3:7]), r["cells"][7][1])
        for r in table["rows"]
    ]
    # by hand (fixture.PREDICTED): |gap| 7.5, 1.5, 1.25, 0.5, 0.25; r7 holds the <script> review
    assert [g[:5] for g in got] == [
        ("r7", 10.0, 2.0, 2.5, -7.5),
        ("r1", 10.0, 9.0, 8.5, -1.5),
        ("r2", 2.0, 3.0, 3.25, 1.25),
        ("r3", 6.0, 7.0, 6.5, 0.5),
        ("r4", 8.0, 8.0, 7.75, -0.25),
    ]
    assert got[0][5] == fixture.SCRIPT_REVIEW  # shown as the text it is
    want = view(
        wh,
        "SELECT review_id, rating, predicted_rating, expected_rating, rating_gap, text_raw"
        " FROM scored_reviews WHERE title_id = 't1' AND rating_gap IS NOT NULL"
        " ORDER BY abs(rating_gap) DESC, review_key",
    )
    assert got == [tuple(w.values()) for w in want]  # the view's rows, its numbers exactly
    assert [r["cells"][0][0] for r in table["rows"]] == ["1", "2", "3", "4", "5"]
    # the numbers shown: median as a whole star, mean and gap to two decimals
    assert [c[1] for c in table["rows"][0]["cells"][3:7]] == ["10.0", "2", "2.50", "-7.50"]
    # t2: r6 is predicted though its sentiment is not scored yet
    t2 = Tables(page(built, "titles/t2.html")).tables["rating-gaps"]
    assert [r["attrs"]["data-review-id"] for r in t2["rows"]] == ["r5", "r6"]


def test_rating_gaps_per_title_caps_the_list(rcfg: AppConfig) -> None:
    cfg = load_config(
        env={}, overrides={"warehouse.root": rcfg.warehouse.root, "report.rating_gaps_per_title": 2}
    )
    result = build_report(Warehouse(rcfg.warehouse.root), cfg.report)
    rows = Tables(page(result, "titles/t1.html")).tables["rating-gaps"]["rows"]
    assert [r["attrs"]["data-review-id"] for r in rows] == ["r7", "r1"]  # the two largest


def test_no_current_rating_model_shows_one_sentence(rcfg: AppConfig) -> None:
    wh = Warehouse(rcfg.warehouse.root)
    fixture.drop_rating_model(wh)  # as a registry whose models predate the rating head
    nulls = view(
        wh,
        "SELECT count(predicted_rating) + count(expected_rating) + count(rating_gap) AS n"
        " FROM scored_reviews UNION ALL SELECT count(mean_predicted_rating)"
        " + count(mean_rating_gap) + coalesce(max(n_predicted), 0) FROM title_scores",
    )
    assert [r["n"] for r in nulls] == [0, 0]  # every predicted column is NULL
    result = build_report(wh, rcfg.report)
    index = page(result, "index.html")
    assert index.count(NO_MODEL) == 1
    table = Tables(index).tables["titles"]
    assert "predicted stars" not in table["headers"]  # no column of empty cells
    assert "predicted − given" not in table["headers"]
    assert all(len(r["cells"]) == len(table["headers"]) for r in table["rows"])
    for tid in BY_HAND:
        html = page(result, f"titles/{tid}.html")
        assert html.count(NO_MODEL) == 1, tid
        tables = Tables(html).tables
        assert "rating-gaps" not in tables and "predicted stars" not in tables["scores"]["headers"]
        assert "mean-predicted-rating" not in html and "predicted − given" not in html


def test_a_title_the_current_rating_model_has_not_predicted_says_so(rcfg: AppConfig) -> None:
    wh = Warehouse(rcfg.warehouse.root)
    fixture.add_titles(wh)  # their reviews have no predicted stars (the model is current)
    result = build_report(wh, rcfg.report, titles=("x2",))
    x2 = page(result, "titles/x2.html")
    assert 'id="no-predicted-stars"' in x2 and "<code>rate-v1</code>" in x2
    assert NO_MODEL not in x2 and 'id="rating-gaps"' not in x2
    scores = Tables(x2).tables["scores"]
    at = scores["headers"].index("predicted stars")
    assert [r["cells"][at] for r in scores["rows"]] == [("", "–")] * len(scores["rows"])
    index = Tables(page(result, "index.html")).tables["titles"]
    at = index["headers"].index("predicted stars")
    cells = {r["attrs"]["data-title-id"]: r["cells"][at] for r in index["rows"]}
    assert cells["x2"] == ("", "–") and cells["t1"] == ("5.7", "5.70")
