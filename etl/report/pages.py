"""HTML of the report's pages, from the rows the views hold: data in, text out.

The pages are Jinja2 templates (``etl/report/templates/``: ``base.html`` the layout,
``index.html``, ``title.html`` and ``run.html`` one per page kind, ``tables.html`` the table and
cell macros they share). The environment escapes every value a template writes (autoescape),
so text from the warehouse (titles, reviews, keywords, errors) shows as text: a review holding
``<script>`` stays a review. The only markup passed in is the charts, drawn in Python
(``charts.py``) as inline SVG from numbers, their labels drawn as glyph outlines, never as text.
Numbers are shown rounded and carry their exact value in ``data-value``, which the in-page
sorting reads. A name a template uses that the page was not given is an error, not an empty
string (StrictUndefined).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from etl.report import charts
from etl.report.glyphs import Glyphs
from etl.report.queries import ReportData, RunData, TitleData
from etl.sources.table import NAMES, SCOPES

ASSETS = ("report.css", "report.js")
INDEX_SHOWN = 500  # index rows displayed at once (all are in the page)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def exact(value: Any) -> str:
    """A number as a numeric cell's data-value holds it: exact (repr), empty when NULL."""
    if value is None:
        return ""
    return repr(int(value) if isinstance(value, bool) else value)


def title_file(title_id: str) -> str:
    """File name of a title's page: the id when it is a plain name, else a hash of it."""
    if _SAFE_NAME.match(title_id):
        return f"{title_id}.html"
    return f"t-{hashlib.sha256(title_id.encode()).hexdigest()[:16]}.html"


def metric_digits(value: float) -> int:
    """Counts (n = 2,000 held-out rows) without decimals, scores with four."""
    return 0 if float(value).is_integer() and abs(value) > 1 else 4


def sparkline(values: list[float | None]) -> Markup:
    """The index's trend line: SVG drawn from numbers only (charts.sparkline)."""
    return Markup(charts.sparkline(values))


@cache
def environment() -> Environment:
    """The templates, read from the package (installed or not); one environment per process,
    which keeps the compiled templates."""
    env = Environment(
        loader=PackageLoader("etl.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        finalize=lambda v: "" if v is None else v,  # NULL shows as nothing, not "None"
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(fmt=fmt, exact=exact, title_file=title_file, sparkline=sparkline)
    env.globals.update(
        metric_digits=metric_digits,
        source_names=charts.SOURCE_NAMES,
        scopes=SCOPES,  # the rows of a title's scores table, in this order
        sources=NAMES,  # the columns of its per-source table
        source_columns=[(charts.SOURCE_NAMES[n], "num") for n in NAMES],
    )
    return env


def _render(template: str, data: ReportData, built: str, root: str = "", **context: Any) -> str:
    page = environment().get_template(template)
    return page.render(root=root, run_id=data.run.run_id, built=built, **context)


def index_page(data: ReportData, built: str) -> str:
    """Every title, one row each, most reviewed first. Thousands of rows are in the page, but
    only the first INDEX_SHOWN (in the current order, matching the filter) are displayed: a
    browser lays out 15,000 rows with a sparkline each in seconds, 500 at once."""
    return _render(
        "index.html",
        data,
        built,
        index=data.index,
        linked=data.page_ids,
        pages=len(data.titles),
        policy=data.policy,
        shown=INDEX_SHOWN,
        spark_points=charts.SPARK_POINTS,
        rating_version=data.rating_version,
    )


def title_page(t: TitleData, data: ReportData, built: str, g: Glyphs, top_emotions: int) -> str:
    dist_all = t.distribution.get("all", [])
    per_source = {k: v for k, v in t.distribution.items() if k in NAMES}
    # Drawn from the rows' numbers, their text (emotion and source names) as glyph outlines:
    # the SVG holds no text from the warehouse, so it goes into the page as it is (Markup).
    svg = {
        "distribution": charts.sentiment_distribution(dist_all, g) if dist_all else None,
        "emotions": charts.emotion_profile(t.emotions, top_emotions, g) if t.emotions else None,
        "trend": charts.trend(t.trend, g) if t.trend else None,
        "sources": charts.source_distributions(per_source, g) if per_source else None,
    }
    svg = {k: Markup(v) if v else None for k, v in svg.items()}
    return _render(
        "title.html",
        data,
        built,
        root="../",
        t=t,
        svg=svg,
        top_emotions=top_emotions,
        rating_version=data.rating_version,
    )


def run_page(run: RunData, data: ReportData, built: str, plots: dict[str, list[str]]) -> str:
    """plots: model folder (relative to the report) -> its PNG file names."""
    return _render("run.html", data, built, run=run, plots=plots)
