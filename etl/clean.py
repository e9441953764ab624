"""The clean stage: raw Parquet -> ``reviews`` (latest version wins) + ``quarantine``.

Only raw files not yet cleaned are read (``cleaned_files``). Everything a run writes —
reviews, quarantine rows, the list of files it consumed — commits in one DuckDB transaction,
so a stage killed half-way leaves the tables as they were and the rerun redoes the same files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl.clean_config import CleanConfig
from etl.normalize import normalize_frame
from etl.raw_schema import RAW_SCHEMA
from jobs.catalog import open_writer
from jobs.ledger import StageResult
from jobs.runner import StageContext
from jobs.sqlfiles import run_script

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


def latest_versions(raw: pl.DataFrame) -> pl.DataFrame:
    """One row per (source, review_id): the latest scraped version, with the first run that saw
    the review as ``first_seen_run`` and the latest one as ``last_seen_run``."""
    return (
        raw.with_columns(first_seen_run=pl.col("run_id").min().over("source", "review_id"))
        .sort("scraped_at", "run_id", nulls_last=False)
        .unique(subset=["source", "review_id"], keep="last", maintain_order=True)
        .rename({"text": "text_raw", "run_id": "last_seen_run"})
    )


def _reason_expr(cfg: CleanConfig) -> pl.Expr:
    """Why a normalized row is rejected (null = kept). First matching reason wins."""
    rating_bad = pl.col("rating").is_not_null() & ~pl.col("rating").is_between(0, 10)
    return (
        pl.when(pl.col("text_raw").is_null())
        .then(pl.lit("missing_text"))
        .when(rating_bad)
        .then(pl.lit("rating_out_of_range"))
        .when(pl.col("text_norm").str.len_chars() == 0)
        .then(pl.lit("empty_after_normalization"))
        .when(pl.col("hangul_ratio") < cfg.min_hangul_ratio)
        .then(pl.lit("not_korean"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )


def clean_frame(raw: pl.DataFrame, cfg: CleanConfig) -> CleanBatch:
    """Pure: raw records (RAW_SCHEMA) -> rows for ``reviews`` and rows for ``quarantine``."""
    latest = latest_versions(raw)
    normed = normalize_frame(
        latest.with_columns(pl.col("text_raw").fill_null("")), "text_raw", max_chars=cfg.max_chars
    ).with_columns(text_raw=latest["text_raw"])
    judged = normed.with_columns(reason=_reason_expr(cfg))
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
    return CleanBatch(kept=kept, rejected=rejected, rows_in=raw.height)


def pending_files(raw_dir: Path, done: set[str]) -> list[Path]:
    """Raw files not yet cleaned, oldest partition first. Temp files (``.tmp``) are skipped:
    a scraper writes a temp file and renames it, so a half-written file is never listed."""
    if not raw_dir.exists():
        return []
    files = sorted(raw_dir.rglob("*.parquet"))
    return [p for p in files if p.relative_to(raw_dir).as_posix() not in done]


def read_raw(files: list[Path]) -> pl.DataFrame:
    """All rows of ``files`` in the raw contract's schema (a file that lacks a nullable column
    reads it as null; one that breaks the contract fails here, naming nothing half-done)."""
    empty: pl.DataFrame = pl.from_arrow(RAW_SCHEMA.empty_table())  # type: ignore[assignment]
    if not files:
        return empty
    return pl.read_parquet(files, schema=empty.schema)


class _Phases:
    """Seconds per phase, reported in the ledger's stage details."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._t, 3)
        self._t = now


def run(ctx: StageContext) -> StageResult:
    cfg = ctx.cfg.clean
    raw_dir = ctx.wh.raw_dir
    started = time.perf_counter()
    phases = _Phases()
    with open_writer(ctx.wh) as con:
        done = {r[0] for r in con.execute("SELECT path FROM cleaned_files").fetchall()}
        files = pending_files(raw_dir, done)
        if not files:
            ctx.log.info("no new raw files")
            return StageResult(details={"files": 0})
        raw = read_raw(files)
        phases.done("read")
        batch = clean_frame(raw, cfg)
        phases.done("normalize")
        con.execute("BEGIN TRANSACTION")
        try:
            n_spam = _write(con, ctx, batch, files, phases)
            # title_scores follows the reviews, in the same transaction: a kill between the
            # two can never leave the aggregates stale.
            run_script(con, "aggregates/title_stats.sql")
            phases.done("aggregates")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        phases.done("commit")
    elapsed = time.perf_counter() - started
    reasons = dict(batch.rejected.group_by("reason").len().sort("reason").rows())
    if n_spam:
        reasons["spam"] = n_spam
    return StageResult(
        rows_in=batch.rows_in,
        rows_out=batch.kept.height - n_spam,
        rows_rejected=batch.rejected.height + n_spam,
        details={
            "files": len(files),
            "duplicates_in_batch": batch.rows_in - batch.kept.height - batch.rejected.height,
            "rejected_by_reason": reasons,
            "truncated": int(batch.kept["truncated"].sum()),
            "seconds": round(elapsed, 3),
            "phases_s": phases.seconds,
            "reviews_per_s": round(batch.rows_in / elapsed, 1) if elapsed > 0 else None,
        },
    )


def _write(
    con: duckdb.DuckDBPyConnection,
    ctx: StageContext,
    batch: CleanBatch,
    files: list[Path],
    phases: _Phases,
) -> int:
    """All writes of one clean, inside the caller's transaction. Returns the spam count."""
    cfg = ctx.cfg.clean
    con.register("batch", batch.kept.to_arrow())
    run_script(con, "clean/merge_reviews.sql")
    con.unregister("batch")
    phases.done("merge")
    # A review whose latest version was rejected leaves reviews (latest version wins).
    con.register("rejected", batch.rejected.with_columns(run_id=pl.lit(ctx.run_id)).to_arrow())
    run_script(con, "clean/quarantine_rejected.sql")
    con.unregister("rejected")
    params = {"min_titles": cfg.spam_min_titles, "min_chars": cfg.spam_min_chars}
    run_script(con, "clean/spam_texts.sql", params)
    spam = con.execute("SELECT count(*) FROM reviews JOIN spam_texts USING (text_norm)")
    n_spam = int(spam.fetchone()[0])  # type: ignore[index]
    run_script(con, "clean/quarantine_spam.sql", {**params, "run_id": ctx.run_id})
    if n_spam or batch.rejected.height:
        run_script(con, "clean/drop_orphans.sql")
    phases.done("quarantine")
    raw_dir = ctx.wh.raw_dir
    done_rows = pa.table(
        {
            "path": [p.relative_to(raw_dir).as_posix() for p in files],
            "rows": [_rows(p) for p in files],
            "run_id": [ctx.run_id] * len(files),
        }
    )
    con.register("done_rows", done_rows)
    con.execute("INSERT INTO cleaned_files BY NAME (SELECT * FROM done_rows)")
    con.unregister("done_rows")
    return n_spam


def _rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows
