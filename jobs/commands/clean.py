"""`kreview clean`: raw Parquet -> reviews + quarantine."""

from __future__ import annotations

from typing import Annotated

import typer

from jobs.app import app, state
from jobs.runner import Run
from jobs.summary import print_results


@app.command()
def clean(
    ctx: typer.Context,
    min_hangul_ratio: Annotated[
        float | None, typer.Option(help="Reject texts with less Hangul than this (0–1).")
    ] = None,
) -> None:
    """Normalize new raw reviews into the reviews table; rejects go to the quarantine."""
    from etl import clean as clean_stage  # stage code loads only when the command runs

    st = state(ctx)
    cfg = st.config(**{"clean.min_hangul_ratio": min_hangul_ratio})
    with Run(cfg, "clean", show_progress=not st.quiet) as run:
        run.stage("clean", clean_stage.run)
    print_results(run)
