"""`kreview scrape`: collect Naver and Watcha Pedia reviews into raw Parquet."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from etl import scrape
from jobs.app import app, console, state
from jobs.config import ConfigError
from jobs.runner import Run


class SourceChoice(StrEnum):
    naver = "naver"
    watcha = "watcha"
    all = "all"


@app.command("scrape")
def scrape_command(
    ctx: typer.Context,
    source: Annotated[
        SourceChoice, typer.Option("--source", help="Which site to collect from.")
    ] = SourceChoice.all,
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
) -> None:
    """Collect reviews of the listed titles (politely; incremental) into warehouse/raw."""
    overrides: dict[str, Any] = {
        "scrape.titles_file": titles,
        "scrape.min_per_title": min_per_title,
        "scrape.max_per_title": max_per_title,
    }
    if source is not SourceChoice.all:
        overrides["sources.naver.enabled"] = source is SourceChoice.naver
        overrides["sources.watcha.enabled"] = source is SourceChoice.watcha
    st = state(ctx)
    cfg = st.config(**overrides)
    # Checked before taking the lock, so a typo costs one clear line (exit 2), not a run.
    if not cfg.scrape.titles_file.is_file():
        raise ConfigError(f"scrape.titles_file: file not found: {cfg.scrape.titles_file}")
    if not cfg.scrape.chromium_path.exists():
        raise ConfigError(
            f"scrape.chromium_path: no browser at {cfg.scrape.chromium_path} "
            "(install Chromium: `make system-deps`)"
        )
    with Run(cfg, "scrape", show_progress=not st.quiet) as run:
        result = run.stage("scrape", scrape.run)
    _print_summary(run.run_id, result.details)
    # Per-title outcomes stay in the catalog for `kreview query`.


def _print_summary(run_id: str, details: dict[str, Any]) -> None:
    table = Table(title=f"scrape {run_id}", title_justify="left")
    for col in ("source", "titles", "ok", "too few", "failed", "not found", "reviews", "rejected"):
        table.add_column(col, justify="left" if col == "source" else "right")
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
        for failure in s["failures"]:
            console.print(
                f"[red]failed[/] {source} {escape(failure['title'])}: {escape(failure['error'])}",
                highlight=False,
            )
    console.print(
        f"{details['seconds']}s, {details['requests']} requests, {details['retries']} retries"
        f" · per title: SELECT * FROM scrape_titles WHERE run_id = '{run_id}'",
        highlight=False,
    )
