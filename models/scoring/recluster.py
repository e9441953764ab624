"""Similarity clusters per title, kept up to date for the titles whose reviews changed.

A title that gained reviews keeps its clusters: the new reviews join them
(models/scoring/incremental.py), and only a title that is new at this model version, or has
drifted (the rules in :class:`~models.scoring.incremental.RefreshRules`), is clustered from
scratch (models/scoring/clustering.py: the titles of a batch are clustered together). Keywords
are computed in SQL from the terms stored per review (sql/score/cluster_keywords.sql), no text
analysed here, once for every cluster written, after the last batch (:func:`fill_keywords`).

Titles are read in batches of at most ``scoring.cluster_read_titles`` titles and
``scoring.cluster_read_reviews`` embedded reviews (one query a batch, each scans the embeddings
table once: a query per title scanned it per title; the review bound keeps memory flat however
the titles are sized), as Arrow columns: the vectors stay the float16 buffer DuckDB returned
(no Python object per review) and each title's are turned into float32 when it is clustered.
The next batch is read ahead, on its own cursor in a thread, while this one is clustered and
written (DuckDB and NumPy's products release the GIL: 2.8 -> 2.3 s for the pool on 2 cores), so
two batches are in memory at a time.
Each read batch's titles get their old clusters, members and state deleted and the new ones
inserted with their keywords pending, and the batches are committed together once they hold
``scoring.cluster_commit_reviews`` reviews (a commit per batch was a third of the write time).
A kill leaves the titles of the uncommitted batches stale, and the rerun redoes them; a kill
before the keywords are filled leaves them pending, and the next run fills them.

:func:`cluster_titles_reference` is the way every title was clustered before: from scratch,
with the member texts analysed by kiwipiepy for keywords. It stays as the reference the tests
and ``bench/nightly.py`` compare against.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import torch
from threadpoolctl import threadpool_limits

from core.catalog import transaction
from core.sqlfiles import read_sql, run_script
from models.config import ScoringConfig
from models.scoring.clustering import UNCLUSTERED, Clusters, cluster_titles
from models.scoring.clustering_reference import cluster_embeddings_reference
from models.scoring.incremental import FullState, RefreshRules, assign, drifted, needs_full
from models.scoring.keywords import ctfidf_keywords, nouns
from models.scoring.scratch import Scratch
from models.scoring.terms import terms_version

# The reference path reads as the score stage did before issue 20: 256 titles per query.
REFERENCE_READ_TITLES = 256

Rows = list[tuple[Any, ...]]  # (review_key, float16 vector blob, prior cluster id), key order


def blobs_to_float32(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    return blobs_to_float16(blobs, dim).astype(np.float32)


def blobs_to_float16(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), dim)


def binary_to_float16(column: pa.ChunkedArray, scratch: Scratch | None = None) -> np.ndarray:
    """An Arrow column of equal-length float16 blobs (binary or large_binary, as Polars hands
    them back) as one (rows, dim) float16 matrix, read from the column's data buffers (no
    Python bytes object per row; a view when the column is one chunk). Several chunks are
    joined in ``scratch`` where one is given (valid until its next use)."""
    if len(column) == 0:
        return np.zeros((0, 1), np.float16)
    parts = []
    for chunk in column.chunks:
        if len(chunk) == 0:
            continue
        if not (pa.types.is_binary(chunk.type) or pa.types.is_large_binary(chunk.type)):
            chunk = chunk.cast(pa.binary())
        offsets = np.int64 if pa.types.is_large_binary(chunk.type) else np.int32
        ends = np.frombuffer(chunk.buffers()[1], dtype=offsets)
        ends = ends[chunk.offset : chunk.offset + len(chunk) + 1]
        width = int(ends[1] - ends[0])
        if np.any(np.diff(ends) != width) or width % 2:
            raise ValueError("embedding blobs of different lengths in one read")
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[ends[0] : ends[-1]]
        parts.append(data.view(np.float16).reshape(len(chunk), width // 2))
    if len(parts) == 1:
        return parts[0]
    if scratch is None:
        return np.concatenate(parts)
    joined = scratch.take((sum(len(p) for p in parts), parts[0].shape[1]))
    return np.concatenate(parts, out=joined)


@dataclass(frozen=True)
class TitleRows:
    """One title's embedded reviews, in key order."""

    keys: list[str]
    half: np.ndarray  # (reviews, dim) float16, as stored
    prior: np.ndarray  # int32: the cluster each review was in, UNCLUSTERED where none
    new: np.ndarray  # int64 indices of the reviews with no membership on record (new, edited)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def vectors(self) -> np.ndarray:
        """(reviews, dim) float32, converted when the title is clustered: one title's worth
        at a time, so the conversion reuses memory instead of faulting in a fresh matrix the
        size of the whole read batch (the most of a batch's read time on a cold VM)."""
        return self.half.astype(np.float32)

    @staticmethod
    def from_tuples(rows: Rows) -> TitleRows:
        """From the reference read's ``(review_key, blob, prior cluster)`` tuples."""
        if not rows:
            return NO_ROWS
        vectors = blobs_to_float16([r[1] for r in rows], len(rows[0][1]) // 2)
        prior = [UNCLUSTERED if r[2] is None else r[2] for r in rows]
        new = [i for i, r in enumerate(rows) if r[2] is None]
        return TitleRows(
            [r[0] for r in rows],
            vectors,
            np.array(prior, dtype=np.int32),
            np.array(new, dtype=np.int64),
        )


NO_ROWS = TitleRows([], np.zeros((0, 1), np.float16), np.zeros(0, np.int32), np.zeros(0, np.int64))


@dataclass(frozen=True)
class TitleClusters:
    title_id: str
    keys: list[str]
    result: Clusters
    full: bool  # clustered from scratch (else: new reviews assigned)
    state: FullState | None  # the state to store (None: the title has no embedded reviews)
    full_at: datetime | None = None  # when its last full clustering ran (None: now)
    # the reference's own keywords; None: computed from the stored terms once every batch is
    # written (fill_keywords), stored as NULL ("pending") until then
    keywords: dict[int, list[str]] | None = None


@dataclass
class ReclusterStats:
    """What a recluster did, and where its time went."""

    titles: int = 0
    full_titles: int = 0  # clustered from scratch
    assigned_titles: int = 0  # new reviews assigned to existing clusters
    clusters: int = 0
    assign_s: float = 0.0
    full_s: float = 0.0
    keywords_s: float = 0.0
    io_s: float = 0.0  # reading embeddings, writing clusters
    why_full: dict[str, int] = field(default_factory=dict)

    def as_details(self) -> dict[str, Any]:
        return {
            "titles_reclustered": self.titles,
            "titles_full": self.full_titles,
            "titles_assigned": self.assigned_titles,
            "clusters": self.clusters,
            "assign_seconds": round(self.assign_s, 3),
            "full_cluster_seconds": round(self.full_s, 3),
            "keywords_seconds": round(self.keywords_s, 3),
            "cluster_io_seconds": round(self.io_s, 3),
            "why_full": dict(self.why_full),
        }


def stale_titles(con: duckdb.DuckDBPyConnection, version: str) -> list[str]:
    rows = con.execute(read_sql("score/stale_cluster_titles.sql"), {"version": version})
    return [r[0] for r in rows.fetchall()]


States = dict[str, tuple[FullState, datetime]]


def _states(con: duckdb.DuckDBPyConnection, version: str) -> States:
    """The cluster state of the titles registered as ``batch_titles``."""
    return {
        t: (FullState(n, unclustered, added), full_at)
        for t, n, unclustered, added, full_at in con.execute(
            read_sql("score/cluster_state.sql"), {"version": version}
        ).fetchall()
    }


def plan_batches(
    counts: Sequence[tuple[str, int]], max_titles: int, max_reviews: int
) -> list[list[str]]:
    """Consecutive titles grouped so that a batch holds at most ``max_titles`` titles and
    ``max_reviews`` embedded reviews (a larger title is a batch of its own). Pure."""
    batches: list[list[str]] = []
    current: list[str] = []
    reviews = 0
    for title_id, n in counts:
        if current and (len(current) >= max_titles or reviews + n > max_reviews):
            batches.append(current)
            current, reviews = [], 0
        current.append(title_id)
        reviews += n
    if current:
        batches.append(current)
    return batches


def _split_titles(table: pa.Table, scratch: Scratch) -> dict[str, TitleRows]:
    """A read batch's rows as one :class:`TitleRows` per title, each in key order. The rows
    are sorted here, not by the query: DuckDB's ORDER BY carried every 768-byte vector
    through its sort (0.3-0.45 s of the 0.9-1.4 s that reading the pool's 491k embedded
    reviews took). Polars sorts the keys alone, and each title gathers its vectors from the
    buffer DuckDB returned (sorting the whole frame copied the vectors twice more: in the
    sort, and back to Arrow). Title runs and nulls are found with Polars too
    (pyarrow.compute's first call cost 0.16 s a process)."""
    if table.num_rows == 0:
        return {}
    frame = pl.from_arrow(table.select(["title_id", "review_key", "prior_cluster"]))
    assert isinstance(frame, pl.DataFrame)
    order = frame.select(pl.arg_sort_by("title_id", "review_key")).to_series().to_numpy()
    frame = frame[order]
    runs = frame["title_id"].rle().struct.unnest()
    bounds = [0, *np.cumsum(runs["len"].to_numpy()).tolist()]
    keys = frame["review_key"].to_list()
    half = binary_to_float16(table.column("vector"), scratch)  # each title copies its rows
    is_new = frame["prior_cluster"].is_null().to_numpy()
    prior = frame["prior_cluster"].fill_null(UNCLUSTERED).to_numpy().astype(np.int32)
    return {
        title_id: TitleRows(keys[a:b], half[order[a:b]], prior[a:b], np.flatnonzero(is_new[a:b]))
        for title_id, (a, b) in zip(runs["value"].to_list(), pairwise(bounds), strict=True)
    }


def title_batches(
    con: duckdb.DuckDBPyConnection,
    titles: Sequence[str],
    version: str,
    max_titles: int,
    max_reviews: int,
) -> Iterator[tuple[list[tuple[str, TitleRows]], States]]:
    """``([(title_id, rows)], {title_id: (state, full_at)})`` per read batch (see
    :func:`plan_batches`), one query each. Titles without embedded reviews come with no rows
    (their clusters are cleared)."""
    con.register("batch_titles", pl.DataFrame({"title_id": list(titles)}).to_arrow())
    try:
        found = con.execute(read_sql("score/titles_embedded_counts.sql"), {"version": version})
        n = dict(found.fetchall())
    finally:
        con.unregister("batch_titles")
    plan = plan_batches([(t, n.get(t, 0)) for t in titles], max_titles, max_reviews)
    if not plan:
        return
    # The reader is a connection of its own: it reads while ``con`` writes, and does not see
    # ``con``'s uncommitted batches, which it does not need: a batch reads only its own titles.
    reader = con.cursor()
    scratch = Scratch(np.float16)  # DuckDB returns a read in several chunks, joined here

    def read(chunk: list[str]) -> tuple[dict[str, TitleRows], States]:
        reader.register("batch_titles", pl.DataFrame({"title_id": chunk}).to_arrow())
        try:
            states = _states(reader, version)
            table = reader.sql(
                read_sql("score/titles_embeddings.sql"),
                params={"version": version, "with_prior": bool(states)},
            ).to_arrow_table()
            return _split_titles(table, scratch), states
        finally:
            reader.unregister("batch_titles")

    with ThreadPoolExecutor(1, thread_name_prefix="recluster-read") as pool:
        try:
            ahead = pool.submit(read, plan[0])
            for k, chunk in enumerate(plan):
                by_title, states = ahead.result()
                if k + 1 < len(plan):
                    ahead = pool.submit(read, plan[k + 1])
                yield [(title_id, by_title.get(title_id, NO_ROWS)) for title_id in chunk], states
        finally:
            ahead.cancel()
            wait([ahead])  # the reader is closed only once no read uses it
            reader.close()


def title_batches_reference(
    con: duckdb.DuckDBPyConnection, titles: list[str], version: str, batch: int
) -> Iterator[tuple[list[tuple[str, TitleRows]], States]]:
    """The read of the reference path: ``batch`` titles per query, fetched as Python tuples
    (how the score stage read before issue 20)."""
    for start in range(0, len(titles), batch):
        chunk = titles[start : start + batch]
        con.register("batch_titles", pl.DataFrame({"title_id": chunk}).to_arrow())
        try:
            sql = read_sql("score/titles_embeddings_reference.sql")
            found = con.execute(sql, {"version": version})
            by_title: dict[str, Rows] = {}
            for title_id, *row in found.fetchall():
                by_title.setdefault(title_id, []).append(tuple(row))
            states = _states(con, version)
        finally:
            con.unregister("batch_titles")
        yield [(t, TitleRows.from_tuples(by_title.get(t, []))) for t in chunk], states


def _from_scratch(title_id: str, rows: TitleRows, res: Clusters) -> TitleClusters:
    # the unclustered share from the sizes: np.mean over the labels cost 10 µs a title
    unclustered = (len(rows) - sum(res.sizes)) / len(rows) if len(rows) else 0.0
    state = FullState(len(rows), unclustered, 0) if len(rows) else None
    return TitleClusters(title_id, rows.keys, res, True, state)


def _assigned(
    title_id: str,
    rows: TitleRows,
    prior: tuple[FullState, datetime] | None,
    rules: RefreshRules,
    threshold: float,
    stats: ReclusterStats,
) -> TitleClusters | None:
    """The title with its new reviews assigned to its clusters, or None when the rules say it
    must be clustered from scratch (the reason counted in ``stats.why_full``)."""
    state = prior[0] if prior else None
    why = needs_full(state, len(rows.new), rules) if len(rows) else "no embedded reviews"
    if why is None and state is not None and prior is not None:
        t = time.perf_counter()
        res = assign(rows.vectors, rows.prior, rows.new, threshold)
        stats.assign_s += time.perf_counter() - t
        if not drifted(state, res.labels, rules):
            stats.assigned_titles += 1
            kept = FullState(
                state.n_reviews, state.unclustered_share, state.n_added + len(rows.new)
            )
            return TitleClusters(title_id, rows.keys, res, False, kept, prior[1])
        why = f"unclustered share grew by more than {rules.unclustered_growth:.0%}"
    stats.why_full[why] = stats.why_full.get(why, 0) + 1
    return None


def update_titles(
    batch: Sequence[tuple[str, TitleRows]],
    states: States,
    cfg: ScoringConfig,
    stats: ReclusterStats,
) -> list[TitleClusters]:
    """Pure: each title's clusters after its changes: new reviews assigned, or, when the rules
    say so, the title clustered from scratch; those titles are clustered together
    (:func:`~models.scoring.clustering.cluster_titles`)."""
    rules = RefreshRules(cfg.recluster_new_share, cfg.recluster_unclustered_growth)
    out = [
        _assigned(title_id, rows, states.get(title_id), rules, cfg.cluster_threshold, stats)
        for title_id, rows in batch
    ]
    full = [i for i, done in enumerate(out) if done is None]
    t = time.perf_counter()
    clustered = cluster_titles(
        [batch[i][1].half for i in full], cfg.cluster_threshold, cfg.min_cluster_size
    )
    for i, res in zip(full, clustered, strict=True):
        out[i] = _from_scratch(*batch[i], res)
    stats.full_s += time.perf_counter() - t
    stats.full_titles += len(full)
    return out  # type: ignore[return-value]  # every None was replaced


def update_title(
    title_id: str,
    rows: TitleRows,
    prior: tuple[FullState, datetime] | None,
    cfg: ScoringConfig,
    stats: ReclusterStats,
) -> TitleClusters:
    """:func:`update_titles` of one title."""
    return update_titles([(title_id, rows)], {title_id: prior} if prior else {}, cfg, stats)[0]


def cluster_titles_reference(
    con: duckdb.DuckDBPyConnection, batch: Sequence[tuple[str, TitleRows]], cfg: ScoringConfig
) -> list[TitleClusters]:
    """The reference: every title clustered from scratch, keywords from the member texts
    analysed by kiwipiepy (one call for the whole batch). What the score stage did before
    terms were stored and clusters kept incrementally."""
    results = [
        _from_scratch(
            t,
            rows,
            cluster_embeddings_reference(rows.vectors, cfg.cluster_threshold, cfg.min_cluster_size),
        )
        for t, rows in batch
    ]
    clustered = [[i for i, lab in enumerate(r.result.labels) if lab >= 0] for r in results]
    keys = [batch[b][1].keys[i] for b, idx in enumerate(clustered) for i in idx]
    con.register("batch_keys", pl.DataFrame({"review_key": keys}, schema={"review_key": pl.Utf8}))
    try:
        texts = dict(con.execute(read_sql("score/review_texts.sql")).fetchall())
    finally:
        con.unregister("batch_keys")
    words = nouns([texts[k] for k in keys]) if keys else []
    out, start = [], 0
    for r, idx in zip(results, clustered, strict=True):
        labels = [int(r.result.labels[i]) for i in idx]
        kw = ctfidf_keywords(words[start : start + len(idx)], labels, cfg.cluster_keywords)
        start += len(idx)
        out.append(TitleClusters(r.title_id, r.keys, r.result, True, r.state, keywords=kw))
    return out


def _members(done: Sequence[TitleClusters], version: str) -> pl.DataFrame:
    labels = [t.result.labels for t in done]
    return pl.DataFrame(
        {
            "review_key": [k for t in done for k in t.keys],
            "title_id": pl.Series([t.title_id for t in done], dtype=pl.Utf8).gather(
                np.repeat(np.arange(len(done)), [len(t.keys) for t in done])
            ),
            "similarity_version": version,
            "cluster_id": np.concatenate(labels).astype(np.int32) if labels else [],
        },
        schema={
            "review_key": pl.Utf8,
            "title_id": pl.Utf8,
            "similarity_version": pl.Utf8,
            "cluster_id": pl.Int32,
        },
    )


def stored_keywords(
    con: duckdb.DuckDBPyConnection, version: str, top_k: int
) -> list[tuple[str, int, list[str]]]:
    """``(title_id, cluster_id, keywords)`` of every cluster whose keywords are pending, from
    the stored terms (c-TF-IDF in SQL)."""
    return con.execute(
        read_sql("score/cluster_keywords.sql"),
        {"version": version, "terms_version": terms_version(), "top_k": top_k},
    ).fetchall()


def fill_keywords(con: duckdb.DuckDBPyConnection, version: str, top_k: int) -> None:
    """Keywords for every cluster whose keywords are pending (written by this run's batches,
    or by a run killed before it got here), in one transaction. One query for all of them: a
    query per batch scanned the terms of every review once per batch."""
    found = stored_keywords(con, version, top_k)
    frame = pl.DataFrame(
        found,
        schema={"title_id": pl.Utf8, "cluster_id": pl.Int32, "keywords": pl.List(pl.Utf8)},
        orient="row",
    )
    with transaction(con):
        _run(con, "score/fill_keywords.sql", version, new_keywords=frame.to_arrow())


def _clusters(
    done: Sequence[TitleClusters], version: str, run_id: str, now: datetime
) -> pl.DataFrame:
    rows = [
        (
            t.title_id,
            cid,
            size,
            t.keys[rep],
            None if t.keywords is None else t.keywords.get(cid, []),
        )
        for t in done
        for cid, (size, rep) in enumerate(
            zip(t.result.sizes, t.result.representatives, strict=True)
        )
    ]
    return pl.DataFrame(
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


def _state(done: Sequence[TitleClusters], version: str, run_id: str, now: datetime) -> pl.DataFrame:
    kept = [t for t in done if t.state is not None]
    return pl.DataFrame(
        {
            "title_id": [t.title_id for t in kept],
            "similarity_version": version,
            "full_reviews": pl.Series([t.state.n_reviews for t in kept], dtype=pl.Int32),  # type: ignore[union-attr]
            "full_unclustered": [t.state.unclustered_share for t in kept],  # type: ignore[union-attr]
            "added_since_full": pl.Series([t.state.n_added for t in kept], dtype=pl.Int32),  # type: ignore[union-attr]
            "full_at": pl.Series([t.full_at or now for t in kept], dtype=pl.Datetime("us", "UTC")),
            "updated_at": pl.Series([now] * len(kept), dtype=pl.Datetime("us", "UTC")),
            "run_id": run_id,
        },
        schema={
            "title_id": pl.Utf8,
            "similarity_version": pl.Utf8,
            "full_reviews": pl.Int32,
            "full_unclustered": pl.Float64,
            "added_since_full": pl.Int32,
            "full_at": pl.Datetime("us", "UTC"),
            "updated_at": pl.Datetime("us", "UTC"),
            "run_id": pl.Utf8,
        },
    )


def _run(con: duckdb.DuckDBPyConnection, script: str, version: str, **frames: pa.Table) -> None:
    """Run ``sql/<script>`` with ``frames`` registered under their names."""
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        run_script(con, script, {"version": version})
    finally:
        for name in frames:
            con.unregister(name)


def write_clusters(
    con: duckdb.DuckDBPyConnection, done: Sequence[TitleClusters], version: str, run_id: str
) -> int:
    """Replace the clusters, members and state of ``done``'s titles (their keywords pending,
    or the reference's own), in the caller's transaction. Returns the number of clusters
    stored."""
    now = datetime.now(UTC)
    members = _members(done, version)
    clusters = _clusters(done, version, run_id, now)
    _run(
        con,
        "score/replace_clusters.sql",
        version,
        batch_titles=pl.DataFrame({"title_id": [t.title_id for t in done]}).to_arrow(),
        new_members=members.to_arrow(),
        new_clusters=clusters.to_arrow(),
        new_state=_state(done, version, run_id, now).to_arrow(),
    )
    return clusters.height


@contextmanager
def _one_math_thread() -> Iterator[None]:
    """NumPy's BLAS and torch on one thread for the block. The products are small (titles of a
    few dozen reviews), where a second thread costs more than it gives, and its threads spin
    between calls on the core the read ahead needs: the pool's 14k titles reclustered in 4.2 s
    with two threads each, 2.9 s with BLAS on one, 2.2 s with torch (the stacks' float16
    conversion) on one too."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(threads)


def recluster(
    con: duckdb.DuckDBPyConnection,
    titles: list[str],
    version: str,
    cfg: ScoringConfig,
    run_id: str,
    advance: Callable[[int], None] = lambda n: None,
    *,
    reference: bool = False,
) -> ReclusterStats:
    """Bring the clusters of ``titles`` up to date, a transaction for every
    ``cfg.cluster_commit_reviews`` reviews of read batches (each batch whole in one), then the
    keywords of every cluster left without (:func:`fill_keywords`).
    ``reference``: cluster every title from scratch with keywords from the texts (the way it
    was done before; bench/nightly.py's baseline)."""
    stats = ReclusterStats(titles=len(titles))
    t = time.perf_counter()
    batches = (
        title_batches_reference(con, titles, version, REFERENCE_READ_TITLES)
        if reference
        else title_batches(con, titles, version, cfg.cluster_read_titles, cfg.cluster_read_reviews)
    )
    # the reference commits every read batch, as the score stage did before issue 20
    commit_at = 1 if reference else cfg.cluster_commit_reviews
    written = 0  # reviews written since the last commit
    # the reference runs as the stage ran it before issue 20
    with nullcontext() if reference else _one_math_thread():
        con.execute("BEGIN TRANSACTION")
        try:
            for batch, states in batches:
                if reference:
                    t_ref = time.perf_counter()
                    done = cluster_titles_reference(con, batch, cfg)
                    stats.full_s += time.perf_counter() - t_ref
                    stats.full_titles += len(done)
                else:
                    done = update_titles(batch, states, cfg, stats)
                stats.clusters += write_clusters(con, done, version, run_id)
                written += sum(len(rows) for _, rows in batch)
                if written >= commit_at:
                    con.execute("COMMIT")
                    con.execute("BEGIN TRANSACTION")
                    written = 0
                advance(len(done))
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    t_kw = time.perf_counter()
    fill_keywords(con, version, cfg.cluster_keywords)  # a no-op when nothing is pending
    stats.keywords_s += time.perf_counter() - t_kw
    total = time.perf_counter() - t
    stats.io_s = total - stats.assign_s - stats.full_s - stats.keywords_s
    return stats
