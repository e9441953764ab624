"""The stage around a scoring engine: catalog versions, progress, the engine's scoring, then
the terms of new reviews, the clusters of changed titles and aggregates. An engine
(models/scoring/local_engine.py, models/scoring/ray_engine.py) is a :data:`ScoreFn`; both hand
theirs to :func:`score_stage`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import duckdb
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from core.catalog import open_writer, refresh_aggregates
from core.sqlfiles import read_sql
from core.stage import StageContext, StageResult
from models.config import ScoringConfig
from models.registry.defaults import rating_hint
from models.registry.store import Registry, mirror_to_catalog
from models.scoring.batch import Versions
from models.scoring.recluster import recluster, stale_titles
from models.scoring.terms import count_pending_terms, extract_pending

log = logging.getLogger("kreview.models")


def count_pending(con: duckdb.DuckDBPyConnection, versions: Versions) -> int:
    row = con.execute(
        f"SELECT count(*) FROM ({read_sql('score/pending.sql')})", versions.params()
    ).fetchone()
    return int(row[0]) if row else 0


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )


# What an engine does inside the stage: score every pending review through the writer
# connection, calling ``advance(n)`` after each committed chunk; returns the rows scored.
ScoreFn = Callable[[duckdb.DuckDBPyConnection, Callable[[int], None]], int]


def score_stage(
    ctx: StageContext[ScoringConfig],
    registry: Registry,
    versions: Versions,
    score_fn: ScoreFn,
    details: dict[str, Any],
) -> StageResult:
    """The stage around an engine: catalog versions, progress, scoring, clusters, aggregates.
    ``details`` may be filled in by ``score_fn`` (the Ray engine adds its actors)."""
    cfg = ctx.cfg
    if versions.rating is None:
        # Not an error (registries from before the stars head score as before), not silent.
        log.warning("no current rating model: predicted stars stay NULL (%s)", rating_hint())
    with open_writer(ctx.wh) as con:
        mirror_to_catalog(con, registry)  # views read the versions current in the registry
        pending = count_pending(con, versions)
        started = time.perf_counter()
        with _progress(ctx.show_progress) as bar:
            task = bar.add_task("score", total=pending, rate="")

            def advance(n: int) -> None:
                bar.advance(task, n)
                done = bar.tasks[0].completed
                rate = done / max(time.perf_counter() - started, 1e-9)
                bar.update(task, rate=f"{rate:,.0f} reviews/s")

            # Nothing pending: no engine work at all (the Ray engine then never starts Ray).
            scored = score_fn(con, advance) if pending else 0
        score_s = time.perf_counter() - started
        t = time.perf_counter()
        pending_terms = count_pending_terms(con)
        with _progress(ctx.show_progress and bool(pending_terms)) as bar:
            task = bar.add_task("terms", total=pending_terms, rate="")
            n_terms = extract_pending(con, cfg.chunk_rows, lambda n: bar.advance(task, n))
        terms_s = time.perf_counter() - t
        titles = stale_titles(con, versions.similarity)
        t = time.perf_counter()
        with _progress(ctx.show_progress and bool(titles)) as bar:
            task = bar.add_task("cluster", total=len(titles), rate="titles")
            stats = recluster(
                con,
                titles,
                versions.similarity,
                cfg,
                ctx.run_id,
                lambda n: bar.advance(task, n),
            )
        cluster_s = time.perf_counter() - t
        t = time.perf_counter()
        refresh_aggregates(con)  # title_scores follows the new scores
        aggregates_s = time.perf_counter() - t
    return StageResult(
        rows_in=pending,
        rows_out=scored,
        details={
            **details,
            "versions": versions.params(),
            "score_seconds": round(score_s, 3),
            "reviews_per_s": round(scored / score_s, 1) if score_s > 0 and scored else None,
            "terms_extracted": n_terms,
            "terms_seconds": round(terms_s, 3),
            **stats.as_details(),
            "cluster_seconds": round(cluster_s, 3),
            "aggregates_seconds": round(aggregates_s, 3),
        },
    )
