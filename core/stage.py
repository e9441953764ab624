"""The stage contract: ``run(ctx: StageContext[C]) -> StageResult``.

A stage sees only its own configuration section (``ctx.cfg``, of type ``C``), the warehouse and
its run's identity. Which section that is, and which module holds the stage, is one row of the
stage table in ``jobs/stages.py``; the platform never sees the whole application config.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from core.warehouse import Warehouse

C = TypeVar("C")


@dataclass(frozen=True)
class StageResult:
    """What every stage's ``run`` returns: row counts and stage-specific figures."""

    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageContext(Generic[C]):
    cfg: C  # the stage's own config section
    wh: Warehouse
    run_id: str
    stage: str
    log: logging.LoggerAdapter[logging.Logger]
    show_progress: bool = True
    # How long a read inside the stage waits for a busy catalog (warehouse.read_wait_s).
    read_wait_s: float = 5.0


Stage = Callable[[StageContext[Any]], StageResult]
