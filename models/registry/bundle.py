"""Loading trained models for scoring: one encoder pass per artifact, shared by its heads.

API (for ``kreview score`` / ``predict`` / ``similarity``)::

    from models.registry.bundle import load_current, load_version

    models = load_current(wh.models_dir, device="auto")   # LoadedModels
    models.versions            # {"sentiment": "2026…-1a2b3c", "emotion": …, "similarity": …}
    for p in models.passes:    # one EncoderPass per distinct artifact
        pooled = p.model.encode(texts)           # [n, hidden] float32 (CPU), input order
        for task in p.tasks:                     # the current tasks this pass serves
            ...
    m = models.by_task["sentiment"]              # LoadedModel
    m.sentiment(pooled)        # [n] P(positive)
    m.emotion(pooled)          # [n, 44] intensities (sigmoid), m.labels["emotion"] names them
    m.embed(pooled)            # [n, hidden] L2-normalized float32: the review embedding
    m.similarity(pa, pb)       # [n] 0–5 KLUE-STS scale; m.thresholds["similarity"] = same/diff
    models.predict(texts)      # all of the above, one encoder pass per artifact

A ``joint`` artifact provides all three tasks, so ``passes`` has one entry and every review is
encoded once. Per-task artifacts give one pass each. Tokenize once per pass with
``m.tokenize(texts)`` and call ``m.encode_ids(ids)`` to control batching (length-sorted
batches, ``batch_size``), e.g. under accelerate's ``find_executable_batch_size``.

Loading verifies the artifact's checksums, refuses pickles, finds the base with the recorded
weights sha256 (registry copy first, then folder, then hub), applies the adapter and, for
LoRA, merges it into the base weights: the scoring encoder is a plain transformers model
(SDPA attention, ``inference_mode``, bf16 autocast on CUDA) that int8 dynamic quantization
can be applied to as is (``torch.ao.quantization.quantize_dynamic(m.encoder, {nn.Linear})``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from models.adapters import AdapterConfig, apply_adapter, load_adapter_state, merge_lora
from models.base.encoder import Encoder, load_backbone, pick_device, resolve_recorded
from models.batching import tokenize
from models.config import OPTIONAL_TASKS, REQUIRED_TASKS
from models.heads import build_heads
from models.inference import TextInput, encode_ids, head_outputs, similarity_scores
from models.registry.store import Registry, RegistryError, VersionInfo


@dataclass
class LoadedModel:
    """One artifact, ready to score: encoder (adapter merged) + its heads, in eval mode."""

    info: VersionInfo
    encoder: Encoder
    heads: nn.ModuleDict
    text: TextInput
    device: torch.device
    thresholds: dict[str, float]
    labels: dict[str, list[str]]

    @property
    def ref(self) -> str:
        return self.info.ref

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.info.tasks

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return tokenize(
            self.text.tokenizer, texts, prefix=self.text.prefix, max_length=self.text.max_length
        )

    def encode_ids(self, ids: Sequence[Sequence[int]], *, batch_size: int = 64) -> torch.Tensor:
        return encode_ids(
            self.encoder, ids, self.text.pad_id, batch_size=batch_size, device=self.device
        )

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> torch.Tensor:
        """Mean-pooled encoder output ``[n, hidden]`` (float32, CPU), in input order."""
        return self.encode_ids(self.tokenize(texts), batch_size=batch_size)

    def _head(self, task: str) -> nn.Module:
        if task not in self.heads:
            raise RegistryError(f"{self.ref} has no {task} head (it has {', '.join(self.tasks)})")
        return self.heads[task]

    def sentiment(self, pooled: torch.Tensor) -> np.ndarray:
        return head_outputs("sentiment", self._head("sentiment"), pooled)

    def emotion(self, pooled: torch.Tensor) -> np.ndarray:
        return head_outputs("emotion", self._head("emotion"), pooled)

    def rating(self, pooled: torch.Tensor) -> np.ndarray:
        """[n, 10]: the probability of each star (models.heads.rating_median / rating_mean)."""
        return head_outputs("rating", self._head("rating"), pooled)

    @staticmethod
    def embed(pooled: torch.Tensor) -> np.ndarray:
        return F.normalize(pooled.float(), dim=-1).numpy()

    @staticmethod
    def similarity(pooled_a: torch.Tensor, pooled_b: torch.Tensor) -> np.ndarray:
        return similarity_scores(pooled_a, pooled_b)

    def predict(self, texts: Sequence[str], *, batch_size: int = 64) -> dict[str, np.ndarray]:
        """Every task of this artifact from one encoder pass (similarity: the embedding)."""
        pooled = self.encode(texts, batch_size=batch_size)
        out: dict[str, np.ndarray] = {}
        for task in self.tasks:
            if task == "similarity":
                out["embedding"] = self.embed(pooled)
            else:
                out[task] = head_outputs(task, self.heads[task], pooled)
        return out


@dataclass(frozen=True)
class EncoderPass:
    model: LoadedModel
    tasks: tuple[str, ...]  # the current tasks this one encoder pass serves


@dataclass
class LoadedModels:
    by_task: dict[str, LoadedModel]
    passes: list[EncoderPass] = field(default_factory=list)
    # What the CPU encoder pass runs in (models/precision.py): fp32, bf16 (autocast) or int8.
    precision: str = "fp32"

    @property
    def versions(self) -> dict[str, str]:
        return {t: m.version for t, m in self.by_task.items()}

    def predict(self, texts: Sequence[str], *, batch_size: int = 64) -> dict[str, np.ndarray]:
        """sentiment [n], emotion [n, 44], embedding [n, hidden]: one pass per artifact."""
        out: dict[str, np.ndarray] = {}
        for p in self.passes:
            pooled = p.model.encode(texts, batch_size=batch_size)
            for task in p.tasks:
                if task == "similarity":
                    out["embedding"] = p.model.embed(pooled)
                else:
                    out[task] = head_outputs(task, p.model.heads[task], pooled)
        return out


@dataclass(frozen=True)
class Assembled:
    """The parts of a scorer built from a config.json and its weights."""

    encoder: Encoder
    heads: nn.ModuleDict
    text: TextInput
    device: torch.device
    labels: dict[str, list[str]]


def assemble(
    registry: Registry,
    cfg: Mapping[str, Any],
    adapter_state: Mapping[str, torch.Tensor],
    heads_state: Mapping[str, torch.Tensor],
    *,
    name: str,
    device: str = "auto",
    merge: bool = True,
) -> Assembled:
    """The base of ``cfg`` with its adapter applied (folded in where ``merge``) and its heads,
    in eval mode, from weights already read: a registered version's files
    (:func:`load_version`) or weights made in memory (models/training/merge.py)."""
    base = resolve_recorded(cfg["base"]["id"], cfg["base"]["sha256"], registry.root)
    backbone, tokenizer = load_backbone(base, dropout=False)
    adapter = AdapterConfig.from_json(cfg["adapter"])
    apply_adapter(backbone, adapter)
    load_adapter_state(backbone, adapter, dict(adapter_state))
    if merge and adapter.type == "lora":
        merge_lora(backbone)
    labels = {t: list(spec.get("labels", [])) for t, spec in cfg["heads"].items()}
    heads = build_heads(cfg["tasks"], int(cfg["base"]["hidden_size"]), labels, dropout=0.0)
    try:
        heads.load_state_dict(dict(heads_state), strict=True)
    except RuntimeError as exc:  # torch reports missing/unexpected keys this way
        raise RegistryError(f"{name}: heads do not match config.json: {exc}") from None
    dev = pick_device(device)
    encoder = Encoder(backbone).to(dev).eval()
    heads = heads.to(dev).eval()
    for p in (*encoder.parameters(), *heads.parameters()):
        p.requires_grad_(False)
    text = TextInput(tokenizer, cfg["prefix"], int(cfg["max_length"]))
    return Assembled(encoder, heads, text, dev, labels)


def load_version(
    registry: Registry, ref: str, *, device: str = "auto", merge: bool = True
) -> LoadedModel:
    """Verify and load one artifact (see the module docstring)."""
    info = registry.verify(ref)
    cfg = info.config
    parts = assemble(
        registry,
        {**cfg, "tasks": list(info.tasks)},
        load_file(str(info.path / cfg["weights"]["adapter"])),
        load_file(str(info.path / cfg["weights"]["heads"])),
        name=info.ref,
        device=device,
        merge=merge,
    )
    thresholds = dict(cfg.get("thresholds", {}))
    return LoadedModel(
        info, parts.encoder, parts.heads, parts.text, parts.device, thresholds, parts.labels
    )


def scored_tasks(registry: Registry) -> tuple[str, ...]:
    """The tasks the scorer runs: the required ones, and each optional one (rating) that has a
    current model. Without a rating model the rows score as before and predicted_rating stays
    NULL; the score stage says so (its details name the rating version, or none)."""
    current = registry.current()
    return (*REQUIRED_TASKS, *(t for t in OPTIONAL_TASKS if t in current))


def load_current(
    models_dir: Path | Registry,
    *,
    device: str = "auto",
    tasks: Sequence[str] = REQUIRED_TASKS,
    merge: bool = True,
) -> LoadedModels:
    """The current version of each task, each artifact loaded once."""
    registry = models_dir if isinstance(models_dir, Registry) else Registry(models_dir)
    current = registry.current()
    missing = [t for t in tasks if t not in current]
    if missing:
        raise RegistryError(
            f"no current model for {', '.join(missing)} in {registry.root}",
            hint="`kreview models bootstrap` installs the shipped defaults; or train one "
            "(`kreview train …`) or promote one (`kreview models promote REF`)",
        )
    loaded: dict[str, LoadedModel] = {}
    by_task: dict[str, LoadedModel] = {}
    for task in tasks:
        ref = current[task]["ref"]
        if ref not in loaded:
            loaded[ref] = load_version(registry, ref, device=device, merge=merge)
        by_task[task] = loaded[ref]
    passes = [EncoderPass(m, tuple(t for t in tasks if by_task[t] is m)) for m in loaded.values()]
    return LoadedModels(by_task, passes)


def describe(models: LoadedModels) -> list[dict[str, Any]]:
    return [{"ref": p.model.ref, "tasks": list(p.tasks)} for p in models.passes]
