"""The stage table: each pipeline stage's module and the config section it is given.

Wiring only. A stage module exposes ``run(ctx: StageContext[C]) -> StageResult``; its row here
names the module (imported only when the stage runs, so torch loads for score alone) and picks
its section out of the application config, so no stage sees more configuration than its own.
Adding a stage is one module plus one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from core.stage import Stage
from etl.scrape_config import ScrapeStageConfig
from jobs.config import AppConfig


@dataclass(frozen=True)
class StageSpec:
    module: str
    section: Callable[[AppConfig], Any]


# In pipeline order.
STAGE_TABLE: dict[str, StageSpec] = {
    "scrape": StageSpec(
        "etl.scrape", lambda c: ScrapeStageConfig(scrape=c.scrape, sources=c.sources)
    ),
    "clean": StageSpec("etl.clean", lambda c: c.clean),
    "score": StageSpec("models.scoring.score", lambda c: c.scoring),
    "views": StageSpec("etl.views", lambda c: None),
    "export": StageSpec("etl.export", lambda c: c.export),
    "report": StageSpec("etl.report.build", lambda c: c.report),
}
STAGES = tuple(STAGE_TABLE)


def stage_fn(name: str) -> Stage:
    """The stage's entry point (imports its module)."""
    if name not in STAGE_TABLE:
        raise ValueError(f"unknown stage {name!r} (stages: {', '.join(STAGES)})")
    return import_module(STAGE_TABLE[name].module).run


def section_for(name: str, cfg: AppConfig) -> Any:
    """The config section stage ``name`` is given (None for a stage outside the table)."""
    spec = STAGE_TABLE.get(name)
    return spec.section(cfg) if spec else None
