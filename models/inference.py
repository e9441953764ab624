"""Batched inference shared by validation during training, held-out evaluation and the scorer.

Texts are tokenized once, sorted by length and padded per batch; results come back in input
order. On CUDA the forward runs under bf16 autocast (fp16 where bf16 is missing); on CPU in
float32.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.batching import pad, sorted_batches, tokenize
from models.data import Examples
from models.evaluate import (
    emotion_metrics,
    rating_metrics,
    sentiment_metrics,
    similarity_metrics,
    tune_emotion_threshold,
    tune_similarity_threshold,
)
from models.heads import SIMILARITY_BINARY_AT, ClassifierHead, SimilarityHead, rating_median


@dataclass(frozen=True)
class TextInput:
    """How a model wants its text: tokenizer, prefix and length limit."""

    tokenizer: Any
    prefix: str
    max_length: int

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)


def _autocast(device: torch.device) -> Any:
    if device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def encode_ids(
    encoder: nn.Module,
    ids: Sequence[Sequence[int]],
    pad_id: int,
    *,
    batch_size: int = 64,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Pooled vectors ``[n, hidden]`` (float32, CPU) for pre-tokenized rows, in input order."""
    device = device or next(encoder.parameters()).device
    lengths = np.array([len(r) for r in ids], dtype=np.int64)
    out: torch.Tensor | None = None
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.inference_mode(), _autocast(device):
            for rows in sorted_batches(lengths, batch_size):
                input_ids, mask = pad([ids[i] for i in rows], pad_id)
                pooled = encoder(input_ids.to(device), mask.to(device)).float().cpu()
                if out is None:
                    out = torch.empty((len(ids), pooled.shape[1]), dtype=torch.float32)
                out[torch.from_numpy(rows)] = pooled
    finally:
        encoder.train(was_training)
    if out is None:
        return torch.empty((0, 0), dtype=torch.float32)
    return out


def encode_texts(
    encoder: nn.Module, text: TextInput, texts: Sequence[str], *, batch_size: int = 64
) -> torch.Tensor:
    ids = tokenize(text.tokenizer, texts, prefix=text.prefix, max_length=text.max_length)
    return encode_ids(encoder, ids, text.pad_id, batch_size=batch_size)


def head_outputs(task: str, head: nn.Module, pooled: torch.Tensor) -> np.ndarray:
    """sentiment: P(positive) ``[n]``; emotion: intensities ``[n, L]``; rating: the probability
    of each star ``[n, 10]`` (models.heads.rating_median / rating_mean read it)."""
    assert isinstance(head, ClassifierHead), task
    was_training = head.training
    head.eval()  # no dropout at inference, also when called from inside training
    try:
        with torch.inference_mode():
            device = head.proj.weight.device
            return head.probabilities(head(pooled.to(device))).float().cpu().numpy()
    finally:
        head.train(was_training)


def similarity_scores(pooled_a: torch.Tensor, pooled_b: torch.Tensor) -> np.ndarray:
    """KLUE-STS-scale (0–5) similarity of row-aligned pooled vectors."""
    head = SimilarityHead()
    with torch.inference_mode():
        return head.score(head(pooled_a, pooled_b)).numpy()


def predict_examples(
    encoder: nn.Module,
    heads: Mapping[str, nn.Module],
    text: TextInput,
    ex: Examples,
    *,
    batch_size: int = 64,
) -> np.ndarray:
    """The task's raw predictions for every example (see head_outputs / similarity_scores)."""
    if ex.task == "similarity":
        assert ex.texts_b is not None
        both = encode_texts(encoder, text, [*ex.texts, *ex.texts_b], batch_size=batch_size)
        n = len(ex)
        return similarity_scores(both[:n], both[n:])
    pooled = encode_texts(encoder, text, ex.texts, batch_size=batch_size)
    return head_outputs(ex.task, heads[ex.task], pooled)


def tune_thresholds(preds: np.ndarray, ex: Examples) -> float | None:
    """The decision threshold of a task, tuned on validation predictions (None: fixed 0.5)."""
    if ex.task == "emotion":
        return tune_emotion_threshold(preds, ex.labels)
    if ex.task == "similarity":
        return tune_similarity_threshold(preds, ex.labels, SIMILARITY_BINARY_AT)
    return None


def metrics_for(preds: np.ndarray, ex: Examples, threshold: float | None) -> dict[str, Any]:
    if ex.task == "sentiment":
        return sentiment_metrics(preds, ex.labels)
    if ex.task == "rating":
        return rating_metrics(rating_median(preds), ex.labels)
    if ex.task == "emotion":
        t = 0.5 if threshold is None else threshold
        return emotion_metrics(preds, ex.labels, t, ex.label_names)
    t = SIMILARITY_BINARY_AT if threshold is None else threshold
    return similarity_metrics(preds, ex.labels, t, SIMILARITY_BINARY_AT)
