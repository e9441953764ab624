"""The scheduler: cron parsing, runs on a seconds trigger, no overlap, the job settings handed
to APScheduler (coalescing, one instance, misfire grace), catch-up, the refresh job's
commands, and a clean stop of a real `kreview schedule` process.

In-process tests inject fake job functions (no child process); the refresh test injects fake
commands; the SIGTERM test runs `kreview schedule` with a fake nightly command that holds a
real pipeline Run open in a slow stage.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core import ledger
from core.catalog import open_reader, open_writer
from core.logs import setup_logging
from core.warehouse import Warehouse
from jobs.config import AppConfig, ConfigError, load_config
from jobs.runner import Run
from jobs.schedule_config import cron_fields, cron_trigger
from jobs.scheduler import (
    SCHEDULE_LOCK_NAME,
    ChildRunner,
    Commands,
    JobOutcome,
    ScheduledJob,
    Scheduler,
    check_catch_up,
    refresh_models,
)
from tests.jobs.conftest import lock_is_held

REPO = Path(__file__).resolve().parents[2]
EVERY_SECOND = "* * * * * *"
NEVER_SOON = "0 3 1 1 *"  # 1 January, 03:00: does not fire during a test


# ----------------------------------------------------------------------------- helpers


def wait_until(pred: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def events(wh: Warehouse) -> list[dict[str, Any]]:
    path = wh.logs_dir / "kreview.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [e for e in lines if e.get("logger") == "kreview.scheduler"]


class FakeJob:
    """Records (start, end) of each run; sleeps ``seconds`` inside."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._running = 0
        self.max_running = 0

    def __call__(self) -> JobOutcome:
        with self._lock:
            self._running += 1
            self.max_running = max(self.max_running, self._running)
        start = time.time()
        time.sleep(self.seconds)
        with self._lock:
            self._running -= 1
            self.spans.append((start, time.time()))
        return JobOutcome(ledger.SUCCEEDED, run_id=f"fake-{len(self.spans)}")

    @property
    def starts(self) -> list[float]:
        return sorted(s for s, _ in self.spans)


@pytest.fixture
def wh(cfg: AppConfig) -> Warehouse:
    wh = Warehouse(cfg.warehouse.root).ensure()
    setup_logging(wh.logs_dir, console=False)
    return wh


@pytest.fixture
def running() -> Iterator[Callable[..., Scheduler]]:
    """Start in-process schedulers; each is stopped at the end of the test."""
    started: list[Scheduler] = []

    def start(*jobs: ScheduledJob, catch_up: bool = False, grace: int = 30) -> Scheduler:
        sched = Scheduler("UTC", grace, jobs)
        sched.start(catch_up)
        started.append(sched)
        return sched

    yield start
    for sched in started:
        sched.stop()


# ----------------------------------------------------------------------------- cron


def test_cron_accepts_five_fields_and_six_with_seconds_first() -> None:
    assert cron_fields("0 3 * * *")["hour"] == "3"
    six = cron_fields("*/2 * * * * *")
    assert six["second"] == "*/2" and six["minute"] == "*"
    t0 = datetime(2026, 11, 23, 10, 0, 0, 500_000, tzinfo=UTC)
    fire = cron_trigger("*/2 * * * * *", "UTC").get_next_fire_time(None, t0)
    assert fire == datetime(2026, 11, 23, 10, 0, 2, tzinfo=UTC)


def test_cron_weekdays_follow_crontab_not_apscheduler() -> None:
    # crontab: 0 = Sunday. APScheduler 3 alone would read 0 as Monday.
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    fire = cron_trigger("0 5 * * 0", "UTC").get_next_fire_time(None, monday)
    assert fire is not None and fire.strftime("%a %H:%M") == "Sun 05:00"
    weekdays = cron_trigger("0 5 * * 1-5", "UTC")
    friday = datetime(2026, 11, 27, 6, tzinfo=UTC)
    nxt = weekdays.get_next_fire_time(None, friday)
    assert nxt is not None and nxt.strftime("%a") == "Mon"


@pytest.mark.parametrize(
    ("cron", "needle"),
    [
        ("0 3 *", "5 fields"),
        ("0 25 * * *", "higher than the maximum"),
        ("0 3 1 * mon", "not both"),
        ("0 3 * * fri-mon", "runs backwards"),
    ],
)
def test_bad_cron_names_the_key(cron: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={}, overrides={"schedule.nightly_cron": cron})
    assert "schedule.nightly_cron" in str(info.value) and needle in str(info.value)


def test_refresh_candidates_cannot_bypass_the_promotion_gate() -> None:
    bad = [["sentiment", "--data", "x.txt", "--force"]]
    with pytest.raises(ConfigError, match=r"schedule.refresh_candidates.*--force"):
        load_config(env={}, overrides={"schedule.refresh_candidates": bad})


# ----------------------------------------------------------------------------- in process


def test_runs_happen_on_a_seconds_trigger_and_are_logged(
    wh: Warehouse, running: Callable[..., Scheduler]
) -> None:
    job = FakeJob()
    running(ScheduledJob("nightly", EVERY_SECOND, job))
    assert wait_until(lambda: len(job.spans) >= 3, timeout=10)
    log = events(wh)
    finished = [e for e in log if e["event"] == "job_finished"]
    assert finished[0]["job"] == "nightly" and finished[0]["status"] == "succeeded"
    assert finished[0]["run_id"].startswith("fake-") and finished[0]["stage"] == "schedule"
    assert sum(e["event"] == "job_started" for e in log) >= 3


def test_runs_never_overlap_and_skips_are_logged(
    wh: Warehouse, running: Callable[..., Scheduler]
) -> None:
    job = FakeJob(seconds=2.5)  # longer than the 1 s interval
    running(ScheduledJob("nightly", EVERY_SECOND, job))
    assert wait_until(lambda: len(job.spans) >= 2, timeout=15)
    spans = sorted(job.spans)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, "a run started before the previous one ended"
    assert job.max_running == 1
    skipped = [e for e in events(wh) if e["event"] == "job_skipped"]
    assert skipped and skipped[0]["reason"] == "still_running"


def test_jobs_are_given_to_apscheduler_coalesced_one_at_a_time_with_the_configured_grace(
    wh: Warehouse,
) -> None:
    """What kreview asks of APScheduler, read back from APScheduler's own job objects: missed
    fire times coalesced into one run, never two instances of a job, the configured misfire
    grace, and one worker thread for all jobs. (How APScheduler honours these is its own
    business, tested there; the wall-clock test of it this replaces took 11 s.)"""
    cfg = load_config(
        env={},
        overrides={
            "schedule.timezone": "Asia/Seoul",
            "schedule.misfire_grace_s": 1234,
            "schedule.stop_grace_s": 7.5,
        },
    ).schedule
    jobs = (
        ScheduledJob("nightly", NEVER_SOON, FakeJob(), catch_up=True),
        ScheduledJob("refresh", "0 4 2 1 *", FakeJob()),
    )
    sched = Scheduler.from_config(cfg, jobs, ChildRunner())
    try:
        sched.start(catch_up=False)
        aps = sched._aps  # the BackgroundScheduler kreview configured
        by_id = {j.id: j for j in aps.get_jobs()}
        assert sorted(by_id) == ["nightly", "refresh"]
        for job in jobs:
            aps_job = by_id[job.name]
            assert aps_job.coalesce is True
            assert aps_job.max_instances == 1
            assert aps_job.misfire_grace_time == 1234
            assert aps_job.executor == "default"
            assert aps_job.args == (job,)  # run through Scheduler._execute, which logs it
            assert aps_job.func == sched._execute
            assert str(aps_job.trigger) == str(cron_trigger(job.cron, "Asia/Seoul"))
            assert str(aps_job.next_run_time.tzinfo) == "Asia/Seoul"
        # every job shares the one single-thread executor: a refresh never runs beside a
        # nightly run (both write the warehouse)
        executor = aps._lookup_executor("default")
        assert executor._pool._max_workers == 1
        assert sched.stop_grace_s == 7.5
    finally:
        sched.stop()


def _record_success(cfg: AppConfig, hours_ago: float) -> None:
    with Run(cfg, "run", show_progress=False) as run:
        pass
    wh = Warehouse(cfg.warehouse.root)
    finished = datetime.now(UTC) - timedelta(hours=hours_ago)
    with open_writer(wh) as con:
        con.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", [finished, run.run_id])


@pytest.mark.parametrize(
    ("hours_ago", "expected_runs"),
    [(None, 1), (30.0, 1), (2.0, 0)],
    ids=["no-run-yet", "last-success-old", "last-success-recent"],
)
def test_catch_up_at_start_runs_once_only_when_last_success_is_old(
    cfg: AppConfig,
    wh: Warehouse,
    running: Callable[..., Scheduler],
    hours_ago: float | None,
    expected_runs: int,
) -> None:
    if hours_ago is not None:
        _record_success(cfg, hours_ago)
    due = check_catch_up(wh, cfg.schedule.catch_up_after_h, wait_s=5)
    job = FakeJob()
    running(ScheduledJob("nightly", NEVER_SOON, job, catch_up=True), catch_up=due.due)
    wait_until(lambda: len(job.spans) > expected_runs, timeout=2.0)
    assert len(job.spans) == expected_runs, due.reason


# ----------------------------------------------------------------------------- refresh job


def _py(code: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code, *args)


PROMOTE = (
    "import json, sys; open(sys.argv[1], 'w').write(json.dumps("
    "{'sentiment': {'ref': 'sentiment/v2'}, 'emotion': {'ref': 'joint/v1'}}))"
)
TOUCH = "import sys; open(sys.argv[1], 'w').write('done')"


def _current_v1(wh: Warehouse) -> Path:
    wh.models_dir.mkdir(parents=True, exist_ok=True)
    current = wh.models_dir / "current.json"
    refs = {"sentiment": {"ref": "joint/v1"}, "emotion": {"ref": "joint/v1"}}
    current.write_text(json.dumps(refs), encoding="utf-8")
    return current


def test_refresh_trains_every_candidate_and_rescores_after_a_promotion(
    wh: Warehouse, tmp_path: Path
) -> None:
    current = _current_v1(wh)
    scored = tmp_path / "scored"
    commands = Commands(
        nightly=(),
        train=(_py("raise SystemExit(1)"), _py(PROMOTE, str(current))),
        score=_py(TOUCH, str(scored)),
    )
    out = refresh_models(ChildRunner(), commands, wh, wait_s=1)
    assert scored.exists(), "a promotion must be followed by a rescore"
    assert out.status == ledger.FAILED  # candidate 1 failed, candidate 2 still trained
    assert out.detail is not None
    assert "candidate 1 exit 1" in out.detail and "sentiment=sentiment/v2" in out.detail


def test_refresh_without_promotion_does_not_rescore(wh: Warehouse, tmp_path: Path) -> None:
    _current_v1(wh)
    scored = tmp_path / "scored"
    commands = Commands(nightly=(), train=(_py("pass"),), score=_py(TOUCH, str(scored)))
    out = refresh_models(ChildRunner(), commands, wh, wait_s=1)
    assert out.status == ledger.SUCCEEDED and out.detail == "no candidate promoted"
    assert not scored.exists()


# ----------------------------------------------------------------------------- the process

FAKE_RUN = """\
import sys, time
from pathlib import Path
from jobs.config import load_config
from core.stage import StageResult
from jobs.pipeline import Plan, run_pipeline

marks = Path(sys.argv[1])

def slow_clean(ctx):
    (marks / "started").write_text(ctx.run_id)
    time.sleep(120)
    return StageResult()

try:
    run_pipeline(load_config(), Plan(("clean",), "fake"), show_progress=False,
                 stage_fn=lambda name: slow_clean)
except KeyboardInterrupt:
    (marks / "sigint").write_text("received")
    sys.exit(130)
"""


def _toml(values: dict[str, Any]) -> str:
    # json.dumps writes valid TOML basic strings and arrays for these plain values.
    return "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items()) + "\n"


def _schedule_proc(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "jobs.cli", "--config", str(config), "schedule", *args]


def test_sigterm_interrupts_the_child_and_exits_cleanly(tmp_path: Path, clean_env: None) -> None:
    """Also: a second `kreview schedule` on the same warehouse refuses to start."""
    root, marks = tmp_path / "wh", tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "fake_run.py"
    script.write_text(FAKE_RUN, encoding="utf-8")
    config = tmp_path / "kreview.toml"
    config.write_text(
        "[warehouse]\n"
        + _toml({"root": str(root)})
        + "[schedule]\n"
        + _toml(
            {
                "timezone": "UTC",
                "nightly_cron": EVERY_SECOND,
                "refresh_enabled": False,
                "stop_grace_s": 60,
                "nightly_command": [sys.executable, str(script), str(marks)],
            }
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        _schedule_proc(config, "--no-catch-up"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until((marks / "started").exists, timeout=90), "the child never started"
        second = subprocess.run(
            _schedule_proc(config),
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert second.returncode == 3
        assert "a scheduler already runs" in second.stderr and f"pid {proc.pid}" in second.stderr
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "scheduler stopped" in out
    assert (marks / "sigint").read_text() == "received"
    wh = Warehouse(root)
    with open_reader(wh) as con:
        runs = ledger.last_runs(con)
        stages = ledger.stages_of(con, runs[0]["run_id"])
    assert [(r["command"], r["status"]) for r in runs] == [("run", ledger.INTERRUPTED)]
    assert [(s["stage"], s["status"]) for s in stages] == [("clean", ledger.INTERRUPTED)]
    log = events(wh)
    by_event = {e["event"]: e for e in log}
    assert by_event["stop_requested"]["signal"] == "SIGTERM"
    assert by_event["child_interrupted"]["pid"] == by_event["child_started"]["pid"]
    finished = by_event["job_finished"]
    assert finished["status"] == ledger.INTERRUPTED
    assert finished["run_id"] == runs[0]["run_id"] == (marks / "started").read_text()
    assert log[-1]["event"] == "scheduler_stopped"
    assert not lock_is_held(wh.lock_file) and not lock_is_held(root / SCHEDULE_LOCK_NAME)
