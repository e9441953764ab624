"""What a trained model version holds, written into a registry draft folder.

- ``config.json``: format, kind, tasks, base (id, source, weights sha256, hidden size), text
  prefix and max length, pooling, adapter config, head specs (labels), decision thresholds
  tuned on validation, weight file names, training settings and data sources.
- ``adapter.safetensors`` (LoRA A/B, or the trained encoder tensors for full fine-tuning)
  and ``heads.safetensors``.
- ``metrics.json``: held-out metrics per task with the held-out set's fingerprint (what the
  promotion gate compares), validation metrics, the training history.
- plots (learning curves, confusion matrices, per-label F1) and ``card.md``.
"""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from models.adapters import adapter_state
from models.base.bootstrap import write_checksums
from models.base.encoder import ResolvedBase
from models.evaluate import headline, write_plots
from models.heads import head_specs, heads_state
from models.registry.store import ARTIFACT_FORMAT, ARTIFACT_FORMAT_VERSION, Draft
from models.training.train import TrainResult

ADAPTER_FILE = "adapter.safetensors"
HEADS_FILE = "heads.safetensors"


@dataclass(frozen=True)
class EvalSet:
    """A held-out set as recorded with the metrics measured on it."""

    source: str
    rows: int
    fingerprint: str
    limit: int | None = None
    seed: int = 0
    normalized: bool = True  # texts went through etl.normalize


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", "utf-8")


def _hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU {platform.machine()} ×{torch.get_num_threads()} threads"


def write_artifact(
    draft: Draft,
    *,
    result: TrainResult,
    base: ResolvedBase,
    labels: Mapping[str, Any],
    prefix: str,
    max_length: int,
    held_out: Mapping[str, Mapping[str, Any]],
    eval_sets: Mapping[str, EvalSet],
    data: Mapping[str, Mapping[str, Any]],
    search: Mapping[str, Any] | None = None,
) -> None:
    folder = draft.path
    net = result.network
    tasks = list(net.tasks)
    backbone = net.encoder.backbone
    save_file(adapter_state(backbone, result.adapter), str(folder / ADAPTER_FILE))
    save_file(heads_state(net.heads), str(folder / HEADS_FILE))
    created = datetime.now(UTC).isoformat(timespec="seconds")
    config = {
        "format": ARTIFACT_FORMAT,
        "format_version": ARTIFACT_FORMAT_VERSION,
        "kind": draft.kind,
        "version": draft.version,
        "tasks": tasks,
        "created_at": created,
        "base": {**base.describe(), "hidden_size": int(backbone.config.hidden_size)},
        "prefix": prefix,
        "max_length": max_length,
        "pooling": "mean",
        # texts were passed through etl.normalize, as the scorer's text_norm is
        "normalized_text": all(bool(d.get("normalized", True)) for d in data.values()),
        # Every task of one artifact reads the same pooled vector: one encoder pass.
        "shared_encoder_pass": True,
        "adapter": result.adapter.to_json(),
        "heads": head_specs(tasks, labels),
        "thresholds": dict(result.thresholds),
        "weights": {"adapter": ADAPTER_FILE, "heads": HEADS_FILE},
        "training": {
            **asdict(result.hyper),
            "steps": result.steps,
            "epochs_run": result.epochs_run,
            "examples": result.examples,
            "train_seconds": round(result.train_seconds, 1),
            "examples_per_s": round(result.examples_per_s, 2),
            "stopped_early": result.stopped_early,
            "best_step": result.best_step,
            "kept_step": result.kept_step,
            "resumed_from": result.resumed_from,
            "init_from": result.init_from,
            "order_offset": result.order_offset,
            "run_key": result.run_key,
            "logs": str(result.work_dir / "tb"),
            "hardware": _hardware(),
            **result.devices,
            "search": dict(search) if search else None,
        },
        "data": {t: dict(d) for t, d in data.items()},
    }
    write_json(folder / "config.json", config)
    metrics = {
        "held_out": {
            t: {"eval_set": asdict(eval_sets[t]), "metrics": dict(m)} for t, m in held_out.items()
        },
        "validation": result.val_metrics,
        "val_score": result.val_score,
        "history": result.history,
    }
    write_json(folder / "metrics.json", metrics)
    plots = write_plots(folder, result.history, held_out)
    (folder / "card.md").write_text(model_card(config, metrics, plots, draft.ref), encoding="utf-8")


def model_card(
    config: Mapping[str, Any], metrics: Mapping[str, Any], plots: list[str], ref: str
) -> str:
    tr = config["training"]
    ad = config["adapter"]
    adapter = (
        f"LoRA r={ad['r']} alpha={ad['alpha']:g} on {len(ad['modules'])} linear layers"
        if ad["type"] == "lora"
        else f"full fine-tuning (frozen: {', '.join(ad['frozen']) or 'nothing'})"
    )
    lines = [
        f"# {ref}",
        "",
        f"Tasks: {', '.join(config['tasks'])} — one encoder pass serves all of them.",
        f"Base: `{config['base']['id']}` ({config['base']['source']}, weights sha256 "
        f"`{config['base']['sha256'][:16]}…`), mean pooling, prefix `{config['prefix']!r}`, "
        f"max {config['max_length']} tokens.",
        f"Trained parts: {adapter}, plus the heads.",
        "",
        "## Held-out results",
        "",
        "| task | held-out set | rows | result |",
        "| --- | --- | ---: | --- |",
    ]
    for task, entry in metrics["held_out"].items():
        es = entry["eval_set"]
        lines.append(
            f"| {task} | `{Path(es['source']).name}` | {es['rows']:,} | "
            f"{headline(task, entry['metrics'])} |"
        )
    lines += [
        "",
        "## Training",
        "",
        "- data: "
        + "; ".join(
            f"{t}: {d.get('train')} ({d.get('train_rows', 0):,} train / "
            f"{d.get('val_rows', 0):,} validation rows)"
            for t, d in config["data"].items()
        ),
        f"- {tr['steps']:,} optimizer steps ({tr['epochs_run']} epochs), batch {tr['batch_size']}"
        f" × {tr['grad_accum']}, lr {tr['lr']:g}, weight decay {tr['weight_decay']:g}, "
        f"warmup {tr['warmup_ratio']:g}; best step {tr['best_step']:,}"
        + (", stopped early" if tr["stopped_early"] else "")
        + _kept_note(tr),
        f"- {tr['train_seconds']:,.0f} s of training on {tr['hardware']} "
        f"({tr['examples_per_s']:,.1f} examples/s, mixed precision {tr['mixed_precision']})",
        f"- decision thresholds tuned on validation: {config['thresholds'] or 'none'}",
    ]
    for t, d in config["data"].items():
        if d.get("counts"):  # what a reader dropped and kept, e.g. NSMC-test duplicates
            lines.append(f"- {t} data: " + ", ".join(f"{k} {v:,}" for k, v in d["counts"]))
    if tr.get("init_from"):
        lines.append(f"- started from the weights of `{tr['init_from']}` (`--init-from`)")
    if tr.get("search"):
        lines.append(f"- hyperparameter search: {tr['search']}")
    lines += _merge_section(config)
    lines += [
        "",
        "## Use and limits",
        "",
        "Load with `models.registry.bundle.load_version` (or `load_current` for the versions in "
        "use); the loader verifies `checksums.json` and the base weights' sha256 first. Scores are "
        "only as good as the data: movie-review Korean (NSMC), online comments (KOTE), "
        "KLUE-STS sentence pairs; other domains, very long texts (truncated at "
        f"{config['max_length']} tokens) and sarcasm are weak spots.",
        "",
        "Plots: " + ", ".join(f"`{p}`" for p in plots),
        "",
    ]
    return "\n".join(lines + _refit_section(config))


def card_plots(card: str) -> list[str]:
    """The plot files a card names on its "Plots:" line (they are not recorded elsewhere)."""
    line = re.search(r"^Plots: .*$", card, re.MULTILINE)
    return re.findall(r"`([^`]+\.png)`", line.group(0)) if line else []


def render_card_again(folder: Path) -> bool:
    """Write a finished version's ``card.md`` again from its config and metrics (after the
    card's wording changed, for a shipped version) and its checksums with it. True if the
    card changed. The weights and figures are untouched: a card is a function of them."""
    config = json.loads((folder / "config.json").read_text("utf-8"))
    metrics = json.loads((folder / "metrics.json").read_text("utf-8"))
    old = (folder / "card.md").read_text("utf-8")
    new = model_card(config, metrics, card_plots(old), f"{config['kind']}/{config['version']}")
    if new == old:
        return False
    (folder / "card.md").write_text(new, encoding="utf-8")
    write_checksums(folder)
    return True


def _kept_note(training: Mapping[str, Any]) -> str:
    """The card says so when the weights are not the best step's (``--keep last``)."""
    kept = training.get("kept_step")  # absent in versions trained before --keep existed
    if kept is None or kept == training["best_step"]:
        return ""
    return f"; weights of step {kept:,} kept (--keep last)"


def _merge_section(config: Mapping[str, Any]) -> list[str]:
    """The lineage of a merge (models/training/merge.py), from its config: rendered here so
    that a later refit of the merge, which copies the config, keeps it on its card too."""
    merge = config.get("merge")
    if not merge:
        return []
    a, b = merge["from"]
    alpha = merge["alpha"]
    ad = config["adapter"]
    r_a, r_b = merge["source_adapters"]
    heads = ", ".join(f"{t} {how}" for t, how in merge["heads"].items())
    return [
        "",
        "## Merge",
        "",
        f"A weight-space interpolation (model soup / WiSE-FT) of `{a}` (weight α = {alpha:g}) "
        f"and `{b}` (weight {1 - alpha:g}): θ = α·θ_A + (1 − α)·θ_B. The LoRA update is merged "
        f"exactly (ranks concatenated: r {r_a} + {r_b} = {ad['r']}, alpha {ad['alpha']:g} keeps "
        f"the sources' scale); heads: {heads}; decision thresholds interpolated, not re-tuned. "
        f"The held-out results above are the merge's own; the training figures are those of `{a}`.",
    ]


def _refit_section(config: Mapping[str, Any]) -> list[str]:
    """What a head refit (models/training/refit.py) changed, from its config, like the merge
    section: a card is then a function of the version's files, and can be rendered again."""
    refit = config.get("refit")
    if not refit:
        return []
    settings = refit["settings"]
    folds = int(settings.get("folds", 1))  # absent in versions refitted before k-fold existed
    text = f"## Head refit\n\nFrom `{refit['from']}`, whose encoder is unchanged. "
    if refit["tasks"]:
        text += (
            "Heads refitted: "
            + ", ".join(
                f"{t} (best epoch {e} of {settings['epochs']})"
                for t, e in refit["best_epoch"].items()
            )
            + f"; lr {settings['lr']:g}, weight decay {settings['weight_decay']:g}, batch "
            f"{settings['batch_size']}"
            + (
                f"; {folds}-fold: the epoch and threshold chosen on out-of-fold "
                f"predictions, the head the mean of the {folds} fold heads"
                if folds > 1
                else ""
            )
            + ". The training figures above are the source's. "
            "`learning_curves.png` shows the refit (epochs on the x axis).\n"
        )
    else:
        text += "No head refitted: the source's weights, byte for byte.\n"
    if "max_length" in refit:
        limit = refit["max_length"]
        text += (
            f"\nToken limit {limit['from']} -> {limit['to']}: "
            + (", ".join(limit["remeasured"]) or "no other task")
            + " measured again at the new limit on the source's held-out sets (the results "
            "above).\n"
        )
    return [text]
