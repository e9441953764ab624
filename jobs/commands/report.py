"""`kreview report`: the static HTML report of the warehouse, built from the SQL views."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.fonts import HangulFontMissing
from core.warehouse import Warehouse
from etl.report.build import ViewsMissing, build_report
from jobs.app import app, console, state
from jobs.exits import EXIT_FAILED, EXIT_USAGE, fail
from jobs.inputs import check_out_dir


@app.command()
def report(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Reports root (default <warehouse>/reports)."),
    ] = None,
    title: Annotated[
        list[str] | None,
        typer.Option(
            "--title",
            "-t",
            help="Also write this title's page (name or title id); repeat for more. Pages are "
            "written for the report.max_title_pages most reviewed titles, plus these.",
        ),
    ] = None,
) -> None:
    """Static HTML report (index of every title, pages for the most reviewed ones and any
    --title, the run) under <out>/<run>/, `latest` pointing at it; opens offline from disk or
    any web server. Read-only on the catalog."""
    st = state(ctx)
    if out is not None:
        check_out_dir(out, "--out")  # before reading anything: a typo costs one line
    cfg = st.config(**{"report.out_dir": out})
    try:
        result = build_report(
            Warehouse(cfg.warehouse.root),
            cfg.report,
            read_wait_s=cfg.warehouse.read_wait_s,
            titles=tuple(title or ()),
            show_progress=not st.quiet,
        )
    except LookupError as exc:
        raise fail(f"report: {exc.args[0]}", EXIT_USAGE) from None
    except (HangulFontMissing, ViewsMissing) as exc:
        raise fail(f"report: {exc}", EXIT_FAILED) from None
    console.print(
        f"report: {result.titles} titles, {result.pages} pages, {result.plots} plots, "
        f"{result.bytes / 1e6:.1f} MB"
    )
    # Plain print: the path must stay on one line whatever the terminal width (scripts read it).
    print(result.index)
