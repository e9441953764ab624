"""Resumable training checkpoints without pickles: safetensors for tensors, JSON for the rest.

A checkpoint folder holds

- ``trainable.safetensors``: every trainable parameter of the network, by name;
- ``best.safetensors``: the trainable parameters at the best validation score so far;
- ``optimizer.safetensors``: AdamW moments as ``<param index>.<key>``;
- ``rng.safetensors``: torch's CPU (and CUDA) generator states;
- ``state.json``: position (step, epoch, batch group), early-stopping state, history, the
  optimizer's param groups, the scheduler's counters and the run key it belongs to.

It is written into a temporary folder and renamed over the previous one, so a process killed
while saving leaves the last complete checkpoint. (``accelerate``'s ``save_state`` would
pickle the optimizer; kreview never unpickles.)
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from core.atomic import replace_dir

STATE_FILE = "state.json"


@dataclass
class Position:
    """Where training stands; everything needed to continue exactly there."""

    run_key: str
    step: int = 0  # optimizer steps done
    epoch: int = 0  # current epoch (0-based)
    group: int = 0  # optimizer-step groups of the current epoch already done
    examples: int = 0  # training examples seen
    train_seconds: float = 0.0
    best_metric: float | None = None
    best_step: int = 0
    bad_evals: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the trainable parameters (clone: on CPU ``.cpu()`` would alias the live
    tensors, which the optimizer keeps updating in place)."""
    return {
        n: p.detach().cpu().clone().contiguous()
        for n, p in model.named_parameters()
        if p.requires_grad
    }


def load_trainable(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    unknown = sorted(set(state) - set(params))
    if unknown:
        raise KeyError(f"checkpoint has parameters this network lacks: {unknown[:3]}")
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor.to(params[name].device, params[name].dtype))


def _optimizer_split(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for idx, slots in sd["state"].items():
        for key, value in slots.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"{idx}.{key}"] = t.detach().cpu().contiguous()
    return tensors, sd["param_groups"]


def _optimizer_join(tensors: dict[str, torch.Tensor], groups: list[Any]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, t in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = t
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])  # JSON turned the tuple into a list
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    folder: Path,
    pos: Position,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    best: dict[str, torch.Tensor] | None,
) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(trainable_state(model), str(tmp / "trainable.safetensors"))
    if best is not None:
        save_file(best, str(tmp / "best.safetensors"))
    opt_tensors, groups = _optimizer_split(optimizer)
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            rng[f"cuda{i}"] = s
    save_file(rng, str(tmp / "rng.safetensors"))
    sched = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    body = {"position": asdict(pos), "optimizer_groups": groups, "scheduler": sched}
    (tmp / STATE_FILE).write_text(json.dumps(body, default=float), encoding="utf-8")
    replace_dir(tmp, folder)


def read_position(folder: Path) -> Position | None:
    try:
        body = json.loads((folder / STATE_FILE).read_text("utf-8"))
    except FileNotFoundError:
        return None
    return Position(**body["position"])


def restore_checkpoint(
    folder: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
) -> tuple[Position, dict[str, torch.Tensor] | None]:
    """Load everything saved by :func:`save_checkpoint`; returns (position, best state)."""
    body = json.loads((folder / STATE_FILE).read_text("utf-8"))
    load_trainable(model, load_file(str(folder / "trainable.safetensors")))
    optimizer.load_state_dict(
        _optimizer_join(load_file(str(folder / "optimizer.safetensors")), body["optimizer_groups"])
    )
    sched = scheduler.state_dict()
    sched.update(body["scheduler"])
    scheduler.load_state_dict(sched)
    rng = load_file(str(folder / "rng.safetensors"))
    torch.set_rng_state(rng["torch"])
    cuda = [rng[k] for k in sorted(rng) if k.startswith("cuda")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    best_path = folder / "best.safetensors"
    best = load_file(str(best_path)) if best_path.is_file() else None
    return Position(**body["position"]), best
