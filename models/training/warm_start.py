"""Starting a training run from a registered version's weights (``kreview train --init-from``).

A run that continues a trained model (another epoch on CPU, where one session holds ~1.5
epochs) starts its adapter and heads from that version instead of from the seed. It is a
new run with its own LR schedule, not a resume: ``--resume`` continues a checkpoint of the
very same run, while a warm start may change the schedule, the data or the step budget.

Only what would train the same network is accepted: the same base weights (sha256), the same
adapter shape (type, rank, scale, targets, first layer) and, for each task both have, the
same labels. Tasks the source lacks keep freshly initialized heads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from safetensors.torch import load_file

from models.adapters import AdapterConfig, load_adapter_state
from models.base.bootstrap import CHECKSUMS_FILE
from models.registry.store import Registry, RegistryError
from models.training.network import TaskNetwork

# AdapterConfig fields that change what the saved tensors mean (dropout does not, and
# ``modules`` follows from these and the base).
_SHAPE_FIELDS = ("type", "r", "alpha", "targets", "frozen", "first_layer")


class WarmStartError(ValueError):
    """The source version cannot initialize this run's network."""


@dataclass(frozen=True)
class WarmStart:
    ref: str
    base_sha256: str
    adapter: AdapterConfig
    labels: dict[str, list[str]]
    adapter_state: dict[str, torch.Tensor]
    heads_state: dict[str, torch.Tensor]  # "task.param" names, as heads_state() saves them
    fingerprint: str  # sha256 over the weight files' checksums: part of the run key


def read_warm_start(registry: Registry, ref: str) -> WarmStart:
    """Verify (checksums, no pickles) and read a registered version's trained tensors."""
    info = registry.verify(ref)
    cfg = info.config
    if "adapter" not in cfg or "weights" not in cfg:
        raise RegistryError(f"{info.ref}: config.json has no adapter or weights section")
    sums = info.path / CHECKSUMS_FILE
    digest = hashlib.sha256(sums.read_bytes()).hexdigest()[:16]
    return WarmStart(
        ref=info.ref,
        base_sha256=str(cfg["base"]["sha256"]),
        adapter=AdapterConfig.from_json(cfg["adapter"]),
        labels={t: list(s.get("labels", [])) for t, s in cfg.get("heads", {}).items()},
        adapter_state=load_file(str(info.path / cfg["weights"]["adapter"])),
        heads_state=load_file(str(info.path / cfg["weights"]["heads"])),
        fingerprint=digest,
    )


def check_compatible(
    ws: WarmStart,
    base_sha256: str,
    adapter: AdapterConfig,
    labels: Mapping[str, Sequence[str]],
) -> None:
    """Raise WarmStartError naming the first difference that makes the weights unusable."""
    if ws.base_sha256 != base_sha256:
        raise WarmStartError(
            f"--init-from {ws.ref} was trained on base weights {ws.base_sha256[:12]}…, "
            f"this run uses {base_sha256[:12]}…"
        )
    for name in _SHAPE_FIELDS:
        mine, theirs = getattr(adapter, name), getattr(ws.adapter, name)
        if _norm(mine) != _norm(theirs):
            raise WarmStartError(
                f"--init-from {ws.ref} has adapter {name} = {_norm(theirs)!r}, this run asks "
                f"for {_norm(mine)!r}: give the same adapter settings (see its config.json)"
            )
    for task, names in labels.items():
        theirs = ws.labels.get(task)
        if theirs and list(theirs) != list(names):
            raise WarmStartError(
                f"--init-from {ws.ref}: its {task} labels differ from this run's data"
            )


def _norm(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


def apply_warm_start(network: TaskNetwork, applied: AdapterConfig, ws: WarmStart) -> list[str]:
    """Copy the source's adapter and matching heads into ``network``; returns the tasks whose
    heads came from the source (the others keep their seeded initialization)."""
    try:
        load_adapter_state(network.encoder.backbone, applied, ws.adapter_state)
    except ValueError as exc:  # AdapterError: tensor names or shapes differ
        raise WarmStartError(f"--init-from {ws.ref}: {exc}") from None
    loaded = []
    for task in network.tasks:
        theirs = {
            k.split(".", 1)[1]: v for k, v in ws.heads_state.items() if k.startswith(task + ".")
        }
        if not theirs:
            continue
        try:  # strict: torch refuses missing, unexpected and differently shaped tensors
            network.heads[task].load_state_dict(theirs, strict=True)
        except RuntimeError as exc:
            raise WarmStartError(f"--init-from {ws.ref}: its {task} head differs: {exc}") from None
        loaded.append(task)
    return loaded
