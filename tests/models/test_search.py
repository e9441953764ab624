"""Optuna search: trials run with sampled hyperparameters, bad ones are pruned, best kept."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest

from core.warehouse import Warehouse
from models.base.encoder import resolve_base
from models.training import search as search_mod
from models.training.search import search
from models.training.train import Hyper, LoopSettings
from models.training.workflow import prepare_task
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
    assert summary.completed >= 1 and 0 <= summary.best_trial < 4
    # the network handed back is the best trial's: trained with every one of its sampled
    # parameters on the budget's epochs, and scoring what the study recorded for it
    assert result.val_score == pytest.approx(summary.best_val)
    assert {k: getattr(result.hyper, k) for k in summary.best_params} == summary.best_params
    assert result.hyper.epochs == 2
    # trials are never resumed, so they leave no checkpoints behind
    assert not list((wh.models_dir / "_work").rglob("trainable.safetensors"))


# ------------------------------------------------------------- pruning, with scripted trials

# Validation scores per evaluation of each trial, in the order Optuna runs them. Trials 0 and
# 1 are the pruner's startup trials (1 is the best of all); trial 2 is clearly worse from its
# first evaluation on; trial 3 starts as badly, but only inside the warmup (one evaluation),
# and then keeps above the median.
CURVES = (
    (0.60, 0.70, 0.80, 0.85),
    (0.62, 0.75, 0.88, 0.92),
    (0.10, 0.10, 0.10, 0.10),
    (0.10, 0.75, 0.86, 0.90),
)


def test_a_trial_worse_from_its_first_evaluation_is_pruned(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """search() with a stand-in for train() that reports scripted validation scores through
    the hook, as train() does: the bad trial is stopped at the first evaluation the pruner may
    judge, the others run to the end, and the best finished trial's result is handed back."""
    runs: list[dict[str, Any]] = []

    def scripted_train(*args: Any, hooks: Any, **kwargs: Any) -> SimpleNamespace:
        hyper: Hyper = args[4]
        run = {"evals": 0, "pruned": False}
        runs.append(run)
        curve = CURVES[len(runs) - 1]
        # Steps per evaluation depend on the batch size, as in train(): the pruner must compare
        # trials by evaluation index, not by step.
        every = 1024 // hyper.batch_size
        try:
            for i, score in enumerate(curve):
                run["evals"] += 1
                hooks.on_eval((i + 1) * every, score)
        except optuna.TrialPruned:  # recorded, then passed on to the study
            run["pruned"] = True
            raise
        return SimpleNamespace(val_score=max(curve), hyper=hyper, curve=curve)

    monkeypatch.setattr(search_mod, "train", scripted_train)
    result, summary = search(
        len(CURVES),
        None,  # type: ignore[arg-type]  # only the stand-in sees these
        {},
        {},
        SimpleNamespace(type="lora"),  # type: ignore[arg-type]
        Hyper(lr=1e-3, batch_size=16, weight_decay=0.0, warmup_ratio=0.0, epochs=1),
        LoopSettings(seed=0),
        prefix="",
        max_length=32,
        work_root=tmp_path,
        kind="sentiment",
    )
    assert [r["evals"] for r in runs] == [4, 4, 2, 4]  # trial 2: its warmup eval + one more
    assert [r["pruned"] for r in runs] == [False, False, True, False]
    assert (summary.trials, summary.completed, summary.pruned) == (4, 3, 1)
    # the handed-back result is the best trial's, not the last one's
    assert summary.best_trial == 1 and summary.best_val == pytest.approx(0.92)
    assert result.curve == CURVES[1]  # type: ignore[attr-defined]
