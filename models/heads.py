"""Task heads on the mean-pooled encoder output (one vector per text).

- sentiment: dropout + linear -> 2 logits (negative, positive); softmax, cross-entropy.
- emotion: dropout + linear -> 44 logits; sigmoid per label, binary cross-entropy. The
  sigmoid probabilities are the emotion intensities the scorer stores.
- similarity: no parameters. A bi-encoder: both sentences are encoded separately, the cosine
  of their pooled vectors is trained towards ``label / 5`` (MSE, as sentence-transformers'
  CosineSimilarityLoss) and reported as ``clamp(5 * cosine, 0, 5)``. Because the score is a
  cosine of the pooled vectors, those same vectors serve as the review embeddings for
  clustering.

- rating: dropout + linear -> 10 logits, one per star (1–10); softmax, cross-entropy. Read
  as the distribution's median (``predicted_rating``: the guess with the least absolute
  error) and its mean (``expected_rating``: unbiased, what a title's average is built from).
  Chosen by measurement over regression (MSE, L1) and ordinal (CORAL) heads on the same
  frozen vectors (bench/rating_heads.py, docs/MODELS.md): the softmax median had the lowest
  held-out MAE, 1.115 against 1.221 (L1), 1.341 (MSE) and 1.160 (CORAL median).

All heads read the same pooled vector, so one encoder pass feeds every head of a bundle.
Head tensors are saved as ``<task>.<param>`` (e.g. ``emotion.proj.weight``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.config import TASKS

SENTIMENT_LABELS = ("negative", "positive")
RATING_STARS = tuple(range(1, 11))
SIMILARITY_SCALE = 5.0
# KLUE-STS: a pair is "the same meaning" at label >= 3.0 (its binary-label).
SIMILARITY_BINARY_AT = 3.0


class ClassifierHead(nn.Module):
    def __init__(self, hidden: int, n_out: int, dropout: float, multilabel: bool) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden, n_out)
        self.multilabel = multilabel

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.proj(self.dropout(pooled))

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.multilabel:
            return F.binary_cross_entropy_with_logits(logits.float(), target.float())
        return F.cross_entropy(logits.float(), target.long())

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """emotion: [n, 44] intensities; sentiment: [n] probability of positive."""
        if self.multilabel:
            return torch.sigmoid(logits.float())
        return torch.softmax(logits.float(), dim=-1)[:, 1]


class RatingHead(ClassifierHead):
    """Stars 1–10 as ten classes (see the module docstring)."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__(hidden, len(RATING_STARS), dropout, multilabel=False)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``target``: the stars (1–10, float or int)."""
        return F.cross_entropy(logits.float(), target.round().long() - RATING_STARS[0])

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """[n, 10]: the probability of each star."""
        return torch.softmax(logits.float(), dim=-1)


def rating_median(dist: np.ndarray) -> np.ndarray:
    """The median star of each row of a [n, 10] distribution (the least-absolute-error guess)."""
    cdf = np.cumsum(dist, axis=1)
    return (RATING_STARS[0] + (cdf < 0.5).sum(axis=1)).astype(np.float32)


def rating_mean(dist: np.ndarray) -> np.ndarray:
    """The expected star of each row of a [n, 10] distribution."""
    return (dist @ np.asarray(RATING_STARS, dtype=np.float64)).astype(np.float32)


class SimilarityHead(nn.Module):
    """Cosine of two pooled vectors; no parameters (the encoder/adapter learns the metric)."""

    scale = SIMILARITY_SCALE

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.cosine_similarity(a.float(), b.float(), dim=-1)

    def loss(self, cosine: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(cosine, label.float() / self.scale)

    def score(self, cosine: torch.Tensor) -> torch.Tensor:
        """Cosine mapped onto KLUE-STS's 0–5 scale."""
        return (cosine * self.scale).clamp(0.0, self.scale)


def build_head(task: str, hidden: int, *, n_labels: int = 0, dropout: float = 0.1) -> nn.Module:
    if task == "sentiment":
        return ClassifierHead(hidden, len(SENTIMENT_LABELS), dropout, multilabel=False)
    if task == "emotion":
        if n_labels < 1:
            raise ValueError("the emotion head needs the number of labels")
        return ClassifierHead(hidden, n_labels, dropout, multilabel=True)
    if task == "similarity":
        return SimilarityHead()
    if task == "rating":
        return RatingHead(hidden, dropout)
    raise ValueError(f"unknown task {task!r} (one of {', '.join(TASKS)})")


def build_heads(
    tasks: Sequence[str],
    hidden: int,
    labels: Mapping[str, Sequence[str]],
    *,
    dropout: float = 0.1,
) -> nn.ModuleDict:
    return nn.ModuleDict(
        {t: build_head(t, hidden, n_labels=len(labels.get(t, ())), dropout=dropout) for t in tasks}
    )


def head_specs(tasks: Sequence[str], labels: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """What config.json records about each head (enough to rebuild it)."""
    specs: dict[str, Any] = {}
    for t in tasks:
        if t == "sentiment":
            specs[t] = {"type": "softmax", "labels": list(SENTIMENT_LABELS)}
        elif t == "emotion":
            specs[t] = {"type": "sigmoid", "labels": list(labels[t])}
        elif t == "rating":
            specs[t] = {"type": "softmax-stars", "stars": list(RATING_STARS), "read": "median"}
        else:
            specs[t] = {
                "type": "cosine",
                "scale": SIMILARITY_SCALE,
                "binary_at": SIMILARITY_BINARY_AT,
            }
    return specs


def heads_state(heads: nn.ModuleDict) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in heads.state_dict().items()}
