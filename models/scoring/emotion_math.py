"""Per-review emotion summaries from the 44 KOTE intensities (vectorized over a batch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

POINT_MIN = 0.4  # intensities at or above this count as clearly present


def emotion_point(probs: np.ndarray) -> np.ndarray:
    """Mean of the top-2 intensities that are >= 0.4; where neither is, the mean of the top-2.

    (The earlier team's rule; used by the title score.) ``probs``: (n, 44) -> (n,)
    """
    top2 = -np.sort(-probs, axis=1)[:, :2]
    strong = top2 >= POINT_MIN
    n_strong = strong.sum(axis=1)
    strong_mean = np.where(n_strong > 0, (top2 * strong).sum(axis=1) / np.maximum(n_strong, 1), 0)
    return np.where(n_strong > 0, strong_mean, top2.mean(axis=1)).astype(np.float32)


def top_emotions(
    probs: np.ndarray, labels: Sequence[str], k: int = 3, min_prob: float = 0.0
) -> list[list[str]]:
    """Labels of the ``k`` strongest emotions per row, strongest first (>= ``min_prob``)."""
    idx = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [[labels[j] for j in row if probs[i, j] >= min_prob] for i, row in enumerate(idx)]
