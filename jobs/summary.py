"""The short table a finished command prints: rows in / kept / rejected per stage."""

from __future__ import annotations

from rich.table import Table

from jobs.app import console
from jobs.runner import Run


def print_results(run: Run) -> None:
    table = Table(title=f"run {run.run_id}", title_justify="left")
    for col in ("stage", "rows in", "rows out", "rejected", "details"):
        table.add_column(col, justify="right" if col.startswith("r") else "left")
    for stage, res in run.results.items():
        details = ", ".join(
            f"{k}={v}" for k, v in res.details.items() if not isinstance(v, dict | list)
        )
        table.add_row(
            stage, f"{res.rows_in:,}", f"{res.rows_out:,}", f"{res.rows_rejected:,}", details
        )
    console.print(table)
