"""Runs stages under the writer lock and records each in the run ledger.

A stage is any callable ``run(ctx: StageContext) -> StageResult``. It opens the catalog itself
(``core.catalog.open_writer``) only for the span of its work.
"""

from __future__ import annotations

import logging
from types import TracebackType

from core import ledger
from core.catalog import open_writer, publish_read_copy
from core.errors import EXIT_FAILED, KreviewError, raise_if_interrupted
from core.ids import sortable_id
from core.lock import writer_lock
from core.logs import stage_logger
from core.stage import Stage, StageContext, StageResult
from core.warehouse import Warehouse
from jobs.config import AppConfig
from jobs.exits import classify
from jobs.stages import section_for

# Logged to the JSON file only: the CLI's one error line says it on stderr.
FILE_ONLY = {"file_only": True}


class StageFailed(KreviewError, RuntimeError):
    """A stage raised. Exits with the cause's code where the cause is a known error (a corrupt
    model: 6, the catalog held by another program: 3, a bad titles file: 2), else 1."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        self.stage = stage
        self.cause = cause
        known = classify(cause)
        if known is None:
            super().__init__(f"stage {stage} failed: {type(cause).__name__}: {cause}")
        else:
            code = known.code if known.code != EXIT_FAILED else None
            super().__init__(f"stage {stage} failed: {known}", hint=known.hint, code=code)


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
        self.run_id = sortable_id()
        self.show_progress = show_progress
        self.results: dict[str, StageResult] = {}
        self._lock = writer_lock(self.wh.lock_file, command, self.run_id)

    def __enter__(self) -> Run:
        self._lock.__enter__()
        try:
            with open_writer(self.wh, self.cfg.warehouse.read_wait_s) as con:
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
            try:
                self._finish(status, error)
            except KeyboardInterrupt:  # a signal during the bookkeeping: record that instead
                self._finish(ledger.INTERRUPTED, "interrupted")
                raise
            except Exception:
                if exc is None:
                    raise
                # The run's own error says more (e.g. the catalog is held by another
                # program); the next run marks this one abandoned.
                self._log("run").warning("run %s could not be recorded", self.run_id, exc_info=True)
            if exc is None:
                publish_read_copy(self.wh)  # the analysts' copy (README: Querying)
        finally:
            self._lock.__exit__(exc_type, exc, tb)

    def _finish(self, status: str, error: str | None) -> None:
        with open_writer(self.wh, self.cfg.warehouse.read_wait_s) as con:
            ledger.finish_run(con, self.run_id, status, error)

    def _log(self, stage: str) -> logging.LoggerAdapter[logging.Logger]:
        log = stage_logger(self.run_id, stage)
        log.extra = {**(log.extra or {}), **FILE_ONLY}
        return log

    def _record_failure(self, name: str, error: str, status: str) -> None:
        """Mark the stage failed or interrupted; where the catalog cannot be opened (held by
        another program) the JSON log keeps it and the next run marks the run abandoned."""
        try:
            with open_writer(self.wh, self.cfg.warehouse.read_wait_s) as con:
                ledger.fail_stage(con, self.run_id, name, error, status)
        except Exception as exc:
            self._log(name).error("stage %s not recorded in the ledger: %s", status, exc)

    def stage(self, name: str, fn: Stage) -> StageResult:
        log = stage_logger(self.run_id, name)
        with open_writer(self.wh, self.cfg.warehouse.read_wait_s) as con:
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
            raise_if_interrupted()  # a stop request some library swallowed still stops the run
        except KeyboardInterrupt:
            self._record_failure(name, "interrupted", ledger.INTERRUPTED)
            self._log(name).warning("stage interrupted")
            raise
        except Exception as exc:
            self._record_failure(name, _error_text(exc), ledger.FAILED)
            self._log(name).error("stage failed: %s", _error_text(exc))
            raise StageFailed(name, exc) from exc
        with open_writer(self.wh, self.cfg.warehouse.read_wait_s) as con:
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
