"""Scoring arbitrary texts (`kreview predict`) and sentence pairs (`kreview similarity`).

Texts go through the same normalization as the pipeline (models read ``text_norm``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import polars as pl

from etl.normalize import normalize_expr
from models.heads import SIMILARITY_BINARY_AT, rating_mean, rating_median
from models.registry.bundle import LoadedModels
from models.scoring.batch import score_texts
from models.scoring.emotion_math import emotion_point, top_emotions


def normalize_many(texts: Sequence[str]) -> list[str]:
    """The pipeline's normalization over a whole column (one call, not one per text)."""
    frame = pl.DataFrame({"t": list(texts)}, schema={"t": pl.Utf8})
    return frame.select(normalize_expr("t"))["t"].to_list()


def predict_records(
    models: LoadedModels,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    top_k: int = 3,
    with_embedding: bool = False,
) -> Iterator[dict[str, Any]]:
    """One JSON-ready record per text, in input order."""
    norm = normalize_many(texts)
    scored = score_texts(models, norm, batch_size)
    labels = models.by_task["emotion"].labels["emotion"]
    points = emotion_point(scored.emotions)
    tops = top_emotions(scored.emotions, labels, top_k)
    versions = models.versions
    if scored.rating is not None:
        predicted, expected = rating_median(scored.rating), rating_mean(scored.rating)
    for i, text in enumerate(texts):
        p = float(scored.p_positive[i])
        rec: dict[str, Any] = {
            "text": text,
            "text_norm": norm[i],
            "sentiment": "positive" if p >= 0.5 else "negative",
            "p_positive": round(p, 6),
            "top_emotions": tops[i],
            "emotion_point": round(float(points[i]), 6),
            "emotions": {
                lab: round(float(v), 6) for lab, v in zip(labels, scored.emotions[i], strict=True)
            },
            "model_versions": versions,
        }
        if scored.rating is not None:  # stars read from the text (a current rating model)
            rec["predicted_rating"] = float(predicted[i])
            rec["expected_rating"] = round(float(expected[i]), 4)
        if with_embedding:
            rec["embedding"] = [round(float(v), 6) for v in scored.embedding[i]]
        yield rec


def similarity_records(
    models: LoadedModels, pairs: Sequence[tuple[str, str]], *, batch_size: int = 64
) -> Iterator[dict[str, Any]]:
    """KLUE-STS-style score (0–5) and a same/different verdict per pair."""
    model = models.by_task["similarity"]
    a = model.encode(normalize_many([x for x, _ in pairs]), batch_size=batch_size)
    b = model.encode(normalize_many([y for _, y in pairs]), batch_size=batch_size)
    scores = np.asarray(model.similarity(a, b))
    cut = float(model.thresholds.get("similarity", SIMILARITY_BINARY_AT))
    for (x, y), s in zip(pairs, scores, strict=True):
        yield {
            "sentence1": x,
            "sentence2": y,
            "score": round(float(s), 4),
            "same": bool(s >= cut),
            "threshold": round(cut, 4),
            "model_version": model.version,
        }
