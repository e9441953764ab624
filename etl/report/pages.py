"""HTML of the report's pages, from the rows the views hold. Pure functions: data in, text out.

Every piece of text from the warehouse (titles, reviews, keywords, errors) goes through
``h`` (html.escape, quotes included) before it reaches a page: a review holding
``<script>`` shows as text. Numbers are shown rounded and carry their exact value in
``data-value``, which the in-page sorting reads.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from html import escape
from string import Template
from typing import Any

from etl.report import charts
from etl.report.glyphs import Glyphs
from etl.report.queries import IndexRow, ReportData, RunData, TitleData

Row = dict[str, Any]
ASSETS = ("report.css", "report.js")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

PAGE = Template("""<!doctype html>
<html lang="ko">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title · kreview</title>
<link rel="stylesheet" href="${root}report.css">
</head>
<body>
<nav class="top"><a href="${root}index.html">Titles</a> <a href="${root}run.html">Run</a>
<span class="muted">kreview report · run $run_id · built $built</span></nav>
<main>
$body
</main>
<script src="${root}report.js"></script>
</body>
</html>
""")


def h(value: Any) -> str:
    """Escaped text of any value (None: empty)."""
    return "" if value is None else escape(str(value), quote=True)


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


def num(value: Any, digits: int = 2, cls: str = "") -> str:
    """A numeric cell: rounded text, exact value in data-value (empty when NULL)."""
    exact = "" if value is None else repr(value if not isinstance(value, bool) else int(value))
    klass = f"num {cls}".strip()
    return f'<td class="{klass}" data-value="{h(exact)}">{fmt(value, digits)}</td>'


def text(value: Any, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f'<td{attr} data-value="{h(value)}">{h(fmt(value) if value is not None else "")}</td>'


def table(
    headers: Sequence[tuple[str, str]],
    rows: Iterable[str],
    *,
    cls: str = "",
    attrs: str = "",
    empty: str = "nothing to show",
    sorted_by: tuple[int, str] | None = None,
) -> str:
    """headers: (label, kind) with kind 'num' or 'text' (alignment, sort order); sorted_by:
    (column, 'ascending' or 'descending') when the rows come sorted by a column."""
    body = "\n".join(rows)
    if not body:
        return f'<p class="muted empty">{h(empty)}</p>'
    head = "".join(
        f'<th scope="col" class="{kind}" data-kind="{kind}"'
        + (f' aria-sort="{sorted_by[1]}"' if sorted_by and sorted_by[0] == i else "")
        + f">{h(label)}</th>"
        for i, (label, kind) in enumerate(headers)
    )
    return (
        f'<table class="{cls}"{attrs}><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n'
        "</tbody></table>"
    )


def page(title: str, body: str, data: ReportData, built: str, root: str = "") -> str:
    return PAGE.substitute(
        title=h(title), body=body, root=root, run_id=h(data.run.run_id), built=h(built)
    )


def title_file(title_id: str) -> str:
    """File name of a title's page: the id when it is a plain name, else a hash of it."""
    if _SAFE_NAME.match(title_id):
        return f"{title_id}.html"
    return f"t-{hashlib.sha256(title_id.encode()).hexdigest()[:16]}.html"


# ----------------------------------------------------------------------------- index


INDEX_SHOWN = 500  # index rows displayed at once (all are in the page)
INDEX_COLUMNS = (
    ("title", "text"),
    ("reviews", "num"),
    ("scored", "num"),
    ("mean rating", "num"),
    ("share positive", "num"),
    ("Bayes score", "num"),
    ("title score 0–10", "num"),
    ("sentiment/star agreement", "num"),
    ("trend (daily title score)", "none"),
)


def _pages_note(data: ReportData) -> str:
    """What the index links to, and how to get a page for any other title."""
    policy = data.policy
    with_page, n = len(data.titles), len(data.index)
    if with_page >= n:
        return f'<p class="muted" id="pages-note">Every title has a page ({n}).</p>'
    why = [f"the {policy.by_reviews} titles with the most reviews"]
    if policy.by_disagreements:
        why.append(
            f"the {policy.by_disagreements} others with the most reviews whose sentiment "
            "contradicts their stars"
        )
    if policy.asked:
        why.append(f"{len(policy.asked)} asked for with <code>--title</code>")
    return (
        f'<p class="muted" id="pages-note">{with_page:,} of {n:,} titles have a page (linked): '
        + ", ".join(why)
        + " (<code>report.max_title_pages</code>, <code>report.disagreement_pages</code>). "
        "For any other title: <code>kreview report --title ID</code> (its id or name) adds its "
        "page to the latest report.</p>"
    )


def _index_row(t: IndexRow, linked: bool, hidden: bool) -> str:
    s = t.scores
    name = h(t.title)
    cell = f'<a href="titles/{h(title_file(t.title_id))}">{name}</a>' if linked else name
    search_key = f"{t.title} {t.title_id}".casefold()
    return (
        f'<tr data-title-id="{h(t.title_id)}" data-filter="{h(search_key)}"'
        f"{' hidden' if hidden else ''}>"
        f'<td class="title" data-value="{name}">{cell}</td>'
        f"{num(s.get('n_reviews'))}{num(s.get('n_scored'))}{num(s.get('mean_rating'))}"
        f"{num(s.get('share_positive'), 3)}{num(s.get('bayes_score'))}"
        f"{num(s.get('title_score_0_10'))}{num(s.get('sentiment_rating_agreement'), 3)}"
        f'<td class="spark">{charts.sparkline(t.spark)}</td></tr>'
    )


def index_page(data: ReportData, built: str) -> str:
    """Every title, one row each, most reviewed first. Thousands of rows are in the page, but
    only the first INDEX_SHOWN (in the current order, matching the filter) are displayed: a
    browser lays out 15,000 rows with a sparkline each in seconds, 500 at once."""
    linked = data.page_ids
    rows = [_index_row(t, t.title_id in linked, i >= INDEX_SHOWN) for i, t in enumerate(data.index)]
    n = len(data.index)
    capped = f"; the first {INDEX_SHOWN} shown" if n > INDEX_SHOWN else ""
    body = (
        "<h1>Titles</h1>\n"
        '<p class="controls"><label>Filter <input id="filter" type="search" '
        'placeholder="title or id" autocomplete="off"></label> '
        f'<span id="count" aria-live="polite">{n} of {n} titles{capped}</span> '
        f'<button id="show-all" type="button"{"" if capped else " hidden"}>show all</button></p>\n'
        # without JavaScript nothing can show the rest: show every row
        "<noscript><style>#titles tr[hidden] { display: table-row; }</style></noscript>\n"
        + _pages_note(data)
        + "\n"
        + table(
            INDEX_COLUMNS,
            rows,
            cls="sortable",
            attrs=f' id="titles" data-shown="{INDEX_SHOWN}"',
            empty="no titles in the warehouse yet",
            sorted_by=(1, "descending"),
        )
        + '\n<p class="muted">Scores of scope “all” from <code>title_scores</code>; the trend line '
        f"is <code>daily_title_trend.title_score_0_10</code> of the title's last "
        f"{charts.SPARK_POINTS} days with reviews, on a 0–10 scale. Click a column heading "
        f"to sort; at most {INDEX_SHOWN} rows show at once (filter, sort, or “show all”).</p>"
    )
    return page("Titles", body, data, built)


# ----------------------------------------------------------------------------- title page


def _scores_table(t: TitleData) -> str:
    heads = [(label, "num") for label, _ in INDEX_COLUMNS[1:8]]
    rows = []
    for scope in ("all", "naver", "watcha"):
        s = t.scores.get(scope)
        if s is None:
            continue
        rows.append(
            f'<tr data-scope="{h(scope)}"><th scope="row">{h(charts.SOURCE_NAMES[scope])}</th>'
            f"{num(s['n_reviews'])}{num(s['n_scored'])}{num(s['mean_rating'])}"
            f"{num(s['share_positive'], 3)}{num(s['bayes_score'])}{num(s['title_score_0_10'])}"
            f"{num(s['sentiment_rating_agreement'], 3)}</tr>"
        )
    return table([("scope", "text"), *heads], rows, attrs=' id="scores"')


def _distribution_table(bins: Sequence[Row]) -> str:
    rows = [
        f'<tr data-bin="{b["bin"]}"><td>{b["p_low"]:.1f}–{b["p_high"]:.1f}</td>'
        f"{num(b['n_reviews'])}{num(b['n_predicted_positive'])}{num(b['share'], 3)}</tr>"
        for b in bins
    ]
    return table(
        [
            ("p_positive", "text"),
            ("reviews", "num"),
            ("predicted positive", "num"),
            ("share", "num"),
        ],
        rows,
        attrs=' id="distribution"',
    )


def _emotion_table(emotions: Sequence[Row], top_n: int) -> str:
    rows = [
        f'<tr class="{"top" if i < top_n else ""}" data-emotion-idx="{e["emotion_idx"]}">'
        f"{text(e['emotion'])}{num(e['mean_intensity'], 3)}{num(e['top_share'], 3)}</tr>"
        for i, e in enumerate(emotions)
    ]
    return table(
        [("emotion", "text"), ("mean intensity", "num"), ("share as a top emotion", "num")],
        rows,
        cls="sortable",
        attrs=' id="emotions"',
    )


def _clusters_table(clusters: Sequence[Row]) -> str:
    rows = [
        f'<tr data-cluster-id="{c["cluster_id"]}">{num(c["cluster_id"])}{num(c["size"])}'
        f"{num(c['share'], 3)}"
        f'<td class="review">{h(c["representative_text"])}</td>'
        f'<td class="keywords">{h(", ".join(c["keywords"] or []))}</td></tr>'
        for c in clusters
    ]
    return table(
        [
            ("cluster", "num"),
            ("size", "num"),
            ("share", "num"),
            ("representative review", "text"),
            ("keywords", "text"),
        ],
        rows,
        attrs=' id="clusters"',
        empty="no clusters for this title (not enough scored reviews, or no similarity model)",
    )


def _trend_table(days: Sequence[Row]) -> str:
    rows = [
        f'<tr data-day="{h(d["day"])}">{text(d["day"])}{num(d["n_reviews"])}{num(d["n_scored"])}'
        f"{num(d['mean_rating'])}{num(d['share_positive'], 3)}{num(d['title_score_0_10'])}</tr>"
        for d in days
    ]
    return table(
        [
            ("day", "text"),
            ("reviews", "num"),
            ("scored", "num"),
            ("mean rating", "num"),
            ("share positive", "num"),
            ("title score 0–10", "num"),
        ],
        rows,
        cls="sortable",
        attrs=' id="trend"',
    )


def _sources_table(src: Row | None) -> str:
    if src is None:
        return '<p class="muted empty">no per-source figures</p>'
    fields = (
        ("reviews", "n_reviews", 0),
        ("mean rating", "mean_rating", 2),
        ("share positive", "share_positive", 3),
        ("title score 0–10", "title_score", 2),
    )
    rows = [
        f'<tr data-metric="{key}"><th scope="row">{h(label)}</th>'
        f"{num(src[f'naver_{key}'], digits)}{num(src[f'watcha_{key}'], digits)}</tr>"
        for label, key, digits in fields
    ]
    rows.append(
        '<tr data-metric="title_score_gap"><th scope="row">title score gap (Naver − Watcha)</th>'
        f"{num(src['title_score_gap'])}<td></td></tr>"
    )
    return table([("", "text"), ("Naver", "num"), ("Watcha", "num")], rows, attrs=' id="sources"')


def _disagreements_table(items: Sequence[Row]) -> str:
    sentiment = {1: "positive", 0: "negative"}
    rows = [
        f'<tr data-review-id="{h(d["review_id"])}">{num(d["rank_in_title"])}'
        f"{text(charts.SOURCE_NAMES.get(d['source'], d['source']))}{text(d['day'])}"
        f"{num(d['rating'], 1)}{text(sentiment.get(d['sentiment']))}{num(d['p_positive'], 3)}"
        f'{num(d["confidence"], 3)}<td class="review">{h(d["text_raw"])}</td></tr>'
        for d in items
    ]
    return table(
        [
            ("#", "num"),
            ("source", "text"),
            ("day", "text"),
            ("stars", "num"),
            ("predicted", "text"),
            ("p_positive", "num"),
            ("confidence", "num"),
            ("review", "text"),
        ],
        rows,
        attrs=' id="disagreements"',
        empty="no review whose sentiment contradicts a clear star rating",
    )


def title_page(t: TitleData, data: ReportData, built: str, g: Glyphs, top_emotions: int) -> str:
    def chart(fn: Callable[..., str], *args: Any) -> str:
        return f'<figure class="chart">{fn(*args)}</figure>'

    dist_all = t.distribution.get("all", [])
    per_source = {k: v for k, v in t.distribution.items() if k in ("naver", "watcha")}
    top = ", ".join(e["emotion"] for e in t.emotions[:top_emotions])
    sections = [
        f'<h1 id="title-name">{h(t.title)}</h1>',
        f'<p class="muted">title id <code>{h(t.title_id)}</code></p>',
        "<section><h2>Scores</h2>" + _scores_table(t) + "</section>",
        "<section><h2>Sentiment distribution</h2>"
        + (chart(charts.sentiment_distribution, dist_all, g) if dist_all else "")
        + _distribution_table(dist_all)
        + "</section>",
        f"<section><h2>Emotion profile</h2><p>Strongest: <strong>{h(top) or '–'}</strong></p>"
        + (chart(charts.emotion_profile, t.emotions, top_emotions, g) if t.emotions else "")
        + "<details><summary>All 44 intensities</summary>"
        + _emotion_table(t.emotions, top_emotions)
        + "</details></section>",
        "<section><h2>Similarity clusters</h2>" + _clusters_table(t.clusters) + "</section>",
        "<section><h2>Trend by day</h2>"
        + (chart(charts.trend, t.trend, g) if t.trend else "")
        + "<details><summary>Every day</summary>"
        + _trend_table(t.trend)
        + "</details></section>",
        "<section><h2>Naver vs Watcha</h2>"
        + '<div class="side">'
        + _sources_table(t.sources)
        + (chart(charts.source_distributions, per_source, g) if per_source else "")
        + "</div></section>",
        "<section><h2>Sentiment vs stars: worth a look</h2>"
        '<p class="muted">Reviews whose predicted sentiment contradicts a clear star rating '
        "(≥ 7 read negative, ≤ 4 read positive), the model's most confident first.</p>"
        + _disagreements_table(t.disagreements)
        + "</section>",
    ]
    return page(t.title, "\n".join(sections), data, built, root="../")


# ----------------------------------------------------------------------------- run page


def _metric_digits(value: float) -> int:
    """Counts (n = 2,000 held-out rows) without decimals, scores with four."""
    return 0 if float(value).is_integer() and abs(value) > 1 else 4


def run_page(run: RunData, data: ReportData, built: str, plots: dict[str, list[str]]) -> str:
    """plots: model folder (relative to the report) -> its PNG file names."""
    first = run.stages[0] if run.stages else None
    head = f"<h1>Run <code>{h(run.run_id)}</code></h1>" + (
        f"<p>command <code>{h(first['command'])}</code>, status "
        f'<strong id="run-status">{h(first["run_status"])}</strong>, started '
        f"{h(fmt(first['run_started_at']))}</p>"
        if first
        else '<p class="muted">no stage of this run is in the ledger</p>'
    )
    stage_rows = [
        f'<tr data-stage="{h(s["stage"])}">{text(s["stage"])}{text(s["status"])}'
        f"{text(s['started_at'])}{num(s['seconds'], 1)}{num(s['rows_in'])}{num(s['rows_out'])}"
        f"{num(s['rows_rejected'])}{num(s['reviews_per_s'], 1)}"
        f'<td class="error">{h(s["error"])}</td></tr>'
        for s in run.stages
    ]
    stages = table(
        [
            ("stage", "text"),
            ("status", "text"),
            ("started", "text"),
            ("seconds", "num"),
            ("rows in", "num"),
            ("rows out", "num"),
            ("rejected", "num"),
            ("reviews/s", "num"),
            ("error", "text"),
        ],
        stage_rows,
        attrs=' id="stages"',
    )
    reject_rows = [
        f"<tr>{text(r['stage'])}{text(r['source'])}{text(r['reason'])}{num(r['n_rows'])}</tr>"
        for r in run.rejects
    ]
    rejects = table(
        [("stage", "text"), ("source", "text"), ("reason", "text"), ("rows", "num")],
        reject_rows,
        attrs=' id="rejects"',
        empty="this run sent no row to the quarantine",
    )
    speed_rows = [
        f'<tr data-run-id="{h(s["run_id"])}">{text(s["run_id"])}{text(s["started_at"])}'
        f"{num(s['rows_out'])}{num(s['seconds'], 1)}{num(s['reviews_per_s'], 1)}"
        f"{text(s['device'])}</tr>"
        for s in run.scoring
    ]
    speed = table(
        [
            ("run", "text"),
            ("started", "text"),
            ("reviews scored", "num"),
            ("seconds", "num"),
            ("reviews/s", "num"),
            ("device", "text"),
        ],
        speed_rows,
        attrs=' id="scoring"',
        empty="no score stage has finished yet",
    )
    model_rows = [
        f'<tr class="{"current" if m["is_current"] else ""}" data-version="{h(m["version"])}"'
        f' data-task="{h(m["task"])}">{text(m["task"])}{text(m["kind"])}{text(m["version"])}'
        f"{text('current' if m['is_current'] else '')}{text(m['created_at'])}{text(m['base_id'])}"
        f"{text(m['primary_metric'])}{num(m['primary_value'], 4)}{num(m['n_held_out'])}</tr>"
        for m in run.models
    ]
    models = table(
        [
            ("task", "text"),
            ("kind", "text"),
            ("version", "text"),
            ("", "text"),
            ("created", "text"),
            ("base", "text"),
            ("primary metric", "text"),
            ("value", "num"),
            ("held-out n", "num"),
        ],
        model_rows,
        attrs=' id="models"',
        empty="no model registered",
    )
    metric_rows = [
        f'<tr class="{"primary" if m["is_primary"] else ""}">{text(m["task"])}'
        f"{text(m['version'])}{text(m['metric'])}{num(m['value'], _metric_digits(m['value']))}"
        "</tr>"
        for m in run.metrics
    ]
    metrics = table(
        [("task", "text"), ("version", "text"), ("metric", "text"), ("value", "num")],
        metric_rows,
        attrs=' id="metrics"',
        empty="the current models carry no held-out metrics",
    )
    figures = []
    for folder, names in plots.items():
        imgs = "".join(
            f'<figure class="plot"><img src="{h(folder)}/{h(n)}" alt="{h(n)}" loading="lazy">'
            f"<figcaption>{h(n)}</figcaption></figure>"
            for n in names
        )
        figures.append(f"<h3><code>{h(folder.removeprefix('models/'))}</code></h3>{imgs}")
    plots_html = "".join(figures) or '<p class="muted empty">no training plots found</p>'
    body = "\n".join(
        [
            head,
            "<section><h2>Rows per stage</h2>" + stages + "</section>",
            "<section><h2>Rejected rows by reason</h2>" + rejects + "</section>",
            "<section><h2>Scoring speed (last score stages)</h2>" + speed + "</section>",
            "<section><h2>Model versions</h2>" + models + "</section>",
            "<section><h2>Held-out metrics of the current models</h2>" + metrics + "</section>",
            f'<section id="plots"><h2>Training plots of the current models</h2>{plots_html}'
            "</section>",
        ]
    )
    return page(f"Run {run.run_id}", body, data, built)
