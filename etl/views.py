"""The views stage: (re)create every view in ``sql/views/`` (core.catalog.create_views) and
report how many titles they cover. Every writer also refreshes the views when it opens the
catalog; this stage makes the refresh an explicit, recorded step of the nightly run."""

from __future__ import annotations

from core.catalog import create_views, open_writer, refresh_aggregates
from core.stage import StageContext, StageResult

__all__ = ["VIEW_NAMES", "create_views", "refresh_aggregates", "run"]

VIEW_NAMES = (
    "scored_reviews",
    "title_scores",
    "title_emotions",
    "title_clusters",
    "daily_title_trend",
    "source_comparison",
)


def run(ctx: StageContext[None]) -> StageResult:
    with open_writer(ctx.wh) as con:
        files = create_views(con)
        refresh_aggregates(con)
        row = con.execute("SELECT count(*) FROM title_scores WHERE scope = 'all'").fetchone()
    titles = int(row[0]) if row else 0
    return StageResult(rows_in=titles, rows_out=titles, details={"views": len(files)})
