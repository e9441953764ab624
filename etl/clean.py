"""The clean stage: raw Parquet -> ``reviews`` (latest version wins) + ``quarantine``.

Only raw files not yet cleaned are read (``cleaned_files``). Everything a run writes —
reviews, quarantine rows, the list of files it consumed — commits in one DuckDB transaction,
so a stage killed half-way leaves the tables as they were and the rerun redoes the same files.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from core.catalog import open_writer, transaction
from core.sqlfiles import run_script
from core.stage import StageContext, StageResult
from etl.clean_config import CleanConfig
from etl.normalize import normalize_frame
from etl.raw_schema import RAW_SCHEMA

# Columns of the reviews table, in order (sql/migrations/0003_reviews.sql).
REVIEW_COLUMNS = (
    "review_key", "source", "review_id", "title_id", "title", "source_title_id", "rating",
    "text_raw", "text_norm", "laugh_count", "cry_count", "emoji_count", "emojis", "text_rating",
    "hangul_ratio", "length", "truncated", "author_hash", "written_at", "likes", "spoiler",
    "url", "scraped_at", "first_seen_run", "last_seen_run",
)  # fmt: skip
QUARANTINE_COLUMNS = ("stage", "source", "review_id", "title_id", "reason", "detail", "raw")
RAW_SNIPPET_CHARS = 4000


@dataclass(frozen=True)
class CleanBatch:
    kept: pl.DataFrame  # REVIEW_COLUMNS
    rejected: pl.DataFrame  # QUARANTINE_COLUMNS + scraped_at
    rows_in: int


KEY = ["source", "review_id"]
_FILE, _ROW = "__file", "__row"  # where a raw row sits: file number in the clean, row in it


def _reason_expr(cfg: CleanConfig) -> pl.Expr:
    """Why a normalized row is rejected (null = kept). First matching reason wins."""
    rating_bad = pl.col("rating").is_not_null() & ~pl.col("rating").is_between(0, 10)
    return (
        pl.when(pl.col("text_raw").is_null())
        .then(pl.lit("missing_text"))
        # The site itself flagged it (Watcha's `improper`): kept in raw, never scored.
        .when(pl.col("improper").fill_null(False))
        .then(pl.lit("improper"))
        .when(rating_bad)
        .then(pl.lit("rating_out_of_range"))
        .when(pl.col("text_norm").str.len_chars() == 0)
        .then(pl.lit("empty_after_normalization"))
        .when(pl.col("hangul_ratio") < cfg.min_hangul_ratio)
        .then(pl.lit("not_korean"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )


def clean_latest(latest: pl.DataFrame, cfg: CleanConfig, rows_in: int) -> CleanBatch:
    """Pure: one version per review (:func:`read_latest`'s output) -> normalized, judged
    rows for ``reviews`` and for ``quarantine``."""
    # The streaming engine runs the string kernels on both cores (morsel by morsel); the
    # in-memory engine runs each expression over the whole column on one.
    judged = (
        normalize_frame(
            latest.lazy().with_columns(pl.col("text_raw").fill_null("")),
            "text_raw",
            max_chars=cfg.max_chars,
        )
        .with_columns(text_raw=latest["text_raw"])
        .with_columns(reason=_reason_expr(cfg))
        .collect(engine="streaming")
    )
    kept = judged.filter(pl.col("reason").is_null()).select(REVIEW_COLUMNS)
    rejected = judged.filter(pl.col("reason").is_not_null()).select(
        stage=pl.lit("clean"),
        source="source",
        review_id="review_id",
        title_id="title_id",
        reason="reason",
        detail=pl.format(
            "hangul_ratio={} rating={}",
            pl.col("hangul_ratio").round(3),
            pl.col("rating"),
        ),
        raw=pl.col("text_raw").str.slice(0, RAW_SNIPPET_CHARS),
        scraped_at="scraped_at",
    )
    return CleanBatch(kept=kept, rejected=rejected, rows_in=rows_in)


def pending_files(raw_dir: Path, done: set[str]) -> list[Path]:
    """Raw files not yet cleaned, oldest partition first. Temp files (``.tmp``) are skipped:
    a scraper writes a temp file and renames it, so a half-written file is never listed."""
    if not raw_dir.exists():
        return []
    files = sorted(raw_dir.rglob("*.parquet"))
    return [p for p in files if p.relative_to(raw_dir).as_posix() not in done]


def _empty_raw() -> pl.DataFrame:
    # Not RAW_SCHEMA.empty_table(): that imports pandas (0.4 s, a sixth of a 494k clean).
    return pl.from_arrow(pa.Table.from_batches([], schema=RAW_SCHEMA))  # type: ignore[return-value]


def read_raw(files: list[Path], columns: list[str] | None = None) -> pl.DataFrame:
    """All rows of ``files`` in the raw contract's schema (a file that lacks a nullable column
    reads it as null; one that breaks the contract fails here, naming nothing half-done)."""
    empty = _empty_raw()
    if not files:
        return empty if columns is None else empty.select(columns)
    return pl.read_parquet(files, schema=empty.schema, columns=columns)


def chunk_files(files: list[Path], rows: list[int], chunk_rows: int) -> list[list[int]]:
    """Consecutive files grouped into chunks of at least ``chunk_rows`` rows (the last may be
    smaller); returns file numbers."""
    chunks: list[list[int]] = [[]]
    size = 0
    for i, n in enumerate(rows):
        if size >= chunk_rows:
            chunks.append([])
            size = 0
        chunks[-1].append(i)
        size += n
    return chunks if files else []


def read_keys(files: list[Path]) -> pl.DataFrame:
    """The key columns of every row of ``files``, with the file number of each row."""
    cols = ["source", "review_id", "scraped_at", "run_id"]
    return pl.concat(
        [
            read_raw([p], cols).with_columns(pl.lit(i, pl.Int32).alias(_FILE))
            for i, p in enumerate(files)
        ]
    )


def latest_rows(keys: pl.DataFrame) -> pl.DataFrame | None:
    """Where the latest version of each review sits (file number, row, first_seen_run), from
    :func:`read_keys`' output; None when no review occurs twice (every row is latest)."""
    if keys.select(pl.struct(KEY).n_unique()).item() == keys.height:
        return None
    keys = keys.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).over(_FILE).alias(_ROW))
    return (
        keys.with_columns(first_seen_run=pl.col("run_id").min().over(KEY))
        .sort("scraped_at", "run_id", _FILE, _ROW, nulls_last=False)
        .unique(subset=KEY, keep="last")
        .select(_FILE, _ROW, "first_seen_run")
    )


def read_latest(
    files: list[Path], numbers: list[int], winners: pl.DataFrame | None
) -> tuple[int, pl.DataFrame]:
    """The chunk's raw rows that are the latest version of their review (see latest_rows)."""
    parts = [read_raw([files[i]]) for i in numbers]
    if winners is None:
        raw = pl.concat(parts)
        latest = raw.with_columns(first_seen_run=pl.col("run_id"))
    else:
        raw = pl.concat(
            [
                part.with_row_index(_ROW).with_columns(pl.lit(i, pl.Int32).alias(_FILE))
                for i, part in zip(numbers, parts, strict=True)
            ]
        )
        latest = raw.join(winners, on=[_FILE, _ROW], how="inner").drop(_FILE, _ROW)
    return raw.height, latest.rename({"text": "text_raw", "run_id": "last_seen_run"})


def _clean_chunk(
    files: list[Path], numbers: list[int], winners: pl.DataFrame | None, cfg: CleanConfig
) -> CleanBatch:
    rows_in, latest = read_latest(files, numbers, winners)
    return clean_latest(latest, cfg, rows_in)


def prefetched(
    chunks: list[list[int]], make: Callable[[list[int]], CleanBatch]
) -> Iterator[CleanBatch]:
    """``make(chunk)`` for each chunk, the next one computed in a worker thread while the
    caller writes the current one (Polars and DuckDB both release the GIL)."""
    if not chunks:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clean-prefetch") as pool:
        ahead: Future[CleanBatch] = pool.submit(make, chunks[0])
        for nxt in chunks[1:]:
            current = ahead.result()
            ahead = pool.submit(make, nxt)
            yield current
        yield ahead.result()


class _Phases:
    """Seconds per phase, reported in the ledger's stage details."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._t, 3)
        self._t = now


@dataclass
class _Totals:
    rows_in: int = 0
    kept: int = 0
    truncated: int = 0
    rejected: list[pl.DataFrame] = field(default_factory=list)

    def add(self, batch: CleanBatch) -> None:
        self.rows_in += batch.rows_in
        self.kept += batch.kept.height
        self.truncated += int(batch.kept["truncated"].sum())
        self.rejected.append(batch.rejected)

    def all_rejected(self) -> pl.DataFrame:
        return pl.concat(self.rejected) if self.rejected else pl.DataFrame()


def run(ctx: StageContext[CleanConfig]) -> StageResult:
    cfg = ctx.cfg
    raw_dir = ctx.wh.raw_dir
    started = time.perf_counter()
    phases = _Phases()
    with open_writer(ctx.wh) as con:
        done = {r[0] for r in con.execute("SELECT path FROM cleaned_files").fetchall()}
        files = pending_files(raw_dir, done)
        if not files:
            ctx.log.info("no new raw files")
            return StageResult(details={"files": 0})
        rows = [_rows(p) for p in files]
        keys = read_keys(files)
        winners = latest_rows(keys)
        chunks = chunk_files(files, rows, cfg.chunk_rows)
        phases.done("keys")
        totals = _Totals()
        batches = prefetched(chunks, lambda numbers: _clean_chunk(files, numbers, winners, cfg))
        with transaction(con):
            n_spam = _write(con, ctx, files, rows, keys, batches, totals, phases)
            # title_scores follows the reviews, in the same transaction: a kill between the
            # two can never leave the aggregates stale.
            run_script(con, "aggregates/title_stats.sql")
            phases.done("aggregates")
        phases.done("commit")
        # Closing the connection would checkpoint anyway; done here, its cost shows as a phase.
        con.execute("CHECKPOINT")
        phases.done("checkpoint")
    elapsed = time.perf_counter() - started
    rejected = totals.all_rejected()
    reasons = dict(rejected.group_by("reason").len().sort("reason").rows()) if len(rejected) else {}
    if n_spam:
        reasons["spam"] = n_spam
    return StageResult(
        rows_in=totals.rows_in,
        rows_out=totals.kept - n_spam,
        rows_rejected=len(rejected) + n_spam,
        details={
            "files": len(files),
            "chunks": len(chunks),
            "duplicates_in_batch": totals.rows_in - totals.kept - len(rejected),
            "rejected_by_reason": reasons,
            "truncated": totals.truncated,
            "seconds": round(elapsed, 3),
            # normalize_wait: time the writer waited for the next normalized chunk
            "phases_s": phases.seconds,
            "reviews_per_s": round(totals.rows_in / elapsed, 1) if elapsed > 0 else None,
        },
    )


def _write(
    con: duckdb.DuckDBPyConnection,
    ctx: StageContext[CleanConfig],
    files: list[Path],
    rows: list[int],
    keys: pl.DataFrame,
    batches: Iterator[CleanBatch],
    totals: _Totals,
    phases: _Phases,
) -> int:
    """All writes of one clean, inside the caller's transaction. Returns the spam count."""
    cfg = ctx.cfg
    con.register("batch_keys", keys.select(KEY).to_arrow())
    run_script(con, "clean/prior_versions.sql")
    con.unregister("batch_keys")
    phases.done("prior")
    known_keys = pl.from_arrow(con.sql("SELECT source, review_id FROM prior").to_arrow_table())
    held: pl.DataFrame | None = None  # rows short of a whole row group, for the next insert
    for batch in batches:
        phases.done("normalize_wait")
        totals.add(batch)
        fresh = batch.kept
        if known_keys.height:
            # New versions of stored reviews go through the merge; the rest is a plain insert.
            known = fresh.join(known_keys, on=KEY, how="semi")
            fresh = fresh.join(known_keys, on=KEY, how="anti")
            if known.height:
                con.register("batch", known.to_arrow())
                run_script(con, "clean/merge_reviews.sql")
                con.unregister("batch")
        held = _insert_row_groups(con, fresh if held is None else pl.concat([held, fresh]))
        phases.done("merge")
    if held is not None:
        _insert_new(con, held)
        phases.done("merge")
    # A review whose latest version was rejected leaves reviews (latest version wins).
    rejected = totals.all_rejected()
    if len(rejected):
        con.register("rejected", rejected.with_columns(run_id=pl.lit(ctx.run_id)).to_arrow())
        run_script(con, "clean/quarantine_rejected.sql")
        con.unregister("rejected")
    params = {"min_titles": cfg.spam_min_titles, "min_chars": cfg.spam_min_chars}
    run_script(con, "clean/spam_texts.sql", params)
    spam = con.execute("SELECT count(*) FROM reviews JOIN spam_texts USING (text_norm)")
    n_spam = int(spam.fetchone()[0])  # type: ignore[index]
    run_script(con, "clean/quarantine_spam.sql", {**params, "run_id": ctx.run_id})
    if n_spam or len(rejected):
        run_script(con, "clean/drop_orphans.sql")
    phases.done("quarantine")
    raw_dir = ctx.wh.raw_dir
    # Built in Polars: pyarrow's table constructors import pandas (0.4 s) on first use.
    done_rows = pl.DataFrame(
        {
            "path": [p.relative_to(raw_dir).as_posix() for p in files],
            "rows": rows,
            "run_id": [ctx.run_id] * len(files),
        },
        schema={"path": pl.Utf8, "rows": pl.Int64, "run_id": pl.Utf8},
    )
    con.register("done_rows", done_rows.to_arrow())
    con.execute("INSERT INTO cleaned_files BY NAME (SELECT * FROM done_rows)")
    con.unregister("done_rows")
    return n_spam


# DuckDB's rows per row group (the default of the storage format). An insert that ends in a
# partial row group leaves it to the checkpoint, which rewrites it together with the rows of the
# next insert: with the chunked clean that was 1 s of the 494k-review bench. So chunks are
# inserted in whole row groups, the rest held for the next chunk.
ROW_GROUP_ROWS = 122_880


def _insert_row_groups(con: duckdb.DuckDBPyConnection, fresh: pl.DataFrame) -> pl.DataFrame:
    """Inserts the whole row groups of ``fresh``; returns the rows held back."""
    whole = fresh.height - fresh.height % ROW_GROUP_ROWS
    if whole:
        _insert_new(con, fresh.head(whole))
    return fresh.slice(whole)


def _insert_new(con: duckdb.DuckDBPyConnection, fresh: pl.DataFrame) -> None:
    if not fresh.height:
        return
    # One Arrow chunk: DuckDB scans several chunks in parallel, each into a partial row group
    # that the checkpoint then rewrites; one chunk it writes once, in full row groups.
    con.register("fresh", fresh.rechunk().to_arrow())
    run_script(con, "clean/insert_new.sql")
    con.unregister("fresh")


def _rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows
