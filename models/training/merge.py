"""Weight-space interpolation of two registered versions (``kreview models merge``).

A "model soup" / WiSE-FT (Wortsman et al. 2022): ``θ(α) = α·θ_A + (1 − α)·θ_B`` for two
versions fine-tuned from the same base, e.g. a default and its ``--init-from`` descendant that
gained one task and lost a little on another. The result is a new version of the same kind,
evaluated on the sources' recorded held-out sets and put through the usual promotion gate.

What is interpolated:

- LoRA: the update ``ΔW = scale·B·A`` is bilinear in (A, B), so interpolating A and B
  separately is not the interpolation of ΔW. The merge is exact instead: ranks are
  concatenated, ``A = [√α·A_A; √(1−α)·A_B]`` (rows), ``B = [√α·B_A, √(1−α)·B_B]`` (columns),
  so ``B·A = α·B_A·A_A + (1−α)·B_B·A_B``; ``r = r_A + r_B`` and the stored alpha keeps
  ``scale = alpha / r`` equal to the sources' (which must be equal). Scoring folds LoRA into
  the base (models.adapters.merge_lora), so the larger rank costs nothing at inference.
- full fine-tuning: every trained tensor, linearly.
- heads: a task both sources have is interpolated parameter by parameter (same shapes and
  labels, else refused); a task only one has (say ``rating``) is copied from it.
- decision thresholds: interpolated the same way, copied where only one source has one. No
  validation data goes into a merge, so nothing is re-tuned: `kreview models refit-head` on
  the merged version refits the emotion head and re-tunes its threshold, as after training.

Refused (:class:`MergeError`, one line): different kinds, base weights, text prefix, max
length, pooling, text normalization, adapter type, targets, first layer, frozen parameters or
wrapped modules, or LoRA scales; ``α`` outside [0, 1].
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from core.warehouse import Warehouse
from models.adapters import AdapterConfig
from models.base.encoder import Encoder
from models.data import DataError
from models.evaluate import plot_confusion, plot_per_label_f1
from models.inference import TextInput
from models.registry.bundle import assemble
from models.registry.store import Decision, Draft, Registry, VersionInfo
from models.training.artifact import ADAPTER_FILE, HEADS_FILE, model_card, write_json
from models.training.workflow import measure_recorded, settle

log = logging.getLogger("kreview.models.merge")

# config.json entries two versions must share to be merged: what the encoder reads and how.
_SAME_CONFIG = ("kind", "prefix", "max_length", "pooling", "normalized_text")
_SAME_ADAPTER = ("type", "targets", "frozen", "first_layer", "modules")


class MergeError(ValueError):
    """Two versions cannot be interpolated (different layouts), or α is out of range."""


@dataclass(frozen=True)
class MergedWeights:
    adapter: AdapterConfig
    adapter_state: dict[str, torch.Tensor]
    heads_state: dict[str, torch.Tensor]
    thresholds: dict[str, float]
    heads: dict[str, str]  # task -> "interpolated" | "copied from <which>"


@dataclass
class MergeOutcome:
    info: VersionInfo
    held_out: dict[str, dict[str, Any]]
    decision: Decision | None
    mirrored: bool
    mirror_note: str


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:  # NaN too
        raise MergeError(f"alpha {alpha} is outside [0, 1]")


def _scale(cfg: AdapterConfig) -> float:
    return cfg.alpha / cfg.r


def check_mergeable(a: Mapping[str, Any], b: Mapping[str, Any], names: tuple[str, str]) -> None:
    """Raise MergeError naming the first difference between two versions' config.json."""
    na, nb = names

    def differ(what: str, va: object, vb: object) -> MergeError:
        return MergeError(f"cannot merge {na} and {nb}: {what} differs ({va!r} vs {vb!r})")

    base_a, base_b = (f"{c['base']['id']} {str(c['base']['sha256'])[:12]}" for c in (a, b))
    if base_a != base_b:
        raise differ("the base model", base_a, base_b)
    for key in _SAME_CONFIG:
        if a.get(key) != b.get(key):
            raise differ(key, a.get(key), b.get(key))
    ad_a, ad_b = AdapterConfig.from_json(a["adapter"]), AdapterConfig.from_json(b["adapter"])
    for key in _SAME_ADAPTER:
        va, vb = getattr(ad_a, key), getattr(ad_b, key)
        if va != vb:
            shown = (len(va), len(vb)) if key == "modules" else (va, vb)
            raise differ(f"adapter {key}", *shown)
    if ad_a.type == "lora" and not math.isclose(_scale(ad_a), _scale(ad_b), rel_tol=1e-9):
        raise differ("LoRA scale (alpha / r)", _scale(ad_a), _scale(ad_b))
    for task in set(a["heads"]) & set(b["heads"]):
        if a["heads"][task] != b["heads"][task]:
            raise MergeError(
                f"cannot merge {na} and {nb}: their {task} heads differ (labels or type)"
            )


def merge_adapters(
    cfg_a: AdapterConfig,
    state_a: Mapping[str, torch.Tensor],
    cfg_b: AdapterConfig,
    state_b: Mapping[str, torch.Tensor],
    alpha: float,
) -> tuple[AdapterConfig, dict[str, torch.Tensor]]:
    """``α·A + (1 − α)·B`` of two adapters of the same layout (see the module docstring):
    exact for LoRA by concatenating ranks. Returns the merged config and tensors."""
    _check_alpha(alpha)
    if set(state_a) != set(state_b):
        extra = sorted(set(state_a) ^ set(state_b))[:3]
        raise MergeError(f"the adapters hold different tensors (e.g. {extra})")
    if cfg_a.type != cfg_b.type:
        raise MergeError(f"adapter types differ ({cfg_a.type} vs {cfg_b.type})")
    if cfg_a.type == "full":
        out = {}
        for name, ta in state_a.items():
            tb = state_b[name]
            if ta.shape != tb.shape:
                raise MergeError(f"{name}: shapes differ ({tuple(ta.shape)} vs {tuple(tb.shape)})")
            out[name] = (alpha * ta.double() + (1 - alpha) * tb.double()).to(ta.dtype)
        return cfg_a, out
    if not math.isclose(_scale(cfg_a), _scale(cfg_b), rel_tol=1e-9):
        raise MergeError(
            f"LoRA scales differ (alpha/r {_scale(cfg_a):g} vs {_scale(cfg_b):g}): "
            "the rank-concatenated merge needs one scale"
        )
    wa, wb = math.sqrt(alpha), math.sqrt(1.0 - alpha)
    out = {}
    for name in sorted(state_a):
        if not name.endswith(".lora_A"):
            continue
        module = name[: -len(".lora_A")]
        a_a, a_b = state_a[name], state_b[name]
        b_a, b_b = state_a[f"{module}.lora_B"], state_b[f"{module}.lora_B"]
        if a_a.shape[1] != a_b.shape[1] or b_a.shape[0] != b_b.shape[0]:
            raise MergeError(f"{module}: LoRA shapes differ")
        dtype = a_a.dtype
        out[name] = torch.cat([wa * a_a.double(), wb * a_b.double()], dim=0).to(dtype)
        out[f"{module}.lora_B"] = torch.cat([wa * b_a.double(), wb * b_b.double()], dim=1).to(dtype)
    r = cfg_a.r + cfg_b.r
    return AdapterConfig.from_json({**cfg_a.to_json(), "r": r, "alpha": _scale(cfg_a) * r}), out


def merge_heads(
    state_a: Mapping[str, torch.Tensor],
    state_b: Mapping[str, torch.Tensor],
    alpha: float,
    names: tuple[str, str] = ("A", "B"),
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Heads saved as ``<task>.<param>``: tasks both have interpolated (same parameter names
    and shapes, else MergeError), tasks one has copied. Returns (tensors, what each task got)."""
    _check_alpha(alpha)

    def by_task(state: Mapping[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        out: dict[str, dict[str, torch.Tensor]] = {}
        for key, t in state.items():
            task, _, param = key.partition(".")
            out.setdefault(task, {})[param] = t
        return out

    ta, tb = by_task(state_a), by_task(state_b)
    merged: dict[str, torch.Tensor] = {}
    how: dict[str, str] = {}
    for task in sorted(set(ta) | set(tb)):
        if task not in tb or task not in ta:
            src, name = (ta, names[0]) if task in ta else (tb, names[1])
            merged.update({f"{task}.{p}": t.clone() for p, t in src[task].items()})
            how[task] = f"copied from {name}"
            continue
        pa, pb = ta[task], tb[task]
        if set(pa) != set(pb):
            raise MergeError(
                f"the {task} heads hold different parameters ({sorted(pa)} vs {sorted(pb)})"
            )
        for p, x in pa.items():
            y = pb[p]
            if x.shape != y.shape:
                raise MergeError(
                    f"the {task} heads differ in shape: {task}.{p} {tuple(x.shape)} vs "
                    f"{tuple(y.shape)}"
                )
            merged[f"{task}.{p}"] = (alpha * x.double() + (1 - alpha) * y.double()).to(x.dtype)
        how[task] = "interpolated"
    return merged, how


def merge_thresholds(
    a: Mapping[str, float], b: Mapping[str, float], alpha: float
) -> dict[str, float]:
    out = {}
    for task in sorted(set(a) | set(b)):
        if task in a and task in b:
            out[task] = round(alpha * float(a[task]) + (1 - alpha) * float(b[task]), 6)
        else:
            out[task] = float(a[task] if task in a else b[task])
    return out


def merge_weights(a: VersionInfo, b: VersionInfo, alpha: float) -> MergedWeights:
    """Read two verified versions' weights and interpolate them (nothing is written)."""
    _check_alpha(alpha)
    check_mergeable(a.config, b.config, (a.ref, b.ref))
    cfg_a = AdapterConfig.from_json(a.config["adapter"])
    cfg_b = AdapterConfig.from_json(b.config["adapter"])
    adapter, adapter_state = merge_adapters(
        cfg_a,
        load_file(str(a.path / a.config["weights"]["adapter"])),
        cfg_b,
        load_file(str(b.path / b.config["weights"]["adapter"])),
        alpha,
    )
    heads_state, how = merge_heads(
        load_file(str(a.path / a.config["weights"]["heads"])),
        load_file(str(b.path / b.config["weights"]["heads"])),
        alpha,
        (a.ref, b.ref),
    )
    thresholds = merge_thresholds(
        a.config.get("thresholds", {}), b.config.get("thresholds", {}), alpha
    )
    return MergedWeights(adapter, adapter_state, heads_state, thresholds, how)


@dataclass
class MergedModel:
    """A merged model in memory, ready to score (adapter folded into the base, eval mode)."""

    encoder: Encoder
    heads: nn.ModuleDict
    text: TextInput
    thresholds: dict[str, float]


def merged_config(a: VersionInfo, b: VersionInfo, weights: MergedWeights) -> dict[str, Any]:
    """config.json entries of the merge that do not depend on its new version id."""
    tasks = sorted(set(a.tasks) | set(b.tasks))
    config = {k: v for k, v in a.config.items() if k != "refit"}  # a merge is not a refit
    config["tasks"] = tasks
    config["heads"] = {t: (a.config["heads"].get(t) or b.config["heads"][t]) for t in tasks}
    config["adapter"] = weights.adapter.to_json()
    config["thresholds"] = dict(weights.thresholds)
    config["data"] = {**b.config.get("data", {}), **a.config.get("data", {})}
    config["weights"] = {"adapter": ADAPTER_FILE, "heads": HEADS_FILE}
    return config


def assemble_merged(
    registry: Registry, config: Mapping[str, Any], weights: MergedWeights, *, device: str = "cpu"
) -> MergedModel:
    """The merged weights loaded into the base as a registered version is loaded
    (models.registry.bundle.assemble: LoRA applied, then folded into the base weights)."""
    parts = assemble(
        registry,
        config,
        weights.adapter_state,
        weights.heads_state,
        name="the merge",
        device=device,
    )
    return MergedModel(parts.encoder, parts.heads, parts.text, dict(weights.thresholds))


def held_out_records(a: VersionInfo, b: VersionInfo) -> dict[str, dict[str, Any]]:
    """Per task, the held-out set to measure the merge on: A's record, else B's."""
    out = {}
    for task in sorted(set(a.tasks) | set(b.tasks)):
        record = a.held_out(task) or b.held_out(task)
        if record is None:
            raise MergeError(f"neither {a.ref} nor {b.ref} has held-out metrics for {task}")
        out[task] = dict(record["eval_set"])
    return out


def merge_versions(
    wh: Warehouse,
    ref_a: str,
    ref_b: str,
    alpha: float,
    *,
    device: str = "auto",
    batch_size: int = 64,
    promote: bool = True,
    force: bool = False,
    min_delta: float = 0.0,
) -> MergeOutcome:
    """Merge ``α·A + (1 − α)·B`` into a new version, measure it on the sources' held-out sets
    and (``promote``) put it through the promotion gate, as a refit or a training run is."""
    _check_alpha(alpha)
    registry = Registry(wh.models_dir)
    a = registry.verify(registry.lookup(ref_a).ref)
    b = registry.verify(registry.lookup(ref_b).ref)
    if a.ref == b.ref:
        raise MergeError(f"{a.ref} would be merged with itself")
    weights = merge_weights(a, b, alpha)
    config = merged_config(a, b, weights)
    records = held_out_records(a, b)
    model = assemble_merged(registry, config, weights, device=device)
    try:
        held_out, sets = measure_recorded(model, records, wh, batch_size=batch_size)
    except DataError as exc:
        raise MergeError(str(exc)) from None
    del model

    with registry.draft(a.kind) as draft:
        _write_merge(draft, a, b, alpha, weights, config, held_out, records)
    assert draft.info is not None
    decision, mirrored, note = settle(
        registry,
        wh,
        draft.info.ref,
        {records[t]["fingerprint"]: ex for t, ex in sets.items()},
        promote=promote,
        force=force,
        min_delta=min_delta,
        device=device,
        batch=batch_size,
        command="models merge",
    )
    return MergeOutcome(draft.info, held_out, decision, mirrored, note)


def _write_merge(
    draft: Draft,
    a: VersionInfo,
    b: VersionInfo,
    alpha: float,
    weights: MergedWeights,
    config: Mapping[str, Any],
    held_out: Mapping[str, Mapping[str, Any]],
    records: Mapping[str, Mapping[str, Any]],
) -> None:
    folder = draft.path
    save_file(weights.adapter_state, str(folder / ADAPTER_FILE))
    save_file(weights.heads_state, str(folder / HEADS_FILE))
    merge_info = {
        "from": [a.ref, b.ref],
        "alpha": alpha,  # the weight of from[0]; from[1] gets 1 - alpha
        "method": "linear interpolation; LoRA exact by rank concatenation",
        "heads": dict(weights.heads),
        "source_adapters": [a.config["adapter"]["r"], b.config["adapter"]["r"]],
    }
    cfg = dict(config)
    cfg["version"] = draft.version
    cfg["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    cfg["merge"] = merge_info
    write_json(folder / "config.json", cfg)
    metrics = {
        "held_out": {
            t: {"eval_set": dict(records[t]), "metrics": dict(m)} for t, m in held_out.items()
        },
        "merge": merge_info,
    }
    write_json(folder / "metrics.json", metrics)
    plots = _plots(folder, held_out)
    card = model_card(cfg, metrics, plots, draft.ref)  # its "## Merge" from cfg["merge"]
    (folder / "card.md").write_text(card, encoding="utf-8")


def _plots(folder: Path, held_out: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The held-out plots models.evaluate.write_plots draws, less the learning curves: a merge
    has no training history."""
    out = []
    for task, m in held_out.items():
        if task in ("sentiment", "similarity"):
            names = ["neg", "pos"] if task == "sentiment" else ["diff", "same"]
            path = folder / f"confusion_{task}.png"
            out.append(plot_confusion(m["confusion_matrix"], names, path).name)
        elif task == "emotion":
            out.append(plot_per_label_f1(m["per_label_f1"], folder / "per_label_f1.png").name)
    return out
