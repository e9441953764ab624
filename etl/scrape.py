"""The scrape stage: titles list → each enabled site → new reviews in raw Parquet.

For every source and title: resolve the site's id, page reviews until the cap, the end, or
reviews already collected; as the title finishes, append its new reviews to raw (atomically,
one part per title) and its outcome to the run's journal (:mod:`etl.scrape_journal`), so a
crash loses at most the titles in flight; quarantine unparseable items; record each title's
outcome in ``scrape_titles`` (ok / too_few / failed / not_found). A failing title is recorded
and the others go on; a source failing for too many of its titles fails the stage (non-zero
exit, ledger "failed") once everything collected is safe.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.catalog import open_writer, transaction
from core.stage import StageContext, StageResult
from etl import raw_store, scrape_journal
from etl.fetch import Fetcher, FetchStats, min_gap
from etl.scrape_config import ScrapeStageConfig
from etl.sources import TitleCrawl, TitlePlan
from etl.sources.table import NAMES, site
from etl.titles import TitleEntry, load_titles

OK, TOO_FEW, FAILED, NOT_FOUND = "ok", "too_few", "failed", "not_found"
STATUSES = (OK, TOO_FEW, FAILED, NOT_FOUND)

Ctx = StageContext[ScrapeStageConfig]


class ScrapeFailed(RuntimeError):
    """A source failed for all its titles or more than ``scrape.max_failed_title_share`` of
    them (site down, markup or API changed, wrong rating scale): the stage fails, loudly."""


@dataclass(frozen=True)
class SourceJob:
    source: str
    plans: list[TitlePlan]
    already: raw_store.Collected
    # Titles a scrape that died finished recently: not crawled again (run id that did).
    resumed: dict[str, str]


def enabled_sources(ctx: Ctx) -> list[str]:
    return [name for name in NAMES if getattr(ctx.cfg.sources, name).enabled]


def _completed_before(ctx: Ctx, sources: list[str]) -> set[tuple[str, str]]:
    """(source, title_id) pairs some earlier run paged to the end (or cap) cleanly."""
    with open_writer(ctx.wh) as con:
        rows = con.execute(
            "SELECT DISTINCT source, title_id FROM scrape_titles"
            " WHERE complete AND status IN ('ok', 'too_few') AND run_id <> ?",
            [ctx.run_id],
        ).fetchall()
    return {(s, t) for s, t in rows if s in sources}


def _resume_orphans(ctx: Ctx) -> dict[tuple[str, str], str]:
    """Import the journals of scrapes that died (their rows land under their own run id, as
    if they had committed), delete them, and return the titles they finished within
    ``scrape.resume_window_h``: (source, title_id) → the run that collected it."""
    journals = scrape_journal.orphans(ctx.wh.journal_dir, ctx.run_id)
    if not journals:
        return {}
    for journal in journals:
        _record(ctx, journal.run_id, journal.titles, journal.quarantine)
        journal.path.unlink()
        ctx.log.info(
            "imported %d finished titles of run %s, which died", len(journal.titles), journal.run_id
        )
    horizon = datetime.now(UTC).timestamp() - ctx.cfg.scrape.resume_window_h * 3600
    return {
        (row["source"], row["title_id"]): journal.run_id
        for journal in journals
        for row in journal.titles
        if row["complete"] and row["status"] != FAILED and row["finished_at"].timestamp() >= horizon
    }


def _plans(
    ctx: Ctx,
    titles: list[TitleEntry],
    sources: list[str],
    salt: str,
    resumed: dict[tuple[str, str], str],
) -> list[SourceJob]:
    done = _completed_before(ctx, sources)
    jobs = []
    for source in sources:
        already = raw_store.collected(ctx.wh, source)
        plans = []
        skipped = {}
        for t in titles:
            if (source, t.title_id) in resumed:
                skipped[t.title_id] = resumed[(source, t.title_id)]
                continue
            finished = (source, t.title_id) in done
            cap = ctx.cfg.scrape.max_per_title
            plans.append(
                TitlePlan(
                    entry=t,
                    known_ids=already.review_ids,
                    stop_at_known=finished,
                    # A finished title takes up to `cap` new reviews a run; an unfinished one
                    # (an earlier run failed midway) resumes up to `cap` in all.
                    max_new=cap if finished else max(0, cap - already.per_title[t.title_id]),
                    salt=salt,
                    run_id=ctx.run_id,
                )
            )
        jobs.append(SourceJob(source, plans, already, skipped))
    return jobs


async def _collect_one(fetcher: Fetcher, ctx: Ctx, source: str, plan: TitlePlan) -> TitleCrawl:
    return await site(source).collect(fetcher, getattr(ctx.cfg.sources, source), plan)


@dataclass(frozen=True)
class FinishedTitle:
    """A title's crawl on one source, and what was made durable of it."""

    crawl: TitleCrawl
    row: dict[str, Any]  # its scrape_titles row
    quarantine: list[dict[str, Any]]
    files: list[str]  # raw parts written


def _persist(ctx: Ctx, job: SourceJob, crawl: TitleCrawl) -> FinishedTitle:
    """A finished title, made durable: its reviews in raw (one part per title), then its rows
    in the journal. A crash after the first and before the second leaves reviews that the
    next run meets again as known; it never leaves rows without their reviews."""
    files = raw_store.write_raw(
        ctx.wh, job.source, ctx.run_id, crawl.records, part=crawl.entry.title_id
    )
    row = _title_row(ctx, job, crawl, datetime.now(UTC))
    quarantine = _quarantine_rows(ctx, job.source, crawl)
    scrape_journal.append(
        scrape_journal.journal_path(ctx.wh.journal_dir, ctx.run_id), row, quarantine
    )
    return FinishedTitle(crawl, row, quarantine, [str(f) for f in files])


async def _crawl_source(
    fetcher: Fetcher, ctx: Ctx, job: SourceJob, progress: Progress
) -> list[FinishedTitle]:
    """Titles of one source by N workers (N = pages allowed per host); results in list order.
    Each title is persisted as it finishes (:func:`_persist`)."""
    task = progress.add_task(job.source, total=len(job.plans), reviews=0)
    results: list[FinishedTitle | None] = [None] * len(job.plans)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(job.plans)):
        queue.put_nowait(i)
    collected = 0

    async def worker() -> None:
        nonlocal collected
        while not queue.empty():
            i = queue.get_nowait()
            crawl = await _collect_one(fetcher, ctx, job.source, job.plans[i])
            results[i] = _persist(ctx, job, crawl)
            collected += len(crawl.records)
            progress.update(task, advance=1, reviews=collected)
            if crawl.error:
                ctx.log.warning("%s: %s failed: %s", job.source, crawl.entry.label, crawl.error)

    await asyncio.gather(*(worker() for _ in range(ctx.cfg.scrape.max_concurrency_per_host)))
    return [r for r in results if r is not None]


@dataclass(frozen=True)
class CrawlOutcome:
    crawls: dict[str, list[FinishedTitle]]
    stats: FetchStats
    # Smallest gap between two request starts per host, as the gate let them through.
    host_min_gap_s: dict[str, float | None]
    # Requests whose end the gate never heard of (written off after a wait; should be 0).
    lost_completions: int


async def _crawl(ctx: Ctx, jobs: list[SourceJob]) -> CrawlOutcome:
    progress = Progress(
        TextColumn("[bold]{task.description:<7}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("titles · {task.fields[reviews]} reviews"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not ctx.show_progress,
    )
    with progress:
        async with Fetcher(ctx.cfg.scrape, ctx.log) as fetcher:
            crawls = await asyncio.gather(*(_crawl_source(fetcher, ctx, j, progress) for j in jobs))
    gate = fetcher.gate
    if gate.lost():
        ctx.log.warning("%d requests never reported their end to the gate", gate.lost())
    return CrawlOutcome(
        crawls={j.source: c for j, c in zip(jobs, crawls, strict=True)},
        stats=fetcher.stats,
        host_min_gap_s={host: min_gap(gate.starts(host)) for host in gate.hosts()},
        lost_completions=gate.lost(),
    )


def status_of(crawl: TitleCrawl, total: int, min_per_title: int) -> str:
    if crawl.not_found:
        return NOT_FOUND
    if crawl.error:
        return FAILED
    return TOO_FEW if total < min_per_title else OK


def _title_row(ctx: Ctx, job: SourceJob, crawl: TitleCrawl, now: datetime) -> dict[str, Any]:
    total = job.already.per_title[crawl.entry.title_id] + len(crawl.records)
    return {
        "run_id": ctx.run_id,
        "source": job.source,
        "title_id": crawl.entry.title_id,
        "title": crawl.entry.name,
        "year": crawl.entry.year,
        "source_title_id": crawl.source_title_id,
        "status": status_of(crawl, total, ctx.cfg.scrape.min_per_title),
        "collected": len(crawl.records),
        "total": total,
        "rejected": len(crawl.rejects),
        "duplicates": crawl.duplicates,
        "pages": crawl.pages,
        "complete": crawl.complete,
        "error": crawl.error,
        "finished_at": now,
        "spoiler_hidden": crawl.spoiler_hidden,
        "improper": sum(bool(r.get("improper")) for r in crawl.records),
    }


def _quarantine_rows(ctx: Ctx, source: str, crawl: TitleCrawl) -> list[dict[str, Any]]:
    limit = ctx.cfg.scrape.snippet_chars
    return [
        {
            "stage": ctx.stage,
            "source": source,
            "review_id": rej.review_id,
            "title_id": crawl.entry.title_id,
            "reason": rej.reason,
            "detail": rej.detail,
            "raw": rej.raw[:limit],
            "run_id": ctx.run_id,
        }
        for rej in crawl.rejects
    ]


_TITLE_COLUMNS = (
    "run_id, source, title_id, title, year, source_title_id, status, collected, total,"
    " rejected, duplicates, pages, complete, error, finished_at, spoiler_hidden, improper"
)
_QUARANTINE_COLUMNS = "stage, source, review_id, title_id, reason, detail, raw, run_id"


def _record(
    ctx: Ctx,
    run_id: str,
    titles: list[dict[str, Any]],
    quarantine: list[dict[str, Any]],
) -> None:
    """One transaction; recording a run's rows again replaces them (idempotent)."""
    with open_writer(ctx.wh) as con, transaction(con):
        con.execute("DELETE FROM scrape_titles WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM quarantine WHERE stage = ? AND run_id = ?", [ctx.stage, run_id])
        # Whole tables in one statement each (Arrow registered as a view), not row by row.
        for table, columns, rows in (
            ("scrape_titles", _TITLE_COLUMNS, titles),
            ("quarantine", _QUARANTINE_COLUMNS, quarantine),
        ):
            if rows:
                con.register("incoming", pa.Table.from_pylist(rows))
                con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM incoming")
                con.unregister("incoming")


def _summary(rows: list[dict[str, Any]], quarantined: int, resumed: int) -> dict[str, Any]:
    statuses = Counter(r["status"] for r in rows)
    return {
        "titles": len(rows),
        **{s: statuses.get(s, 0) for s in STATUSES},
        "resumed": resumed,
        "collected": sum(r["collected"] for r in rows),
        "rejected": quarantined,
        "duplicates": sum(r["duplicates"] for r in rows),
        "pages": sum(r["pages"] for r in rows),
        "improper": sum(r["improper"] for r in rows),
        "spoiler_hidden": sum(r["spoiler_hidden"] for r in rows),
        "failures": [
            {"title": r["title"], "error": r["error"]} for r in rows if r["status"] == FAILED
        ][:20],
        "too_few_titles": [r["title"] for r in rows if r["status"] == TOO_FEW][:50],
        "not_found_titles": [r["title"] for r in rows if r["status"] == NOT_FOUND][:50],
    }


def source_failure(source: str, summary: dict[str, Any], max_share: float) -> str | None:
    """Why a source's crawl counts as failed, or None. Failed titles over the allowed share
    of the titles that were looked for, or every title "not found" (a page whose review
    section no longer matches looks exactly like a film without reviews)."""
    looked = summary["titles"] - summary[NOT_FOUND]
    failed = summary[FAILED]
    if looked and failed and (failed == looked or failed > max_share * looked):
        first = summary["failures"][0]
        return (
            f"{source}: {failed} of {looked} titles failed (scrape.max_failed_title_share "
            f"{max_share:g}); first: {first['title']}: {first['error']}"
        )
    if summary["titles"] and summary[NOT_FOUND] == summary["titles"]:
        return (
            f"{source}: none of {summary['titles']} titles was found: if they exist on the "
            f"site, its markup changed (check with `kreview scrape --probe TITLE --source "
            f"{source}`)"
        )
    return None


def run(ctx: Ctx) -> StageResult:
    cfg = ctx.cfg.scrape
    titles = load_titles(cfg.titles_file)
    sources = enabled_sources(ctx)
    if not sources:
        raise ValueError(f"sources: every source is disabled; enable one of {', '.join(NAMES)}")
    salt = raw_store.author_salt(ctx.wh, cfg.author_salt)
    resumed = _resume_orphans(ctx)
    jobs = _plans(ctx, titles, sources, salt, resumed)
    ctx.log.info("scraping %d titles from %s", len(titles), ", ".join(sources))
    for job in jobs:
        if job.resumed:
            ctx.log.info(
                "%s: %d titles finished by runs that died are skipped: %s",
                job.source,
                len(job.resumed),
                ", ".join(sorted(set(job.resumed.values()))),
            )

    started = time.monotonic()
    outcome = asyncio.run(_crawl(ctx, jobs))
    crawls, stats = outcome.crawls, outcome.stats
    seconds = time.monotonic() - started

    title_rows: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    per_source: dict[str, Any] = {}
    for job in jobs:
        # Rows as journalled when each title finished (its reviews are in raw since then).
        rows = [done.row for done in crawls[job.source]]
        q = [row for done in crawls[job.source] for row in done.quarantine]
        title_rows += rows
        quarantine += q
        per_source[job.source] = _summary(rows, len(q), len(job.resumed))
    _record(ctx, ctx.run_id, title_rows, quarantine)
    scrape_journal.journal_path(ctx.wh.journal_dir, ctx.run_id).unlink(missing_ok=True)

    files = [f for done in crawls.values() for d in done for f in d.files]
    rows_out = sum(s["collected"] for s in per_source.values())
    rows_in = sum(d.crawl.items_seen for done in crawls.values() for d in done)
    failures = [
        why
        for source, summary in per_source.items()
        if (why := source_failure(source, summary, cfg.max_failed_title_share))
    ]
    if failures:
        raise ScrapeFailed("; ".join(failures))
    return StageResult(
        rows_in=rows_in,
        rows_out=rows_out,
        rows_rejected=len(quarantine),
        details={
            "sources": per_source,
            "files": files,
            "seconds": round(seconds, 2),
            "reviews_per_s": round(rows_out / seconds, 2) if seconds else None,
            "pages_per_s": round(sum(s["pages"] for s in per_source.values()) / seconds, 2)
            if seconds
            else None,
            "requests": stats.requests,
            "retries": stats.retries,
            "timeouts": stats.timeouts,
            "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
            "retry_after_waits_s": stats.retry_after_waits[:20],
            "host_min_gap_s": outcome.host_min_gap_s,
            "user_agent": stats.user_agent,
            "robots_txt": cfg.robots_txt,
            "robots": {host: r.as_dict() for host, r in stats.robots.items()},
            "lost_completions": outcome.lost_completions,
        },
    )
