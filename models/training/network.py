"""The trainable network: base encoder (+ adapter) + the heads of one or more tasks.

Also the tokenized form of a task's examples and how a batch of them becomes a loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.adapters import AdapterConfig, apply_adapter
from models.base.encoder import Encoder, ResolvedBase, load_backbone
from models.batching import pad, tokenize
from models.data import Examples
from models.heads import ClassifierHead, SimilarityHead, build_heads


class TaskNetwork(nn.Module):
    """``encoder`` (backbone + mean pooling) and ``heads`` (a ModuleDict keyed by task)."""

    def __init__(self, backbone: nn.Module, heads: nn.ModuleDict) -> None:
        super().__init__()
        self.encoder = Encoder(backbone)
        self.heads = heads

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.heads.keys())

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids, attention_mask)

    def task_loss(self, task: str, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        pooled = self(batch["input_ids"], batch["attention_mask"])
        head = self.heads[task]
        if isinstance(head, SimilarityHead):
            # Pairs are encoded in one pass: rows [0, n) are the first sentences, [n, 2n)
            # the second ones.
            n = batch["labels"].shape[0]
            return head.loss(head(pooled[:n], pooled[n:]), batch["labels"])
        assert isinstance(head, ClassifierHead)
        return head.loss(head(pooled), batch["labels"])


def build_network(
    base: ResolvedBase,
    tasks: Sequence[str],
    labels: Mapping[str, Sequence[str]],
    adapter: AdapterConfig,
    *,
    head_dropout: float = 0.1,
) -> tuple[TaskNetwork, Any, AdapterConfig]:
    """(network, tokenizer, adapter config with the wrapped modules filled in)."""
    backbone, tokenizer = load_backbone(base)
    applied = apply_adapter(backbone, adapter)
    hidden = int(backbone.config.hidden_size)
    heads = build_heads(tasks, hidden, labels, dropout=head_dropout)
    return TaskNetwork(backbone, heads), tokenizer, applied


@dataclass(frozen=True)
class TokenizedTask:
    """A task's examples as token ids, ready to be cut into batches."""

    task: str
    ids: list[list[int]]
    ids_b: list[list[int]] | None
    labels: np.ndarray
    lengths: np.ndarray  # per example: the longer of the two texts for pairs

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, rows: np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
        seqs = [self.ids[i] for i in rows]
        if self.ids_b is not None:
            seqs += [self.ids_b[i] for i in rows]
        input_ids, mask = pad(seqs, pad_id)
        labels = torch.from_numpy(np.ascontiguousarray(self.labels[rows]))
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def tokenize_examples(
    ex: Examples, tokenizer: Any, *, prefix: str, max_length: int
) -> TokenizedTask:
    ids = tokenize(tokenizer, ex.texts, prefix=prefix, max_length=max_length)
    ids_b = None
    lengths = np.array([len(r) for r in ids], dtype=np.int64)
    if ex.texts_b is not None:
        ids_b = tokenize(tokenizer, ex.texts_b, prefix=prefix, max_length=max_length)
        lengths = np.maximum(lengths, np.array([len(r) for r in ids_b], dtype=np.int64))
    return TokenizedTask(ex.task, ids, ids_b, ex.labels, lengths)
