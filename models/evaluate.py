"""Metrics (scikit-learn / scipy) and plots (matplotlib) of the four tasks.

Each ``*_metrics`` function takes plain numpy arrays (predictions and gold labels) and
returns a JSON-ready dict whose ``primary`` key names the number promotion compares:

- sentiment: accuracy (also F1 of the positive class, precision, recall, confusion matrix);
- emotion: macro F1 at the threshold tuned on validation (also micro F1, per-label F1,
  macro AUROC over labels that have both classes in the set);
- similarity: Pearson (also Spearman, and F1 of "label >= 3" against "score >= threshold",
  the threshold tuned on validation, 3.0 by default);
- rating: minus the MAE of the predicted stars (also MAE, Spearman, accuracy within ±1 star).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("kreview.models.evaluate")
PRIMARY = {
    "sentiment": "accuracy",
    "emotion": "macro_f1",
    "similarity": "pearson",
    "rating": "neg_mae",
}
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)
SIMILARITY_GRID = np.round(np.arange(1.0, 4.51, 0.1), 2)


def sentiment_metrics(p_positive: np.ndarray, gold: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    pred = (p_positive >= 0.5).astype(np.int64)
    prec, rec, f1, _ = precision_recall_fscore_support(
        gold, pred, average="binary", zero_division=0
    )
    return {
        "primary": "accuracy",
        "accuracy": float(accuracy_score(gold, pred)),
        "f1": float(f1),
        "precision": float(prec),
        "recall": float(rec),
        "confusion_matrix": confusion_matrix(gold, pred, labels=[0, 1]).tolist(),
        "n": len(gold),
    }


def tune_emotion_threshold(probs: np.ndarray, gold: np.ndarray) -> float:
    """The single threshold (on a 0.025 grid) that maximizes macro F1 on validation data."""
    from sklearn.metrics import f1_score

    scores = [f1_score(gold, probs >= t, average="macro", zero_division=0) for t in THRESHOLD_GRID]
    return float(THRESHOLD_GRID[int(np.argmax(scores))])


def emotion_metrics(
    probs: np.ndarray, gold: np.ndarray, threshold: float, label_names: Sequence[str]
) -> dict[str, Any]:
    from sklearn.metrics import f1_score, roc_auc_score

    pred = probs >= threshold
    per_label = f1_score(gold, pred, average=None, zero_division=0)
    # AUROC is undefined for a label absent (or always present) in the set: skip those.
    both = [j for j in range(gold.shape[1]) if 0 < gold[:, j].sum() < len(gold)]
    auroc = float(roc_auc_score(gold[:, both], probs[:, both], average="macro")) if both else 0.0
    return {
        "primary": "macro_f1",
        "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(gold, pred, average="micro", zero_division=0)),
        "macro_auroc": auroc,
        "auroc_labels": len(both),
        "threshold": float(threshold),
        "per_label_f1": {name: float(v) for name, v in zip(label_names, per_label, strict=True)},
        "n": len(gold),
    }


def tune_similarity_threshold(score: np.ndarray, gold: np.ndarray, binary_at: float) -> float:
    """The score cut-off that maximizes F1 of 'same meaning' (gold >= binary_at) on validation."""
    from sklearn.metrics import f1_score

    truth = gold >= binary_at
    if truth.all() or not truth.any():
        return binary_at
    scores = [f1_score(truth, score >= t, zero_division=0) for t in SIMILARITY_GRID]
    return float(SIMILARITY_GRID[int(np.argmax(scores))])


def similarity_metrics(
    score: np.ndarray, gold: np.ndarray, threshold: float, binary_at: float = 3.0
) -> dict[str, Any]:
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import confusion_matrix, f1_score

    constant = np.ptp(score) == 0 or np.ptp(gold) == 0  # correlation undefined
    truth, pred = gold >= binary_at, score >= threshold
    return {
        "primary": "pearson",
        "pearson": 0.0 if constant else float(pearsonr(score, gold).statistic),
        "spearman": 0.0 if constant else float(spearmanr(score, gold).statistic),
        "f1": float(f1_score(truth, pred, zero_division=0)),
        "threshold": float(threshold),
        "binary_at": binary_at,
        "confusion_matrix": confusion_matrix(truth, pred, labels=[False, True]).tolist(),
        "n": len(gold),
    }


def rating_metrics(pred: np.ndarray, gold: np.ndarray) -> dict[str, Any]:
    """Predicted stars against the users' own (1–10). The primary is ``neg_mae`` (minus the
    mean absolute error) because promotion and early stopping keep the larger value."""
    from scipy.stats import spearmanr

    err = np.abs(np.asarray(pred, dtype=np.float64) - np.asarray(gold, dtype=np.float64))
    constant = np.ptp(pred) == 0 or np.ptp(gold) == 0
    mae = float(err.mean()) if len(err) else 0.0
    return {
        "primary": "neg_mae",
        "neg_mae": -mae,
        "mae": mae,
        "spearman": 0.0 if constant else float(spearmanr(pred, gold).statistic),
        # a prediction within one star of the user's (rounded to whole stars first)
        "within_1": float((np.abs(np.rint(pred) - gold) <= 1).mean()) if len(err) else 0.0,
        "n": len(gold),
    }


def headline(task: str, m: Mapping[str, Any]) -> str:
    """One line of a task's held-out metrics (the CLI's summary and the model card)."""
    if task == "sentiment":
        return f"accuracy {m['accuracy']:.4f}, F1 {m['f1']:.4f}"
    if task == "emotion":
        return (
            f"macro F1 {m['macro_f1']:.4f}, micro F1 {m['micro_f1']:.4f}, "
            f"macro AUROC {m['macro_auroc']:.4f} (threshold {m['threshold']:.3f})"
        )
    if task == "rating":
        return (
            f"MAE {m['mae']:.4f} stars, Spearman {m['spearman']:.4f}, "
            f"within ±1 star {m['within_1']:.4f}"
        )
    return (
        f"Pearson {m['pearson']:.4f}, Spearman {m['spearman']:.4f}, "
        f"F1 {m['f1']:.4f} (label >= 3 vs score >= {m['threshold']:.1f})"
    )


def primary_text(m: Mapping[str, Any]) -> str:
    """The primary metric as people read it: "accuracy 0.8818", "MAE 1.1150" (not -1.1150)."""
    if m["primary"] == "neg_mae":
        return f"MAE {m['mae']:.4f}"
    return f"{m['primary']} {float(m[m['primary']]):.4f}"


def primary_value(metrics: Mapping[str, Any]) -> float:
    return float(metrics[metrics["primary"]])


# ----------------------------------------------------------------- plots


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; never a display
    import matplotlib.pyplot as plt

    from core.fonts import HangulFontMissing, hangul_font

    # Emotion names are Korean: draw with a Hangul font (found as the report finds one: the
    # font cache misses fonts installed after it was written). Without one, training goes on
    # and the labels show as boxes (each bar keeps its index).
    try:
        plt.rcParams["font.family"] = [hangul_font(), "DejaVu Sans"]
    except HangulFontMissing as exc:
        log.warning("plots: %s; Korean labels will show as boxes", exc)
    plt.rcParams["axes.unicode_minus"] = False
    return plt


def plot_learning_curves(history: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Training loss per logged step and validation metric per evaluation."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    train = [(h["step"], h["loss"]) for h in history if h.get("kind") == "train"]
    evals = [(h["step"], h["metric"]) for h in history if h.get("kind") == "eval"]
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", color="tab:blue")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    if evals:
        ax2 = ax.twinx()
        ax2.plot(*zip(*evals, strict=True), "o-", color="tab:orange", label="validation")
        ax2.set_ylabel("validation metric")
        ax2.legend(loc="lower right")
    ax.legend(loc="upper right")
    ax.set_title("learning curves")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path) -> Path:
    plt = _pyplot()
    m = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(4, 3.6))
    ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, f"{v:,}", ha="center", va="center", color="black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title("confusion matrix (held-out)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_per_label_f1(per_label: Mapping[str, float], path: Path) -> Path:
    plt = _pyplot()
    # The index keeps each bar identifiable where no Hangul font is installed.
    named = [(f"{i:02d} {k}", v) for i, (k, v) in enumerate(per_label.items())]
    items = sorted(named, key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(6, max(3.0, 0.22 * len(items))))
    ax.barh([k for k, _ in items], [v for _, v in items], color="tab:green")
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1 (held-out)")
    ax.set_title("per-label F1")
    ax.tick_params(axis="y", labelsize=7)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")  # no Hangul font
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(
    folder: Path, history: Sequence[Mapping[str, Any]], test: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """The plots of one model into its folder; returns the file names written (no learning
    curves without a history: a refit that only changed the token limit trained nothing)."""
    written = (
        [plot_learning_curves(history, folder / "learning_curves.png").name] if history else []
    )
    for task, m in test.items():
        if task == "sentiment":
            written.append(
                plot_confusion(
                    m["confusion_matrix"], ["neg", "pos"], folder / "confusion_sentiment.png"
                ).name
            )
        elif task == "similarity":
            written.append(
                plot_confusion(
                    m["confusion_matrix"], ["diff", "same"], folder / "confusion_similarity.png"
                ).name
            )
        elif task == "emotion":
            written.append(plot_per_label_f1(m["per_label_f1"], folder / "per_label_f1.png").name)
    return written
