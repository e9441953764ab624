"""Metrics against hand-computed values; threshold tuning; plots are written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.evaluate import (
    emotion_metrics,
    primary_value,
    sentiment_metrics,
    similarity_metrics,
    tune_emotion_threshold,
    tune_similarity_threshold,
    write_plots,
)


def test_sentiment_metrics() -> None:
    m = sentiment_metrics(np.array([0.9, 0.2, 0.6, 0.4]), np.array([1, 0, 0, 1]))
    assert m["accuracy"] == 0.5 and m["f1"] == 0.5
    assert m["confusion_matrix"] == [[1, 1], [1, 1]]
    assert primary_value(m) == 0.5


def test_emotion_threshold_and_metrics() -> None:
    gold = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=np.float32)
    # every positive scores 0.3-0.4, every negative 0.15 or less: only thresholds in
    # (0.15, 0.3] get everything right
    probs = np.array([[0.35, 0.1, 0.05], [0.1, 0.3, 0.0], [0.4, 0.32, 0.1], [0.15, 0.05, 0.1]])
    t = tune_emotion_threshold(probs, gold)
    assert 0.15 < t <= 0.3
    m = emotion_metrics(probs, gold, t, ["a", "b", "c"])
    assert m["micro_f1"] == 1.0
    assert m["per_label_f1"] == {"a": 1.0, "b": 1.0, "c": 0.0}  # c never occurs
    assert m["macro_f1"] == pytest.approx(2 / 3)
    assert m["auroc_labels"] == 2 and m["macro_auroc"] == 1.0  # c has no positives: skipped


def test_similarity_metrics_and_threshold() -> None:
    gold = np.array([0.0, 1.0, 2.5, 3.0, 4.0, 5.0])
    score = np.array([0.5, 1.2, 2.0, 2.4, 3.9, 4.8])
    m = similarity_metrics(score, gold, 3.0)
    assert m["pearson"] > 0.95 and m["spearman"] == pytest.approx(1.0)
    assert m["f1"] == pytest.approx(0.8)  # 3.0 scored 2.4: one false negative
    t = tune_similarity_threshold(score, gold, 3.0)
    assert 2.0 < t <= 2.4
    assert similarity_metrics(score, gold, t)["f1"] == 1.0
    flat = similarity_metrics(np.ones(6), gold, 3.0)
    assert flat["pearson"] == 0.0  # undefined correlation reported as 0, not NaN


def test_plots_are_written(tmp_path: Path) -> None:
    history = [
        {"kind": "train", "step": 1, "loss": 0.7},
        {"kind": "train", "step": 2, "loss": 0.5},
        {"kind": "eval", "step": 2, "metric": 0.8},
    ]
    test = {
        "sentiment": {"confusion_matrix": [[3, 1], [0, 4]]},
        "emotion": {"per_label_f1": {"기쁨": 0.5, "슬픔": 0.7}},
        "similarity": {"confusion_matrix": [[2, 0], [1, 2]]},
    }
    names = write_plots(tmp_path, history, test)
    assert set(names) == {
        "learning_curves.png",
        "confusion_sentiment.png",
        "per_label_f1.png",
        "confusion_similarity.png",
    }
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
