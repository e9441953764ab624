"""How far two scorings of the same texts are apart (pure numpy; the gpu tests' yardstick)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.scoring.batch import Scored


@dataclass(frozen=True)
class Agreement:
    n: int
    labels: float  # share of texts with the same sentiment label (p_positive >= 0.5)
    max_p: float  # max |d p_positive| over texts
    max_emotion: float  # max |d intensity| over texts and the 44 emotions
    mean_emotion: float  # mean |d intensity| over the same
    min_cosine: float  # embedding cosine, worst text
    mean_cosine: float

    def line(self) -> str:
        return (
            f"labels agree {self.labels:.4f}, max |d p_positive| {self.max_p:.4f}, emotion"
            f" |d| max {self.max_emotion:.4f} mean {self.mean_emotion:.5f}, embedding cosine"
            f" min {self.min_cosine:.5f} mean {self.mean_cosine:.5f} ({self.n:,} texts)"
        )


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two ``[n, d]`` arrays."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def agreement(ref: Scored, got: Scored) -> Agreement:
    """``got`` against ``ref``, row by row (both in the same text order)."""
    assert ref.p_positive.shape == got.p_positive.shape
    assert ref.emotions.shape == got.emotions.shape
    assert ref.embedding.shape == got.embedding.shape
    d_emo = np.abs(ref.emotions.astype(np.float64) - got.emotions.astype(np.float64))
    cos = cosines(ref.embedding, got.embedding)
    return Agreement(
        n=len(ref.p_positive),
        labels=float(((ref.p_positive >= 0.5) == (got.p_positive >= 0.5)).mean()),
        max_p=float(np.abs(ref.p_positive.astype(np.float64) - got.p_positive).max()),
        max_emotion=float(d_emo.max()),
        mean_emotion=float(d_emo.mean()),
        min_cosine=float(cos.min()),
        mean_cosine=float(cos.mean()),
    )
