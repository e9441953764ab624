"""Similarity clusters per title, recomputed for the titles whose reviews changed.

Titles are read ``scoring.cluster_read_titles`` at a time (one query: a query per title scanned
the embeddings table each time) and each read batch is written in one transaction: its titles'
old clusters and members deleted, the new ones inserted. A transaction per title cost two
DELETE scans and a commit per title, and kiwipiepy was called once per title; now once per
batch. A kill inside a batch leaves that batch's titles stale, and the rerun redoes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import polars as pl

from core.sqlfiles import read_sql, run_script
from models.config import ScoringConfig
from models.scoring.clustering import Clusters, cluster_embeddings
from models.scoring.keywords import ctfidf_keywords, nouns

Rows = list[tuple[Any, ...]]  # (review_key, text_norm, float16 vector blob), review_key order


def blobs_to_float32(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    return (
        np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), dim).astype(np.float32)
    )


@dataclass(frozen=True)
class TitleClusters:
    title_id: str
    keys: list[str]
    result: Clusters
    keywords: dict[int, list[str]]


def stale_titles(con: duckdb.DuckDBPyConnection, version: str) -> list[str]:
    rows = con.execute(read_sql("score/stale_cluster_titles.sql"), {"version": version})
    return [r[0] for r in rows.fetchall()]


def title_batches(
    con: duckdb.DuckDBPyConnection, titles: list[str], version: str, batch: int
) -> Iterator[list[tuple[str, Rows]]]:
    """``[(title_id, rows)]`` for ``batch`` titles at a time, one query per batch. Titles
    without embedded reviews come with no rows (their clusters are cleared)."""
    for start in range(0, len(titles), batch):
        chunk = titles[start : start + batch]
        con.register("batch_titles", pl.DataFrame({"title_id": chunk}).to_arrow())
        try:
            found = con.execute(read_sql("score/titles_embeddings.sql"), {"version": version})
            by_title: dict[str, Rows] = {}
            for title_id, *row in found.fetchall():
                by_title.setdefault(title_id, []).append(tuple(row))
        finally:
            con.unregister("batch_titles")
        yield [(title_id, by_title.get(title_id, [])) for title_id in chunk]


def cluster_titles(batch: Sequence[tuple[str, Rows]], cfg: ScoringConfig) -> list[TitleClusters]:
    """Pure: clusters and keywords of each title (one kiwipiepy call for the whole batch)."""
    results = []
    texts: list[str] = []
    spans: list[tuple[int, int]] = []
    for _title_id, rows in batch:
        dim = len(rows[0][2]) // 2 if rows else 0
        emb = blobs_to_float32([r[2] for r in rows], dim) if rows else np.zeros((0, 1), np.float32)
        res = cluster_embeddings(emb, cfg.cluster_threshold, cfg.min_cluster_size)
        clustered = [i for i, lab in enumerate(res.labels) if lab >= 0]
        spans.append((len(texts), len(clustered)))
        texts.extend(rows[i][1] for i in clustered)
        results.append((res, clustered))
    words = nouns(texts) if texts else []
    out = []
    for (title_id, rows), (res, clustered), (start, n) in zip(batch, results, spans, strict=True):
        labels = [int(res.labels[i]) for i in clustered]
        keywords = ctfidf_keywords(words[start : start + n], labels, cfg.cluster_keywords)
        out.append(TitleClusters(title_id, [r[0] for r in rows], res, keywords))
    return out


def _tables(
    done: Sequence[TitleClusters], version: str, run_id: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    members = pl.DataFrame(
        {
            "review_key": [k for t in done for k in t.keys],
            "title_id": [t.title_id for t in done for _ in t.keys],
            "similarity_version": version,
            "cluster_id": pl.Series(
                [int(c) for t in done for c in t.result.labels], dtype=pl.Int32
            ),
        },
        schema={
            "review_key": pl.Utf8,
            "title_id": pl.Utf8,
            "similarity_version": pl.Utf8,
            "cluster_id": pl.Int32,
        },
    )
    now = datetime.now(UTC)
    rows = [
        (t.title_id, cid, size, t.keys[rep], t.keywords.get(cid, []))
        for t in done
        for cid, (size, rep) in enumerate(
            zip(t.result.sizes, t.result.representatives, strict=True)
        )
    ]
    clusters = pl.DataFrame(
        rows,
        schema={
            "title_id": pl.Utf8,
            "cluster_id": pl.Int32,
            "size": pl.Int32,
            "representative_key": pl.Utf8,
            "keywords": pl.List(pl.Utf8),
        },
        orient="row",
    ).with_columns(
        similarity_version=pl.lit(version),
        computed_at=pl.lit(now, dtype=pl.Datetime("us", "UTC")),
        run_id=pl.lit(run_id),
    )
    return members, clusters


def write_clusters(
    con: duckdb.DuckDBPyConnection, done: Sequence[TitleClusters], version: str, run_id: str
) -> int:
    """Replace the clusters and members of ``done``'s titles, in one transaction. Returns the
    number of clusters stored."""
    members, clusters = _tables(done, version, run_id)
    con.execute("BEGIN TRANSACTION")
    try:
        con.register(
            "batch_titles", pl.DataFrame({"title_id": [t.title_id for t in done]}).to_arrow()
        )
        con.register("new_members", members.to_arrow())
        con.register("new_clusters", clusters.to_arrow())
        run_script(con, "score/replace_clusters.sql", {"version": version})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in ("batch_titles", "new_members", "new_clusters"):
            con.unregister(name)
    return clusters.height


def recluster(
    con: duckdb.DuckDBPyConnection,
    titles: list[str],
    version: str,
    cfg: ScoringConfig,
    run_id: str,
    advance: Callable[[int], None] = lambda n: None,
    *,
    titles_per_transaction: int | None = None,
) -> int:
    """Recompute the clusters of ``titles``; returns the clusters stored. One transaction per
    read batch (``titles_per_transaction`` splits it further: bench/recluster.py's baseline)."""
    n_clusters = 0
    for batch in title_batches(con, titles, version, cfg.cluster_read_titles):
        step = titles_per_transaction or len(batch)
        for start in range(0, len(batch), step):
            part = cluster_titles(batch[start : start + step], cfg)
            n_clusters += write_clusters(con, part, version, run_id)
            advance(len(part))
    return n_clusters
