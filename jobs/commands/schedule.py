"""`kreview schedule`: the long-running scheduler (nightly run, weekly model refresh)."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer
from rich.table import Table

from core.lock import WarehouseLocked, describe_holder
from core.warehouse import Warehouse
from jobs.app import app, console, state
from jobs.config import find_config_file
from jobs.exits import EXIT_BUSY, fail
from jobs.scheduler import (
    NIGHTLY,
    REFRESH,
    CatchUp,
    ChildRunner,
    Scheduler,
    check_catch_up,
    child_env,
    default_commands,
    default_jobs,
    event,
    schedule_lock,
)


def _print_plan(sched: Scheduler, commands: dict[str, str], catch_up: CatchUp | None) -> None:
    table = Table(title=f"schedule ({sched.timezone})", title_justify="left")
    for col in ("job", "cron", "next run", "runs"):
        table.add_column(col)
    for job, when in sched.next_fire_times().items():
        cron = next(j.cron for j in sched.jobs if j.name == job)
        table.add_row(job, cron, when.isoformat() if when else "never", commands[job])
    console.print(table)
    if catch_up is not None:
        verdict = "catch-up run now" if catch_up.due else "no catch-up run"
        console.print(f"{verdict}: {catch_up.reason}")


@app.command("schedule")
def schedule_command(
    ctx: typer.Context,
    catch_up: Annotated[
        bool,
        typer.Option(
            "--catch-up/--no-catch-up",
            help="Run at once when the last successful run is older than catch_up_after_h.",
        ),
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the jobs and next run times; start nothing.")
    ] = False,
) -> None:
    """Run the pipeline (and the model refresh) on their cron schedules until SIGTERM/SIGINT."""
    st = state(ctx)
    cfg = st.config()
    sc = cfg.schedule
    wh = Warehouse(cfg.warehouse.root).ensure()
    commands = default_commands(sc)
    children = ChildRunner(child_env(wh.root, find_config_file(st.config_path, os.environ)))
    jobs = default_jobs(sc, commands, children, wh, cfg.warehouse.read_wait_s)
    sched = Scheduler.from_config(sc, jobs, children)
    shown = {
        NIGHTLY: " ".join(sc.nightly_command) if sc.nightly_command else "kreview run",
        REFRESH: f"{len(commands.train)} x kreview train, then kreview score if promoted",
    }
    if dry_run:
        due = check_catch_up(wh, sc.catch_up_after_h, cfg.warehouse.read_wait_s)
        _print_plan(sched, shown, due if catch_up else None)
        return
    # APScheduler logs its own warnings for missed and skipped runs; the scheduler logs
    # those events itself as JSON lines, so keep the console to one line per event.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    try:
        with schedule_lock(wh):
            due = check_catch_up(wh, sc.catch_up_after_h, cfg.warehouse.read_wait_s)
            _print_plan(sched, shown, due if catch_up else None)
            event("catch_up", due.reason, catch_up=catch_up and due.due)
            sched.serve(catch_up=catch_up and due.due)
    except WarehouseLocked as exc:
        holder = describe_holder(exc.holder)
        raise fail(f"a scheduler already runs on this warehouse: {holder}", EXIT_BUSY) from None
    console.print("scheduler stopped")
