from __future__ import annotations

import pytest

from core.stage import StageResult
from jobs.config import AppConfig
from jobs.pipeline import STAGES, plan, run_pipeline
from jobs.runner import StageFailed


class Stages:
    """Stand-in stages that record calls; one of them fails the first time it runs."""

    def __init__(self, fail_once: str | None = None) -> None:
        self.calls: list[str] = []
        self.fail_once = fail_once

    def __call__(self, name: str):
        def stage(ctx) -> StageResult:
            self.calls.append(name)
            if name == self.fail_once:
                self.fail_once = None
                raise RuntimeError(f"{name} broke")
            return StageResult(rows_in=1, rows_out=1)

        return stage


def test_full_run_in_order(cfg: AppConfig) -> None:
    stages = Stages()
    p = plan(cfg)
    assert p.stages == STAGES and p.reason == "full run"
    run_pipeline(cfg, p, show_progress=False, stage_fn=stages)
    assert stages.calls == list(STAGES)


def test_failed_stage_resumes_on_next_run(cfg: AppConfig) -> None:
    stages = Stages(fail_once="score")
    with pytest.raises(StageFailed, match="score broke"):
        run_pipeline(cfg, plan(cfg), show_progress=False, stage_fn=stages)
    assert stages.calls == ["scrape", "clean", "score"]
    p = plan(cfg)
    assert p.stages == ("score", "views", "export", "report") and "resuming" in p.reason
    run_pipeline(cfg, p, show_progress=False, stage_fn=stages)
    assert stages.calls[3:] == ["score", "views", "export", "report"]
    assert plan(cfg).stages == STAGES  # after success: a full run again


def test_from_and_only(cfg: AppConfig) -> None:
    assert plan(cfg, start="views").stages == ("views", "export", "report")
    assert plan(cfg, only="clean").stages == ("clean",)
    with pytest.raises(ValueError, match="unknown stage"):
        plan(cfg, only="train")
