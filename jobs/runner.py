"""Runs stages under the writer lock and records each in the run ledger.

A stage is any callable ``run(ctx: StageContext) -> StageResult``. It opens the catalog itself
(``core.catalog.open_writer``) only for the span of its work.
"""

from __future__ import annotations

from types import TracebackType

from core import ledger
from core.catalog import open_writer, publish_read_copy
from core.lock import writer_lock
from core.logs import stage_logger
from core.stage import Stage, StageContext, StageResult
from core.warehouse import Warehouse
from jobs.config import AppConfig
from jobs.stages import section_for


class StageFailed(RuntimeError):
    def __init__(self, stage: str, cause: BaseException) -> None:
        self.stage = stage
        self.cause = cause
        super().__init__(f"stage {stage} failed: {type(cause).__name__}: {cause}")


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:4000]


class Run:
    """One run: ``with Run(cfg, "clean") as run: run.stage("clean", clean.run)``.

    Holds the writer lock for its whole life; a second writer is refused at once.
    """

    def __init__(self, cfg: AppConfig, command: str, *, show_progress: bool = True) -> None:
        self.cfg = cfg
        self.wh = Warehouse(cfg.warehouse.root)
        self.command = command
        self.run_id = ledger.new_run_id()
        self.show_progress = show_progress
        self.results: dict[str, StageResult] = {}
        self._lock = writer_lock(self.wh.lock_file, command, self.run_id)

    def __enter__(self) -> Run:
        self._lock.__enter__()
        try:
            with open_writer(self.wh) as con:
                ledger.mark_abandoned(con)
                ledger.start_run(con, self.run_id, self.command)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None:
                status, error = ledger.SUCCEEDED, None
            elif isinstance(exc, KeyboardInterrupt):
                status, error = ledger.INTERRUPTED, "interrupted"
            else:
                status, error = ledger.FAILED, _error_text(exc)
            with open_writer(self.wh) as con:
                ledger.finish_run(con, self.run_id, status, error)
            if exc is None:
                publish_read_copy(self.wh)  # the analysts' copy (README: Querying)
        finally:
            self._lock.__exit__(exc_type, exc, tb)

    def stage(self, name: str, fn: Stage) -> StageResult:
        log = stage_logger(self.run_id, name)
        with open_writer(self.wh) as con:
            ledger.start_stage(con, self.run_id, name)
        log.info("stage started")
        ctx = StageContext(
            section_for(name, self.cfg),
            self.wh,
            self.run_id,
            name,
            log,
            self.show_progress,
            self.cfg.warehouse.read_wait_s,
        )
        try:
            result = fn(ctx)
        except KeyboardInterrupt:
            with open_writer(self.wh) as con:
                ledger.fail_stage(con, self.run_id, name, "interrupted", ledger.INTERRUPTED)
            log.warning("stage interrupted")
            raise
        except Exception as exc:
            with open_writer(self.wh) as con:
                ledger.fail_stage(con, self.run_id, name, _error_text(exc))
            log.error("stage failed: %s", _error_text(exc))
            raise StageFailed(name, exc) from exc
        with open_writer(self.wh) as con:
            ledger.finish_stage(con, self.run_id, name, result)
        log.info(
            "stage finished",
            extra={
                "rows_in": result.rows_in,
                "rows_out": result.rows_out,
                "rows_rejected": result.rows_rejected,
            },
        )
        self.results[name] = result
        return result
