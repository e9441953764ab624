"""`kreview scrape`: collect reviews from the sites in the source table into raw Parquet."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from etl import scrape
from etl.sources.table import ALL_SCOPE, NAMES
from etl.titles import TitleEntry, load_titles, title_id
from jobs.app import app, console, state
from jobs.config import AppConfig, ConfigError, load_config
from jobs.exits import EXIT_FAILED, fail
from jobs.runner import Run

# --source: every source in the table, or all of them.
SourceChoice = StrEnum("SourceChoice", {name: name for name in (*NAMES, ALL_SCOPE)})
ALL_SOURCES = SourceChoice(ALL_SCOPE)


@app.command("scrape")
def scrape_command(
    ctx: typer.Context,
    source: Annotated[
        SourceChoice, typer.Option("--source", help="Which site to collect from.")
    ] = ALL_SOURCES,
    titles: Annotated[
        Path | None,
        typer.Option("--titles", help="Titles list (name or name<TAB>year per line)."),
    ] = None,
    min_per_title: Annotated[
        int | None, typer.Option("--min-per-title", help="Fewer is recorded as too_few.")
    ] = None,
    max_per_title: Annotated[
        int | None, typer.Option("--max-per-title", help="New reviews per title and source.")
    ] = None,
    probe: Annotated[
        str | None,
        typer.Option(
            "--probe",
            metavar="TITLE",
            help="Fetch this one title and check every selector and field; writes nothing.",
        ),
    ] = None,
    year: Annotated[
        int | None, typer.Option("--year", help="With --probe: the title's year.")
    ] = None,
) -> None:
    """Collect reviews of the listed titles (politely; incremental) into warehouse/raw."""
    overrides: dict[str, Any] = {
        "scrape.titles_file": titles,
        "scrape.min_per_title": min_per_title,
        "scrape.max_per_title": max_per_title,
    }
    if source != ALL_SCOPE:
        for name in NAMES:
            overrides[f"sources.{name}.enabled"] = source == name
    st = state(ctx)
    if probe is not None:
        # Read-only: no warehouse, no lock, no log file.
        _probe(load_config(st.config_path, overrides={**st.overrides, **overrides}), probe, year)
        return
    if year is not None:
        raise ConfigError("--year goes with --probe (a titles file gives years per line)")
    # Checked before creating anything or taking the lock, so a typo costs one clear line
    # (exit 2), not a run.
    cfg = st.read_config(**overrides)
    if not cfg.scrape.titles_file.is_file():
        raise ConfigError(f"scrape.titles_file: file not found: {cfg.scrape.titles_file}")
    load_titles(cfg.scrape.titles_file)  # a bad or empty list: one line naming it, exit 2
    if not cfg.scrape.chromium_path.exists():
        raise ConfigError(
            f"scrape.chromium_path: no browser at {cfg.scrape.chromium_path} "
            "(install Chromium: `make system-deps`)"
        )
    cfg = st.config(**overrides)  # the writer's set-up: the warehouse's logs/ from here on
    with Run(cfg, "scrape", show_progress=not st.quiet) as run:
        result = run.stage("scrape", scrape.run)
    _print_summary(run.run_id, result.details)
    # Per-title outcomes stay in the catalog for `kreview query`.


def _print_summary(run_id: str, details: dict[str, Any]) -> None:
    table = Table(title=f"scrape {run_id}", title_justify="left")
    columns = ("source", "titles", "ok", "too few", "failed", "not found", "reviews")
    for col in (*columns, "rejected"):
        table.add_column(col, justify="left" if col == "source" else "right", no_wrap=True)
    for source, s in details["sources"].items():
        table.add_row(
            source,
            str(s["titles"]),
            str(s["ok"]),
            str(s["too_few"]),
            f"[red]{s['failed']}[/]" if s["failed"] else "0",
            str(s["not_found"]),
            f"{s['collected']:,}",
            str(s["rejected"]),
        )
    console.print(table)
    for source, s in details["sources"].items():
        if s["resumed"]:
            console.print(
                f"{source}: {s['resumed']} titles skipped: a scrape that died had just "
                "collected them"
            )
        if s["improper"]:
            console.print(
                f"{source}: {s['improper']} reviews flagged improper by the site "
                "(kept in raw; clean quarantines them)"
            )
        if s["spoiler_hidden"]:
            console.print(
                f"{source}: {s['spoiler_hidden']} spoiler texts were hidden by the page "
                "(spoiler switch not found)"
            )
        for failure in s["failures"]:
            console.print(
                f"[red]failed[/] {source} {escape(failure['title'])}: {escape(failure['error'])}",
                highlight=False,
            )
    for host, robots in details.get("robots", {}).items():
        hits = robots["disallowed_hits"]
        if hits:
            console.print(
                f"[yellow]robots.txt[/] of {host} disallows {hits} of the URLs asked for "
                f"({', '.join(robots['disallowed_by_rule'])}); scrape.robots_txt = "
                f"{details['robots_txt']!r}: {robots['refused']} refused",
                highlight=False,
            )
    console.print(
        f"{details['seconds']}s, {details['requests']} requests, {details['retries']} retries"
        f" · per title: SELECT * FROM scrape_titles WHERE run_id = '{run_id}'",
        highlight=False,
    )


def _probe(cfg: AppConfig, name: str, year: int | None) -> None:
    import asyncio
    import logging

    from etl.probe import probe

    name = " ".join(name.split())
    if not name:
        raise ConfigError("--probe: the title is empty")
    if not cfg.scrape.chromium_path.exists():
        raise ConfigError(
            f"scrape.chromium_path: no browser at {cfg.scrape.chromium_path} "
            "(install Chromium: `make system-deps`)"
        )
    sources = [(n, getattr(cfg.sources, n)) for n in NAMES if getattr(cfg.sources, n).enabled]
    if not sources:
        raise ConfigError(f"sources: every source is disabled; enable one of {', '.join(NAMES)}")
    entry = TitleEntry(title_id(name, year), name, year)
    reports = asyncio.run(probe(cfg.scrape, sources, entry, logging.getLogger("kreview.probe")))
    for report in reports:
        table = Table(
            title=f"{report.source} · {escape(report.title)} · {escape(report.url)}",
            title_justify="left",
        )
        prefix = f"sources.{report.source}."
        table.add_column("")
        table.add_column(f"key ({prefix}…)", overflow="fold")
        table.add_column("selector / field", overflow="fold", max_width=40)
        table.add_column("matched", justify="right")
        table.add_column("first values", overflow="fold", max_width=36)
        table.add_column("verdict", overflow="fold")
        for row in report.rows:
            table.add_row(
                "[green]ok[/]" if row.ok else "[red]FAIL[/]",
                row.key.removeprefix(prefix),
                escape(row.value),
                "" if row.matched is None else str(row.matched),
                escape(" | ".join(v[:24] for v in row.first[:2])),
                escape(row.verdict) if row.ok else f"[red]{escape(row.verdict)}[/]",
            )
        console.print(table)
    failed = [r.source for r in reports if not r.ok]
    if failed:
        raise fail(
            f"probe: {', '.join(failed)} would fail on {entry.label}: fix the keys "
            "marked FAIL in kreview.toml (docs/sources/ says where each fact comes from)",
            EXIT_FAILED,
        )
