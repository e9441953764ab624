"""Optuna search: trials run with sampled hyperparameters, bad ones are pruned, best kept."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from jobs.warehouse import Warehouse
from models.encoder import resolve_base
from models.search import BATCH_SIZES, LR_RANGE, search
from models.workflow import prepare_task
from tests.models.tiny_tasks import fast_request

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_search_keeps_the_best_trial(tiny_base: Path, tiny_data: dict, tmp_path: Path) -> None:
    req = fast_request("sentiment", {"sentiment": [str(tiny_data["sentiment"])]}, tiny_base)
    wh = Warehouse(tmp_path / "wh")
    prepared = prepare_task("sentiment", req, wh, 1.0)  # type: ignore[arg-type]
    loop = replace(req.loop, eval_every=2)  # type: ignore[attr-defined]
    result, summary = search(
        4,
        resolve_base(str(tiny_base), wh.models_dir),
        {"sentiment": prepared.split},
        {},
        req.adapter,  # type: ignore[attr-defined]
        replace(req.hyper, epochs=2),  # type: ignore[attr-defined]
        loop,
        prefix="",
        max_length=32,
        work_root=wh.models_dir / "_work",
        kind="sentiment",
    )
    assert summary.trials == 4 and summary.completed + summary.pruned == 4
    assert summary.best_params["batch_size"] in BATCH_SIZES
    lo, hi = LR_RANGE["lora"]
    assert lo <= summary.best_params["lr"] <= hi
    assert result.val_score == pytest.approx(summary.best_val)
    assert result.hyper.lr == summary.best_params["lr"]
    # trials are never resumed, so they leave no checkpoints behind
    assert not list((wh.models_dir / "_work").rglob("trainable.safetensors"))
