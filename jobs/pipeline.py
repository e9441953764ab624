"""One pipeline run: scrape -> clean -> score -> views -> export -> report, recorded stage by
stage.

A failed or interrupted run resumes from the stage that did not finish on the next
``kreview run`` (the stages before it already committed their work); ``--from`` and
``--only`` choose explicitly. The writer lock (held by :class:`jobs.runner.Run`) keeps two
runs from overlapping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core import ledger
from core.catalog import CatalogMissing, open_reader
from core.stage import StageContext, StageResult
from core.warehouse import Warehouse
from jobs.config import AppConfig
from jobs.runner import Run
from jobs.stages import STAGES
from jobs.stages import stage_fn as _stage

RUN_COMMAND = "run"


@dataclass(frozen=True)
class Plan:
    stages: tuple[str, ...]
    reason: str


def resume_point(wh: Warehouse, wait_s: float) -> tuple[str, str] | None:
    """(stage, run_id) where the last pipeline run stopped, if it did not succeed."""
    try:
        with open_reader(wh, wait_s) as con:
            row = con.execute(
                "SELECT run_id, status FROM runs WHERE command = ? ORDER BY started_at DESC"
                " LIMIT 1",
                [RUN_COMMAND],
            ).fetchone()
            if not row or row[1] == ledger.SUCCEEDED:
                return None
            stages = {s["stage"]: s["status"] for s in ledger.stages_of(con, row[0])}
    except CatalogMissing:
        return None
    # Only the stages that run recorded count: one started with --from clean and killed in
    # score resumes at score, not at the scrape it never planned.
    for name in STAGES:
        if name in stages and stages[name] != ledger.SUCCEEDED:
            return name, row[0]
    done = [i for i, name in enumerate(STAGES) if stages.get(name) == ledger.SUCCEEDED]
    if not done:
        return STAGES[0], row[0]  # died before its first stage: what it planned is unknown
    if done[-1] + 1 < len(STAGES):
        return STAGES[done[-1] + 1], row[0]  # died between two stages
    return None


def plan(cfg: AppConfig, start: str | None = None, only: str | None = None) -> Plan:
    if start is not None and only is not None:
        raise ValueError(f"--from {start} and --only {only} exclude each other: give one")
    for name in (start, only):
        if name is not None and name not in STAGES:
            raise ValueError(f"unknown stage {name!r} (stages: {', '.join(STAGES)})")
    if only:
        return Plan((only,), f"--only {only}")
    if start:
        return Plan(STAGES[STAGES.index(start) :], f"--from {start}")
    point = resume_point(Warehouse(cfg.warehouse.root), cfg.warehouse.read_wait_s)
    if point:
        stage, run_id = point
        return Plan(STAGES[STAGES.index(stage) :], f"resuming run {run_id} at {stage}")
    return Plan(STAGES, "full run")


def run_pipeline(
    cfg: AppConfig,
    the_plan: Plan,
    *,
    show_progress: bool = True,
    stage_fn: Callable[[str], Callable[[StageContext], StageResult]] = _stage,
) -> Run:
    """Run the planned stages in order; the first failure stops the run (StageFailed)."""
    with Run(cfg, RUN_COMMAND, show_progress=show_progress) as run:
        for name in the_plan.stages:
            run.stage(name, stage_fn(name))
    return run
