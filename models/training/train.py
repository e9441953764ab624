"""The training loop, written out plainly in the style of the accelerate examples.

One function, :func:`train`, trains one network (one task, or several tasks sharing one
encoder/adapter: the ``joint`` kind) and returns it with its validation results:

- ``Accelerator``: device placement, mixed precision on GPU (bf16, fp16 where bf16 is
  missing), TensorBoard logging (``<work_dir>/tb``);
- gradient accumulation over ``grad_accum`` length-bucketed batches per optimizer step;
- AdamW (no weight decay on biases and LayerNorm), linear warmup then linear decay,
  gradient clipping;
- validation every ``eval_every`` steps and at each epoch end; early stopping after
  ``patience`` evaluations without improvement; the best weights are restored at the end
  (``keep="last"``: the last step's instead);
- a fixed seed; checkpoints (safetensors, see :mod:`models.training.checkpoint`) every
  ``checkpoint_every`` steps, after each validation and on Ctrl-C, so that ``resume=True``
  continues a killed run from its last checkpoint with the same batches and random state;
- ``init_from`` (:mod:`models.training.warm_start`): the adapter and heads start from a registered
  version's weights instead of the seed's, for a new run with its own schedule.

Several tasks: each epoch is every task's batches shuffled together (a batch holds one task's
rows, as in MT-DNN); with ``grad_accum`` > 1 one optimizer step mixes several tasks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.adapters import AdapterConfig
from models.base.encoder import ResolvedBase, pick_device
from models.batching import bucketed_batches
from models.config import Keep
from models.data import Examples
from models.evaluate import primary_value
from models.inference import TextInput, metrics_for, predict_examples, tune_thresholds
from models.precision import cpu_has_bf16
from models.training.checkpoint import (
    Position,
    load_trainable,
    read_position,
    restore_checkpoint,
    save_checkpoint,
    trainable_state,
)
from models.training.network import TaskNetwork, TokenizedTask, build_network, tokenize_examples
from models.training.warm_start import WarmStart, apply_warm_start, check_compatible

log = logging.getLogger("kreview.models.train")
CHECKPOINT_DIR = "checkpoint"


@dataclass(frozen=True)
class Hyper:
    """What the Optuna search varies (lr, batch size, weight decay, warmup) and the budget."""

    lr: float
    batch_size: int
    weight_decay: float
    warmup_ratio: float
    epochs: int
    max_steps: int = 0  # 0: epochs decide
    grad_accum: int = 1
    # Heads start from random weights while the adapter starts at the identity, so heads may
    # learn faster than the adapter (0: the same rate as lr).
    head_lr: float = 0.0
    # joint: pass over a small task's data several times per epoch (KOTE's 4.5k rows next to
    # NSMC's 150k would otherwise get one pass while sentiment gets thirty times as many steps).
    task_repeats: tuple[tuple[str, int], ...] = ()

    def repeats(self, task: str) -> int:
        return dict(self.task_repeats).get(task, 1)


@dataclass(frozen=True)
class LoopSettings:
    seed: int = 42
    eval_every: int = 500
    patience: int = 3
    checkpoint_every: int = 200
    bucket_pool: int = 50
    max_grad_norm: float = 1.0
    device: str = "auto"
    mixed_precision: str = "auto"
    eval_batch_size: int = 64
    log_every: int = 10
    tensorboard: bool = True
    head_dropout: float = 0.1
    # Epoch e trains in epoch (e + order_offset)'s shuffled order. A warm-started stage would
    # otherwise replay the batch order of the stage before it; the validation split (picked
    # by the seed) stays put.
    order_offset: int = 0
    # Which weights the run hands back: "best" (the best validation score) or "last" (the
    # last step's). Early stopping's score is a mean over tasks that adds -MAE for stars to
    # accuracies, so a later step better on the task one cares about can lose it narrowly.
    # Not part of the run key: it is chosen after the loop, so a finished run can be resumed
    # with the other choice.
    keep: Keep = Keep.best
    # False: no checkpoints at all (search trials, which are never resumed)
    checkpoints: bool = True


@dataclass(frozen=True)
class TaskSplit:
    train: Examples
    val: Examples


@dataclass
class TrainHooks:
    """Callbacks: after every optimizer step (tests simulate a kill here) and every validation
    (the search reports to Optuna and prunes here, by raising)."""

    on_step: Callable[[int], None] | None = None
    on_eval: Callable[[int, float], None] | None = None


@dataclass
class TrainResult:
    network: TaskNetwork
    tokenizer: Any
    adapter: AdapterConfig
    val_metrics: dict[str, dict[str, Any]]
    thresholds: dict[str, float]
    val_score: float
    history: list[dict[str, Any]]
    steps: int
    epochs_run: float
    examples: int
    train_seconds: float
    stopped_early: bool
    best_step: int
    resumed_from: int | None
    work_dir: Path
    run_key: str
    hyper: Hyper
    devices: dict[str, str] = field(default_factory=dict)
    init_from: str | None = None  # the registered version the weights started from
    order_offset: int = 0
    kept_step: int = 0  # the step whose weights were handed back (best_step or the last)

    @property
    def examples_per_s(self) -> float:
        return self.examples / self.train_seconds if self.train_seconds > 0 else 0.0


def run_key(
    base: ResolvedBase,
    splits: Mapping[str, TaskSplit],
    adapter: AdapterConfig,
    hyper: Hyper,
    loop: LoopSettings,
    text: tuple[str, int],
    init_from: WarmStart | None = None,
) -> str:
    """Identifies a training run: a checkpoint is resumed only by the very same run."""
    body: dict[str, Any] = {
        "base": base.sha256,
        "data": {
            t: [s.train.fingerprint(), s.val.fingerprint()] for t, s in sorted(splits.items())
        },
        "adapter": adapter.to_json(),
        "hyper": asdict(hyper),
        "seed": loop.seed,
        "bucket_pool": loop.bucket_pool,
        "head_dropout": loop.head_dropout,
        "text": list(text),
    }
    # both absent by default, so older runs keep their keys
    if init_from is not None:
        body["init_from"] = [init_from.ref, init_from.fingerprint]
    if loop.order_offset:
        body["order_offset"] = loop.order_offset
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _mixed_precision(choice: str, device: torch.device) -> str:
    if device.type != "cuda":
        if choice == "fp16":
            raise ValueError("mixed precision fp16 needs CUDA; on a CPU use bf16 or no")
        if choice == "auto":
            return "bf16" if cpu_has_bf16() else "no"
        return choice
    if choice != "auto":
        return choice
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _optimizer(network: TaskNetwork, hyper: Hyper) -> torch.optim.AdamW:
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, p in network.named_parameters():
        if not p.requires_grad:
            continue
        # Biases and LayerNorm scales are not weights to shrink (BERT's recipe).
        decays = not (name.endswith("bias") or "LayerNorm" in name)
        groups.setdefault((name.startswith("heads."), decays), []).append(p)
    head_lr = hyper.head_lr or hyper.lr
    return torch.optim.AdamW(
        [
            {
                "params": params,
                "weight_decay": hyper.weight_decay if decays else 0.0,
                "lr": head_lr if is_head else hyper.lr,
            }
            for (is_head, decays), params in sorted(groups.items())
        ],
        lr=hyper.lr,
    )


def _linear_schedule(total: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def epoch_groups(
    tokenized: Mapping[str, TokenizedTask], hyper: Hyper, pool: int, seed: int, epoch: int
) -> list[list[tuple[str, np.ndarray]]]:
    """The epoch's optimizer steps: each a list of ``grad_accum`` (task, rows) batches."""
    rng = np.random.default_rng([seed, epoch])
    batches = [
        (task, rows)
        for task in sorted(tokenized)
        for _ in range(hyper.repeats(task))
        for rows in bucketed_batches(tokenized[task].lengths, hyper.batch_size, pool, rng)
    ]
    if len(tokenized) > 1:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return [batches[i : i + hyper.grad_accum] for i in range(0, len(batches), hyper.grad_accum)]


def validate(
    network: TaskNetwork, text: TextInput, splits: Mapping[str, TaskSplit], batch_size: int
) -> tuple[float, dict[str, dict[str, Any]], dict[str, float]]:
    """(mean primary metric, metrics per task, tuned thresholds) on the validation splits."""
    metrics: dict[str, dict[str, Any]] = {}
    thresholds: dict[str, float] = {}
    for task, split in sorted(splits.items()):
        preds = predict_examples(
            network.encoder, network.heads, text, split.val, batch_size=batch_size
        )
        thr = tune_thresholds(preds, split.val)
        if thr is not None:
            thresholds[task] = thr
        metrics[task] = metrics_for(preds, split.val, thr)
    score = float(np.mean([primary_value(m) for m in metrics.values()]))
    return score, metrics, thresholds


class _Bars:
    """Rich progress bars for epochs and steps, or nothing."""

    def __init__(self, progress: Any | None, label: str, epochs: int, total: int, start: int):
        self.p = progress
        if progress is None:
            return
        tag = f"{label} " if label else ""
        self.epoch = progress.add_task(f"{tag}epoch", total=epochs, rate="")
        self.step = progress.add_task(f"{tag}step", total=total, completed=start, rate="")

    def epoch_done(self, epoch: int) -> None:
        if self.p is not None:
            self.p.update(self.epoch, completed=epoch)

    def step_done(self, step: int, loss: float, rate: float) -> None:
        if self.p is not None:
            self.p.update(self.step, completed=step, rate=f"loss {loss:.4f} · {rate:,.1f} ex/s")

    def close(self, keep: bool) -> None:
        if self.p is not None and not keep:
            self.p.remove_task(self.epoch)
            self.p.remove_task(self.step)


def train(
    base: ResolvedBase,
    splits: Mapping[str, TaskSplit],
    labels: Mapping[str, Sequence[str]],
    adapter: AdapterConfig,
    hyper: Hyper,
    loop: LoopSettings,
    *,
    prefix: str,
    max_length: int,
    work_root: Path,
    kind: str,
    resume: bool = False,
    init_from: WarmStart | None = None,
    hooks: TrainHooks | None = None,
    progress: Any | None = None,
    progress_label: str = "",
    keep_bars: bool = True,
) -> TrainResult:
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    hooks = hooks or TrainHooks()
    if init_from is not None:  # before anything is loaded: a mismatch is a one-line error
        check_compatible(init_from, base.sha256, adapter, labels)
    key = run_key(base, splits, adapter, hyper, loop, (prefix, max_length), init_from)
    work_dir = work_root / f"{kind}-{key}"
    ckpt_dir = work_dir / CHECKPOINT_DIR
    found = read_position(ckpt_dir) if resume else None
    if not resume and ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)  # a fresh start must not be mistaken for its predecessor
    if resume and found is None:
        log.warning("no checkpoint of this run at %s: starting from scratch", ckpt_dir)
    work_dir.mkdir(parents=True, exist_ok=True)

    set_seed(loop.seed)  # heads and LoRA matrices are initialized from this seed
    network, tokenizer, applied = build_network(
        base, sorted(splits), labels, adapter, head_dropout=loop.head_dropout
    )
    if init_from is not None:
        warm = apply_warm_start(network, applied, init_from)
        log.info("weights from %s (heads: %s)", init_from.ref, ", ".join(warm) or "none")
    text = TextInput(tokenizer, prefix, max_length)
    tokenized = {
        t: tokenize_examples(s.train, tokenizer, prefix=prefix, max_length=max_length)
        for t, s in splits.items()
    }
    steps_per_epoch = len(epoch_groups(tokenized, hyper, loop.bucket_pool, loop.seed, 0))
    total = hyper.max_steps or hyper.epochs * steps_per_epoch
    epochs = math.ceil(total / steps_per_epoch)
    warmup = round(total * hyper.warmup_ratio)

    device = pick_device(loop.device)
    precision = _mixed_precision(loop.mixed_precision, device)
    on_cuda = device.type == "cuda"
    accelerator = Accelerator(
        cpu=not on_cuda,
        # accelerate keeps the precision in a process-wide state that a second run in the same
        # process (a search trial, a test) may not change; on CPU torch's autocast is all it
        # would do, so that is done here instead.
        mixed_precision=precision if on_cuda else "no",
        log_with="tensorboard" if loop.tensorboard else None,
        project_dir=str(work_dir),
    )

    def autocast() -> Any:
        if on_cuda:
            return accelerator.autocast()
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

    optimizer = _optimizer(network, hyper)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(total, warmup))
    network, optimizer, scheduler = accelerator.prepare(network, optimizer, scheduler)
    model: TaskNetwork = accelerator.unwrap_model(network)

    pos = Position(run_key=key)
    best: dict[str, torch.Tensor] | None = None
    resumed_from = None
    if found is not None and found.run_key == key:
        pos, best = restore_checkpoint(ckpt_dir, model, optimizer, scheduler)
        resumed_from = pos.step
        log.info("resumed %s at step %d (epoch %d)", work_dir.name, pos.step, pos.epoch)
    if loop.tensorboard:
        hp = {**asdict(hyper), "kind": kind, "adapter": adapter.type, "seed": loop.seed}
        # TensorBoard's hparams take scalars only
        hp["task_repeats"] = ",".join(f"{t}={n}" for t, n in hyper.task_repeats)
        accelerator.init_trackers("tb", config=hp)

    def checkpoint() -> None:
        if loop.checkpoints:
            save_checkpoint(ckpt_dir, pos, model, optimizer, scheduler, best)

    def evaluate_now() -> bool:
        """Validate, track the best weights; True when early stopping says stop."""
        nonlocal best
        score, per_task, _ = validate(model, text, splits, loop.eval_batch_size)
        entry = {"kind": "eval", "step": pos.step, "metric": score}
        entry.update({f"{t}_{m['primary']}": primary_value(m) for t, m in per_task.items()})
        pos.history.append(entry)
        accelerator.log(
            {f"val/{k}": v for k, v in entry.items() if k not in ("kind", "step")}, pos.step
        )
        if pos.best_metric is None or score > pos.best_metric + 1e-9:
            pos.best_metric, pos.best_step, pos.bad_evals = score, pos.step, 0
            best = trainable_state(model)
        else:
            pos.bad_evals += 1
        if hooks.on_eval is not None:
            hooks.on_eval(pos.step, score)
        return pos.bad_evals >= loop.patience

    bars = _Bars(progress, progress_label, epochs, total, pos.step)
    # A run killed right after early stopping decided to stop stays stopped when resumed.
    stopped_early = pos.bad_evals >= loop.patience
    running: list[float] = []
    network.train()
    try:
        while pos.step < total and not stopped_early:
            groups = epoch_groups(
                tokenized, hyper, loop.bucket_pool, loop.seed, pos.epoch + loop.order_offset
            )
            for g_idx in range(pos.group, len(groups)):
                started = time.perf_counter()
                group = groups[g_idx]
                step_loss = 0.0
                for i, (task, rows) in enumerate(group):
                    batch = tokenized[task].batch(rows, text.pad_id)
                    batch = {k: v.to(accelerator.device) for k, v in batch.items()}
                    # Gradients are synchronized (multi-GPU) only on the group's last batch.
                    sync = accelerator.no_sync(network) if i < len(group) - 1 else nullcontext()
                    with sync, autocast():
                        loss = model.task_loss(task, batch) / len(group)
                        accelerator.backward(loss)
                    step_loss += float(loss.detach())
                    pos.examples += len(rows)
                accelerator.clip_grad_norm_(network.parameters(), loop.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                pos.step += 1
                pos.group = g_idx + 1
                pos.train_seconds += time.perf_counter() - started
                running.append(step_loss)
                if pos.step % loop.log_every == 0 or pos.step == total:
                    lr = scheduler.get_last_lr()[0]
                    mean = float(np.mean(running))
                    pos.history.append({"kind": "train", "step": pos.step, "loss": mean, "lr": lr})
                    accelerator.log({"train/loss": mean, "train/lr": lr}, step=pos.step)
                    running.clear()
                bars.step_done(pos.step, step_loss, pos.examples / max(pos.train_seconds, 1e-9))
                epoch_end = pos.group == len(groups)
                evaluated = False
                if (
                    (loop.eval_every and pos.step % loop.eval_every == 0)
                    or epoch_end
                    or pos.step == total
                ):
                    stopped_early = evaluate_now()
                    evaluated = True
                if epoch_end:
                    pos.epoch, pos.group = pos.epoch + 1, 0
                    bars.epoch_done(pos.epoch)
                if evaluated or (loop.checkpoint_every and pos.step % loop.checkpoint_every == 0):
                    checkpoint()
                if hooks.on_step is not None:
                    hooks.on_step(pos.step)
                if stopped_early or pos.step >= total:
                    break
    except KeyboardInterrupt:
        checkpoint()  # Ctrl-C: keep what was done; `--resume` continues from here
        log.warning("interrupted at step %d; checkpoint saved in %s", pos.step, ckpt_dir)
        raise
    finally:
        bars.close(keep_bars)
        if loop.tensorboard:
            accelerator.end_training()

    kept_step = pos.step
    if loop.keep == Keep.best and best is not None:
        load_trainable(model, best)
        kept_step = pos.best_step
    score, val_metrics, thresholds = validate(model, text, splits, loop.eval_batch_size)
    model.eval()
    return TrainResult(
        network=model,
        tokenizer=tokenizer,
        adapter=applied,
        val_metrics=val_metrics,
        thresholds=thresholds,
        val_score=score,
        history=pos.history,
        steps=pos.step,
        epochs_run=round(
            pos.examples / max(1, sum(len(t) * hyper.repeats(n) for n, t in tokenized.items())), 3
        ),
        examples=pos.examples,
        train_seconds=pos.train_seconds,
        stopped_early=stopped_early,
        best_step=pos.best_step,
        resumed_from=resumed_from,
        work_dir=work_dir,
        run_key=key,
        hyper=hyper,
        devices={"device": str(accelerator.device), "mixed_precision": precision},
        init_from=init_from.ref if init_from is not None else None,
        order_offset=loop.order_offset,
        kept_step=kept_step,
    )


def discard_checkpoints(result: TrainResult) -> None:
    """After a run is saved to the registry its checkpoint is dead weight (TensorBoard stays)."""
    shutil.rmtree(result.work_dir / CHECKPOINT_DIR, ignore_errors=True)
