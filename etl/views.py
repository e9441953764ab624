"""The views stage: (re)create every view in ``sql/views/`` in file-name order, atomically."""

from __future__ import annotations

import duckdb

from jobs.catalog import open_writer
from jobs.ledger import StageResult
from jobs.runner import StageContext
from jobs.sqlfiles import read_sql, sql_root

VIEW_NAMES = (
    "scored_reviews",
    "title_scores",
    "title_emotions",
    "title_clusters",
    "daily_title_trend",
    "source_comparison",
)


def view_files() -> list[str]:
    """``views/NN_name.sql`` in order; the number prefix orders views after those they read."""
    return sorted(f"views/{p.name}" for p in (sql_root() / "views").glob("*.sql"))


def create_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create or replace all views inside one transaction; returns the files applied."""
    files = view_files()
    con.execute("BEGIN TRANSACTION")
    try:
        for rel in files:
            con.execute(read_sql(rel))
        con.execute("COMMIT")
    except duckdb.Error:
        con.execute("ROLLBACK")
        raise
    return files


def run(ctx: StageContext) -> StageResult:
    with open_writer(ctx.wh) as con:
        files = create_views(con)
        row = con.execute("SELECT count(*) FROM title_scores WHERE scope = 'all'").fetchone()
    titles = int(row[0]) if row else 0
    return StageResult(rows_in=titles, rows_out=titles, details={"views": len(files)})
