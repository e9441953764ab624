"""Everything the report shows, read from the SQL views (queries in ``sql/report/*.sql``).

The report computes nothing itself: each number on a page is a value of a view row. This
module only reads the rows and groups them per title, so the renderer gets plain data.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import duckdb

from core.sqlfiles import read_sql

Row = dict[str, Any]
SCORING_RUNS_SHOWN = 5


@dataclass(frozen=True)
class TitleData:
    title_id: str
    title: str
    scores: dict[str, Row]  # scope ('all' or a source) -> title_scores row
    trend: list[Row] = field(default_factory=list)
    emotions: list[Row] = field(default_factory=list)  # strongest first
    clusters: list[Row] = field(default_factory=list)
    distribution: dict[str, list[Row]] = field(default_factory=dict)  # scope -> 10 bins
    sources: dict[str, Row] = field(default_factory=dict)  # source -> source_comparison row
    disagreements: list[Row] = field(default_factory=list)
    rating_gaps: list[Row] = field(default_factory=list)  # largest |predicted - given| first


@dataclass(frozen=True)
class RunData:
    run_id: str
    stages: list[Row]
    rejects: list[Row]
    scoring: list[Row]
    models: list[Row]
    metrics: list[Row]


@dataclass(frozen=True)
class IndexRow:
    """A title as the index lists it: its scores of scope 'all' and its sparkline values."""

    title_id: str
    title: str
    scores: Row  # the title_scores row of scope 'all'
    spark: list[float | None]  # daily title scores of its last days with reviews, oldest first


@dataclass(frozen=True)
class PagePolicy:
    """Which titles got a page: the index says so next to the titles without one."""

    by_reviews: int  # report.max_title_pages
    by_disagreements: int  # report.disagreement_pages
    asked: tuple[str, ...] = ()  # title ids named with --title


@dataclass(frozen=True)
class ReportData:
    run: RunData
    index: list[IndexRow]  # every title, ordered by name
    titles: list[TitleData]  # the titles that get a page, ordered by name
    policy: PagePolicy = PagePolicy(0, 0)

    @property
    def page_ids(self) -> frozenset[str]:
        return frozenset(t.title_id for t in self.titles)

    @property
    def rating_version(self) -> str | None:
        """The current rating model's version (the one whose stars ``scored_reviews`` reads);
        None when no rating model is current: every predicted column is NULL then."""
        current = [
            m["version"] for m in self.run.models if m["task"] == "rating" and m["is_current"]
        ]
        return max(current, default=None)


def rows(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[Row]:
    """Rows of ``sql/report/<name>.sql`` as dicts."""
    cur = con.execute(read_sql(f"report/{name}.sql"), params or None)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def latest_run_id(con: duckdb.DuckDBPyConnection) -> str | None:
    found = rows(con, "latest_run")
    return found[0]["run_id"] if found else None


def _by_title(items: list[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for r in items:
        out[r["title_id"]].append(r)
    return out


def load_index(con: duckdb.DuckDBPyConnection, spark_points: int) -> list[IndexRow]:
    return [
        IndexRow(r.pop("title_id"), r.pop("title"), r, r.pop("spark"))
        for r in rows(con, "index", points=spark_points)
    ]


def page_title_ids(
    con: duckdb.DuckDBPyConnection, by_reviews: int, by_disagreements: int
) -> list[str]:
    """The most reviewed titles, then those with the most disagreements (page_titles.sql)."""
    found = rows(con, "page_titles", by_reviews=by_reviews, by_disagreements=by_disagreements)
    return [r["title_id"] for r in found]


def load_titles(
    con: duckdb.DuckDBPyConnection,
    ids: list[str],
    disagreements_per_title: int,
    rating_gaps_per_title: int = 0,
) -> list[TitleData]:
    """Everything a title page shows, for the titles ``ids`` only: each query filters on
    them, so the cost follows the pages written, not the titles in the warehouse."""
    if not ids:
        return []
    scores = _by_title(rows(con, "titles", ids=ids))
    trend = _by_title(rows(con, "trend", ids=ids))
    emotions = _by_title(rows(con, "emotions", ids=ids))
    clusters = _by_title(rows(con, "clusters", ids=ids))
    dist = _by_title(rows(con, "distribution", ids=ids))
    sources = _by_title(rows(con, "sources", ids=ids))
    disagree = _by_title(rows(con, "disagreements", ids=ids, per_title=disagreements_per_title))
    gaps = _by_title(rows(con, "rating_gaps", ids=ids, per_title=rating_gaps_per_title))
    out = []
    for title_id, scoped in scores.items():  # ordered by title name (titles.sql)
        by_scope: dict[str, list[Row]] = defaultdict(list)
        for r in dist.get(title_id, []):
            by_scope[r["scope"]].append(r)
        out.append(
            TitleData(
                title_id=title_id,
                title=scoped[0]["title"],
                scores={r["scope"]: r for r in scoped},
                trend=trend.get(title_id, []),
                emotions=emotions.get(title_id, []),
                clusters=clusters.get(title_id, []),
                distribution=dict(by_scope),
                sources={r["source"]: r for r in sources.get(title_id, [])},
                disagreements=disagree.get(title_id, []),
                rating_gaps=gaps.get(title_id, []),
            )
        )
    return out


def load_run(con: duckdb.DuckDBPyConnection, run_id: str) -> RunData:
    return RunData(
        run_id=run_id,
        stages=rows(con, "run", run_id=run_id),
        rejects=rows(con, "rejects", run_id=run_id),
        scoring=rows(con, "scoring_speed", limit=SCORING_RUNS_SHOWN),
        models=rows(con, "models"),
        metrics=rows(con, "model_metrics"),
    )


def _canonical(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip().casefold()


def select_titles(index: list[IndexRow], wanted: tuple[str, ...]) -> list[str]:
    """Ids of the titles named by id or by name (exact, or case-insensitive).

    Raises ``LookupError`` naming any that matches nothing."""
    picked: dict[str, None] = {}
    for name in wanted:
        key = _canonical(name)
        found = [t.title_id for t in index if name == t.title_id or key == _canonical(t.title)]
        if not found:
            raise LookupError(f"no title named {name!r} in the warehouse (by name or title id)")
        picked.update(dict.fromkeys(found))
    return list(picked)
