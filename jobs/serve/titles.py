"""Read-only queries of the views for the title endpoints (SQL in ``sql/serve/``).

The server holds no catalog connection between requests: DuckDB lets no other process open a
file that a process holds open, so a connection kept by a long-lived server would lock the
nightly writer out. Each call opens the catalog read-only for the span of its queries (a few
milliseconds) and closes it; while a writer holds the file, it waits at most ``wait_s`` and
then raises :class:`core.catalog.CatalogBusy` (the API answers 503 with Retry-After).
"""

from __future__ import annotations

from typing import Any

import duckdb

from core.catalog import open_reader
from core.sqlfiles import read_sql
from core.warehouse import Warehouse


def _rows(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> list[dict]:
    cur = con.execute(read_sql(f"serve/{name}.sql"), params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def list_titles(
    wh: Warehouse, *, scope: str, q: str, limit: int, offset: int, wait_s: float
) -> dict[str, Any]:
    filters = {"scope": scope, "q": q}
    with open_reader(wh, wait_s) as con:
        rows = _rows(con, "titles", {**filters, "limit": limit, "offset": offset})
        total = _rows(con, "titles_total", filters)[0]["total"]
    return {"scope": scope, "total": total, "limit": limit, "offset": offset, "titles": rows}


def title_detail(wh: Warehouse, title_id: str, *, wait_s: float) -> dict[str, Any] | None:
    """Scores, emotions and clusters of one title; None when the views do not know it."""
    params = {"title_id": title_id}
    with open_reader(wh, wait_s) as con:
        scores = _rows(con, "title_scores", params)
        if not scores:
            return None
        emotions = _rows(con, "title_emotions", params)
        clusters = _rows(con, "title_clusters", params)
    return {
        "title_id": title_id,
        "title": scores[0]["title"],
        "scores": scores,
        "emotions": emotions,
        "clusters": clusters,
    }


def check_readable(wh: Warehouse, *, wait_s: float) -> None:
    """Raise CatalogMissing / CatalogBusy / duckdb.Error unless the views can be read."""
    with open_reader(wh, wait_s) as con:
        con.execute("SELECT 1 FROM title_scores LIMIT 0").fetchall()
