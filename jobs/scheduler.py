"""`kreview schedule`: the nightly pipeline run and the model refresh on cron triggers.

Every job runs its commands in child processes (``python -m jobs.cli run`` by default), so a
crash, a leak or a hung import there never takes the scheduler down; the scheduler itself
holds no data logic and never opens the catalog for writing.

- One APScheduler job per cron (``max_instances=1``, ``coalesce=True``, the configured misfire
  grace), all on a single worker thread: the nightly run and the refresh both write the
  warehouse, and the writer lock would refuse whichever came second.
- At start, a catch-up run when the ledger's last successful ``run`` is older than
  ``catch_up_after_h`` (or there is none): the nightly job's first fire time becomes "now".
- SIGTERM/SIGINT: the running child gets one SIGINT (its Run turns the KeyboardInterrupt into
  'interrupted' in the ledger and the stage's DuckDB transaction rolls back), the scheduler
  waits for it (``stop_grace_s``, then SIGKILL, which is crash-safe too; a second signal
  kills at once), starts nothing new, and exits 0.
- Events are JSON lines in ``<warehouse>/logs/kreview.jsonl`` (stage ``schedule``, ``event``,
  ``job``, and the child's ``run_id`` once the ledger names it).
- One scheduler per warehouse: an flock on ``<warehouse>/.kreview.schedule.lock``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from core import ledger
from core.catalog import CatalogBusy, CatalogMissing, open_reader
from core.lock import writer_lock
from core.warehouse import Warehouse
from jobs.exits import EXIT_BUSY, EXIT_SIGNAL_BASE
from jobs.pipeline import RUN_COMMAND
from jobs.schedule_config import ScheduleConfig, cron_trigger
from models.registry.store import Registry

SCHEDULE_LOCK_NAME = ".kreview.schedule.lock"
STAGE = "schedule"
NIGHTLY, REFRESH = "nightly", "refresh"
# Outcomes a job reports besides the ledger's statuses.
BUSY, CANCELLED = "busy", "cancelled"

log = logging.getLogger("kreview.scheduler")


def event(name: str, message: str, level: int = logging.INFO, **fields: Any) -> None:
    """One scheduler event as a JSON line (stage 'schedule'); ``fields`` become its keys."""
    log.log(level, message, extra={"stage": STAGE, "event": name, **fields})


# --------------------------------------------------------------------------- ledger reads


@dataclass(frozen=True)
class LedgerRun:
    run_id: str
    status: str
    error: str | None


def run_since(wh: Warehouse, command: str, since: datetime, wait_s: float) -> LedgerRun | None:
    """The newest ledger run of ``command`` started at or after ``since`` (the child's run)."""
    try:
        with open_reader(wh, wait_s) as con:
            row = con.execute(
                "SELECT run_id, status, error FROM runs WHERE command = ? AND started_at >= ?"
                " ORDER BY started_at DESC LIMIT 1",
                [command, since],
            ).fetchone()
    except (CatalogMissing, CatalogBusy):
        return None  # no ledger to ask (yet), or another writer took it: the exit code tells
    return LedgerRun(*row) if row else None


def last_success(wh: Warehouse, wait_s: float) -> datetime | None:
    """When the last successful pipeline run finished (None: never, or no catalog yet).

    Raises CatalogBusy when a writer holds the catalog longer than ``wait_s``."""
    try:
        with open_reader(wh, wait_s) as con:
            row = con.execute(
                "SELECT max(finished_at) FROM runs WHERE command = ? AND status = ?",
                [RUN_COMMAND, ledger.SUCCEEDED],
            ).fetchone()
    except CatalogMissing:
        return None
    return row[0] if row else None


@dataclass(frozen=True)
class CatchUp:
    due: bool
    reason: str


def catch_up_due(last: datetime | None, now: datetime, after_h: float) -> CatchUp:
    if last is None:
        return CatchUp(True, "no successful run in the ledger")
    age = now - last
    if age > timedelta(hours=after_h):
        return CatchUp(True, f"last success {last.isoformat()} is older than {after_h:g} h")
    return CatchUp(False, f"last success {last.isoformat()} is recent")


def check_catch_up(wh: Warehouse, after_h: float, wait_s: float) -> CatchUp:
    try:
        last = last_success(wh, wait_s)
    except CatalogBusy as exc:
        # A run holds the warehouse right now: that run is the catch-up.
        return CatchUp(False, f"a run is in progress ({exc})")
    return catch_up_due(last, datetime.now(UTC), after_h)


def current_models(wh: Warehouse) -> dict[str, str]:
    """``{task: ref}`` of the current models (the registry's ``current.json``)."""
    return {task: str(e.get("ref")) for task, e in Registry(wh.models_dir).current().items()}


# --------------------------------------------------------------------------- child processes


class ChildRunner:
    """Runs one command at a time in a child process; forwards the stop to it as SIGINT."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = dict(env) if env is not None else None
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = False
        self._idle = threading.Event()
        self._idle.set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def run(self, job: str, argv: Sequence[str]) -> int | None:
        """Exit status of the child (negative: killed by that signal); None when stopping."""
        with self._lock:
            if self._stopping:
                return None
            # Its own process group: a Ctrl-C on the terminal reaches only the scheduler,
            # which forwards exactly one SIGINT (a second one would interrupt the rollback).
            proc = subprocess.Popen(list(argv), env=self._env, process_group=0)
            self._proc = proc
            self._idle.clear()
        event(
            "child_started",
            f"{job}: child {proc.pid} started",
            job=job,
            pid=proc.pid,
            argv=list(argv),
        )
        try:
            return proc.wait()
        finally:
            with self._lock:
                self._proc = None
                self._idle.set()

    def interrupt(self) -> int | None:
        """Start nothing new; SIGINT the running child. Returns its pid, if there was one."""
        with self._lock:
            self._stopping = True
            proc = self._proc
        if proc is None:
            return None
        proc.send_signal(signal.SIGINT)  # no-op if it has already exited
        return proc.pid

    def kill(self) -> int | None:
        with self._lock:
            proc = self._proc
        if proc is None:
            return None
        proc.kill()
        return proc.pid

    def wait_idle(self, timeout: float | None) -> bool:
        return self._idle.wait(timeout)


# --------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class JobOutcome:
    status: str  # a ledger status (succeeded | failed | interrupted), busy or cancelled
    run_id: str | None = None
    rc: int | None = None
    detail: str | None = None


JobFn = Callable[[], JobOutcome]


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    cron: str
    fn: JobFn
    catch_up: bool = False  # fire once at start when a catch-up is due


@dataclass(frozen=True)
class Commands:
    """Command lines the default jobs run, each in a child process (tests swap in fakes)."""

    nightly: tuple[str, ...]
    train: tuple[tuple[str, ...], ...]
    score: tuple[str, ...]


def kreview_argv(*args: str) -> tuple[str, ...]:
    # The scheduler's own interpreter: the child sees the same installed kreview.
    return (sys.executable, "-m", "jobs.cli", "--quiet", *args)


def default_commands(cfg: ScheduleConfig) -> Commands:
    return Commands(
        nightly=cfg.nightly_command or kreview_argv(RUN_COMMAND),
        train=tuple(kreview_argv("train", *args) for args in cfg.refresh_candidates),
        score=kreview_argv("score"),
    )


def child_env(root: Path, config_file: Path | None) -> dict[str, str]:
    """The scheduler's environment plus its warehouse and config file, so that a child (even
    a custom nightly_command) works on the same warehouse with the same settings."""
    env = dict(os.environ)
    env["KREVIEW_WAREHOUSE__ROOT"] = str(root.resolve())
    if config_file is not None:
        env["KREVIEW_CONFIG"] = str(config_file.resolve())
    return env


def child_outcome(rc: int, run: LedgerRun | None) -> JobOutcome:
    """What a child's exit status and its ledger row (if any) say about the job."""
    if run is not None:
        status = run.status
        if status == ledger.RUNNING:  # the child died without closing its run
            status = ledger.INTERRUPTED if rc < 0 or rc > EXIT_SIGNAL_BASE else ledger.FAILED
        return JobOutcome(status, run.run_id, rc, run.error)
    if rc == 0:
        return JobOutcome(ledger.SUCCEEDED, rc=rc)
    if rc == EXIT_BUSY:
        return JobOutcome(BUSY, rc=rc, detail="another writer holds the warehouse")
    if rc < 0:
        return JobOutcome(ledger.INTERRUPTED, rc=rc, detail=f"killed by signal {-rc}")
    if rc > EXIT_SIGNAL_BASE and rc - EXIT_SIGNAL_BASE in (signal.SIGINT, signal.SIGTERM):
        return JobOutcome(
            ledger.INTERRUPTED, rc=rc, detail=f"stopped by signal {rc - EXIT_SIGNAL_BASE}"
        )
    return JobOutcome(ledger.FAILED, rc=rc)


def run_command_job(
    children: ChildRunner,
    job: str,
    argv: Sequence[str],
    command: str,
    wh: Warehouse,
    wait_s: float,
) -> JobOutcome:
    """Run one kreview command in a child and read its ledger row."""
    since = datetime.now(UTC)
    rc = children.run(job, argv)
    if rc is None:
        return JobOutcome(CANCELLED, detail="the scheduler is stopping")
    return child_outcome(rc, run_since(wh, command, since, wait_s))


def refresh_models(
    children: ChildRunner, commands: Commands, wh: Warehouse, wait_s: float
) -> JobOutcome:
    """Train every candidate (each promoted only if ``kreview train``'s gate finds it better on
    the held-out set), then rescore when a current version changed."""
    before = current_models(wh)
    failed: list[str] = []
    for number, argv in enumerate(commands.train, 1):
        rc = children.run(REFRESH, argv)
        if rc is None or children.stopping:
            return JobOutcome(ledger.INTERRUPTED, rc=rc, detail="stopped during training")
        if rc != 0:
            failed.append(f"candidate {number} exit {rc}")  # one bad candidate: go on
    after = current_models(wh)
    promoted = sorted(task for task, ref in after.items() if before.get(task) != ref)
    status = ledger.FAILED if failed else ledger.SUCCEEDED
    notes = [f"train failed: {', '.join(failed)}"] if failed else []
    if not promoted:
        return JobOutcome(status, detail="; ".join([*notes, "no candidate promoted"]))
    notes.append(f"promoted {', '.join(f'{t}={after[t]}' for t in promoted)}")
    scored = run_command_job(children, REFRESH, commands.score, "score", wh, wait_s)
    if scored.status != ledger.SUCCEEDED:
        status = scored.status
    notes.append(f"rescore {scored.status}")
    return JobOutcome(status, scored.run_id, scored.rc, "; ".join(notes))


def default_jobs(
    cfg: ScheduleConfig, commands: Commands, children: ChildRunner, wh: Warehouse, wait_s: float
) -> list[ScheduledJob]:
    jobs = [
        ScheduledJob(
            NIGHTLY,
            cfg.nightly_cron,
            lambda: run_command_job(children, NIGHTLY, commands.nightly, RUN_COMMAND, wh, wait_s),
            catch_up=True,
        )
    ]
    if cfg.refresh_enabled:
        jobs.append(
            ScheduledJob(
                REFRESH, cfg.refresh_cron, lambda: refresh_models(children, commands, wh, wait_s)
            )
        )
    return jobs


# --------------------------------------------------------------------------- the scheduler


@contextmanager
def schedule_lock(wh: Warehouse) -> Iterator[dict[str, Any]]:
    """One scheduler per warehouse (raises core.lock.WarehouseLocked naming the holder)."""
    with writer_lock(wh.root / SCHEDULE_LOCK_NAME, STAGE) as holder:
        yield holder


class Scheduler:
    """APScheduler's BackgroundScheduler around a list of jobs; the caller's thread waits."""

    def __init__(
        self,
        timezone: str,
        misfire_grace_s: int,
        jobs: Sequence[ScheduledJob],
        children: ChildRunner | None = None,
        stop_grace_s: float = 300.0,
    ) -> None:
        self.timezone = timezone
        self.jobs = tuple(jobs)
        self.children = children or ChildRunner()
        self.stop_grace_s = stop_grace_s
        self._stop = threading.Event()
        self._hurry = threading.Event()
        self._signal: str | None = None
        self._aps = BackgroundScheduler(
            timezone=ZoneInfo(timezone),
            # One worker: jobs run one after another, never side by side (see module doc).
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": misfire_grace_s,
            },
        )
        self._aps.add_listener(
            self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR
        )

    @classmethod
    def from_config(
        cls, cfg: ScheduleConfig, jobs: Sequence[ScheduledJob], children: ChildRunner
    ) -> Scheduler:
        return cls(cfg.timezone, cfg.misfire_grace_s, jobs, children, cfg.stop_grace_s)

    def next_fire_times(self, now: datetime | None = None) -> dict[str, datetime | None]:
        now = now or datetime.now(ZoneInfo(self.timezone))
        return {
            job.name: cron_trigger(job.cron, self.timezone).get_next_fire_time(None, now)
            for job in self.jobs
        }

    def start(self, catch_up: bool = False) -> None:
        for job in self.jobs:
            extra: dict[str, Any] = {}
            if catch_up and job.catch_up:
                extra["next_run_time"] = datetime.now(ZoneInfo(self.timezone))
            self._aps.add_job(
                self._execute,
                cron_trigger(job.cron, self.timezone),
                args=[job],
                id=job.name,
                name=job.name,
                **extra,
            )
        self._aps.start()
        nexts = {j.id: j.next_run_time.isoformat() for j in self._aps.get_jobs()}
        event(
            "scheduler_started",
            f"scheduler started, next runs {nexts}",
            pid=os.getpid(),
            next_runs=nexts,
            catch_up=catch_up,
        )

    def pause(self) -> None:
        self._aps.pause()

    def resume(self) -> None:
        self._aps.resume()

    def request_stop(self) -> None:
        """Ask :meth:`wait` to return (thread- and signal-safe)."""
        if self._stop.is_set():
            self._hurry.set()
        self._stop.set()

    def wait(self) -> None:
        # A timeout keeps the main thread returning to the interpreter, where signal
        # handlers run.
        while not self._stop.wait(0.5):
            pass

    def stop(self) -> None:
        """Interrupt the running child, wait for it, shut the scheduler down."""
        self._stop.set()
        pid = self.children.interrupt()
        if pid is not None:
            event("child_interrupted", f"sent SIGINT to child {pid}", pid=pid)
            self._wait_child(pid)
        if self._aps.running:
            self._aps.shutdown(wait=True)
        event("scheduler_stopped", "scheduler stopped", signal=self._signal)

    def _wait_child(self, pid: int) -> None:
        deadline = time.monotonic() + self.stop_grace_s
        while not self.children.wait_idle(0.2):
            if self._hurry.is_set() or time.monotonic() >= deadline:
                self.children.kill()
                event("child_killed", f"killed child {pid}", logging.WARNING, pid=pid)
                self.children.wait_idle(None)
                return

    def serve(self, catch_up: bool = False) -> None:
        """Run until SIGTERM/SIGINT, then stop cleanly. Call from the main thread."""
        # Installed before any child starts, and Python handlers reset to the default on exec:
        # so a child gets a working SIGINT even when the scheduler was started with SIGINT
        # ignored (a background job of a non-interactive shell), which children would inherit.
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self.start(catch_up)
            self.wait()
            if self._signal is not None:
                event("stop_requested", f"{self._signal} received: stopping", signal=self._signal)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only flags here: the main thread does the work once wait() returns.
        self._signal = signal.Signals(signum).name
        self.request_stop()

    def _execute(self, job: ScheduledJob) -> None:
        """APScheduler's job function: log start and end around the job's own function."""
        if self._stop.is_set():
            event(
                "job_skipped", f"{job.name}: not started, stopping", job=job.name, reason="stopping"
            )
            return
        event("job_started", f"{job.name} started", job=job.name)
        started = time.monotonic()
        try:
            outcome = job.fn()
        except (OSError, subprocess.SubprocessError) as exc:  # e.g. the command does not exist
            outcome = JobOutcome(ledger.FAILED, detail=f"{type(exc).__name__}: {exc}")
        ok = outcome.status == ledger.SUCCEEDED
        event(
            "job_finished",
            f"{job.name} {outcome.status}"
            + (f": {outcome.detail}" if outcome.detail not in (None, outcome.status) else ""),
            logging.INFO if ok else logging.WARNING,
            job=job.name,
            status=outcome.status,
            run_id=outcome.run_id,
            rc=outcome.rc,
            detail=outcome.detail,
            seconds=round(time.monotonic() - started, 3),
        )

    def _on_event(self, ev: JobEvent) -> None:
        if isinstance(ev, JobSubmissionEvent) and ev.code == EVENT_JOB_MAX_INSTANCES:
            times = [t.isoformat() for t in ev.scheduled_run_times]
            event(
                "job_skipped",
                f"{ev.job_id}: still running, fire time {times} skipped",
                logging.WARNING,
                job=ev.job_id,
                reason="still_running",
                scheduled=times,
            )
        elif isinstance(ev, JobExecutionEvent) and ev.code == EVENT_JOB_MISSED:
            event(
                "job_missed",
                f"{ev.job_id}: fire time {ev.scheduled_run_time} missed",
                logging.WARNING,
                job=ev.job_id,
                scheduled=ev.scheduled_run_time.isoformat(),
            )
        elif isinstance(ev, JobExecutionEvent) and ev.code == EVENT_JOB_ERROR:
            event(
                "job_error",
                f"{ev.job_id} raised {ev.exception!r}",
                logging.ERROR,
                job=ev.job_id,
                exc=ev.traceback,
            )
