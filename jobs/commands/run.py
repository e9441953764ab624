"""`kreview run`: one pipeline run (scrape -> clean -> score -> views -> export)."""

from __future__ import annotations

from typing import Annotated

import typer

from jobs.app import app, console, state
from jobs.exits import fail
from jobs.pipeline import STAGES, plan, run_pipeline
from jobs.summary import print_results


@app.command("run")
def run_command(
    ctx: typer.Context,
    start: Annotated[
        str | None, typer.Option("--from", help=f"Start at this stage ({', '.join(STAGES)}).")
    ] = None,
    only: Annotated[str | None, typer.Option("--only", help="Run just this stage.")] = None,
) -> None:
    """One pipeline run. Without --from/--only, a failed last run resumes where it stopped."""
    st = state(ctx)
    cfg = st.config()
    try:
        the_plan = plan(cfg, start, only)
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(f"run: {the_plan.reason}: {' -> '.join(the_plan.stages)}")
    run = run_pipeline(cfg, the_plan, show_progress=not st.quiet)
    print_results(run)
