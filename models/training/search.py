"""Hyperparameter search with Optuna: learning rate, batch size, weight decay, warmup.

TPE sampling (seeded) and median pruning: every validation inside a trial is reported, and a
trial whose score falls below the median of earlier trials at the same evaluation is stopped.
The best trial's trained network is kept (no retraining); the others are dropped as they end.
Trials write no checkpoints: a killed search restarts, a killed final training resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from models.adapters import AdapterConfig
from models.base.encoder import ResolvedBase
from models.training.train import Hyper, LoopSettings, TaskSplit, TrainHooks, TrainResult, train

log = logging.getLogger("kreview.models.search")
BATCH_SIZES = (16, 32, 64)
# LoRA learns its small matrices from zero and wants larger rates than full fine-tuning.
LR_RANGE = {"lora": (5e-5, 2e-3), "full": (5e-6, 2e-4)}
WEIGHT_DECAY_RANGE = (0.0, 0.1)
WARMUP_RANGE = (0.0, 0.2)


@dataclass(frozen=True)
class SearchSummary:
    trials: int
    completed: int
    pruned: int
    best_trial: int
    best_params: dict[str, Any]
    best_val: float

    def to_json(self) -> dict[str, Any]:
        return {
            "trials": self.trials,
            "completed": self.completed,
            "pruned": self.pruned,
            "best_trial": self.best_trial,
            "best_params": self.best_params,
            "best_val": round(self.best_val, 6),
        }


def search(
    trials: int,
    base: ResolvedBase,
    splits: Mapping[str, TaskSplit],
    labels: Mapping[str, Sequence[str]],
    adapter: AdapterConfig,
    budget: Hyper,
    loop: LoopSettings,
    *,
    prefix: str,
    max_length: int,
    work_root: Path,
    kind: str,
    prune_warmup_evals: int = 1,
    progress: Any | None = None,
) -> tuple[TrainResult, SearchSummary]:
    """Run ``trials`` trainings (epochs / max_steps / grad_accum from ``budget``)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    lo, hi = LR_RANGE[adapter.type]
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=loop.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=prune_warmup_evals),
    )
    trial_loop = replace(loop, checkpoints=False)
    kept: dict[str, TrainResult] = {}

    def objective(trial: optuna.Trial) -> float:
        hyper = replace(
            budget,
            lr=trial.suggest_float("lr", lo, hi, log=True),
            batch_size=trial.suggest_categorical("batch_size", list(BATCH_SIZES)),
            weight_decay=trial.suggest_float("weight_decay", *WEIGHT_DECAY_RANGE),
            warmup_ratio=trial.suggest_float("warmup_ratio", *WARMUP_RANGE),
        )
        evals = 0

        def report(step: int, score: float) -> None:
            nonlocal evals
            # Report by evaluation index: trials with other batch sizes evaluate at
            # other steps, and the pruner compares values reported at the same index.
            trial.report(score, evals)
            evals += 1
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation {score:.4f} at step {step}")

        result = train(
            base,
            splits,
            labels,
            adapter,
            hyper,
            trial_loop,
            prefix=prefix,
            max_length=max_length,
            work_root=work_root,
            kind=kind,
            hooks=TrainHooks(on_eval=report),
            progress=progress,
            progress_label=f"trial {trial.number}",
            keep_bars=False,
        )
        log.info("trial %d: %s -> %.4f", trial.number, trial.params, result.val_score)
        best = kept.get("best")
        if best is None or result.val_score > best.val_score:
            kept["best"] = result  # only the best network stays in memory
        return result.val_score

    study.optimize(objective, n_trials=trials)
    states = [t.state for t in study.trials]
    if "best" not in kept:
        raise RuntimeError(f"all {trials} trials were pruned or failed; widen the budget")
    best_trial = study.best_trial
    summary = SearchSummary(
        trials=len(study.trials),
        completed=states.count(optuna.trial.TrialState.COMPLETE),
        pruned=states.count(optuna.trial.TrialState.PRUNED),
        best_trial=best_trial.number,
        best_params=dict(best_trial.params),
        best_val=float(best_trial.value or 0.0),
    )
    return kept["best"], summary
