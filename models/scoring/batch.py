"""The per-batch step both engines of the score stage run, so that they cannot drift apart:
texts -> scores (one encoder pass per artifact, :func:`score_texts`) -> rows for ``scores``,
``embeddings`` and ``rating_scores`` (:func:`score_tables`; all at once: :func:`score_rows`)
-> one committed chunk (:func:`write_chunk`). The local engine (models/scoring/local_engine.py)
runs it in this process, the Ray engine (models/scoring/ray_engine.py) scores in its actors and
commits in the driver. Also the models it needs, loaded once per process (:func:`load_models`),
and the model versions the rows are keyed by (:class:`Versions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import torch

from core.catalog import transaction
from core.errors import raise_if_interrupted
from models.config import REQUIRED_TASKS, ScoringConfig
from models.heads import rating_mean, rating_median
from models.precision import cpu_autocast, scoring_precision
from models.registry.bundle import LoadedModels, load_current, scored_tasks
from models.registry.defaults import install_defaults
from models.registry.store import Registry
from models.scoring.emotion_math import emotion_point, top_emotions


@dataclass(frozen=True)
class Versions:
    sentiment: str
    emotion: str
    similarity: str
    rating: str | None = None  # None: no rating model is current (predicted_rating stays NULL)

    def params(self) -> dict[str, str | None]:
        return {
            "sentiment_version": self.sentiment,
            "emotion_version": self.emotion,
            "similarity_version": self.similarity,
            "rating_version": self.rating,
        }


@dataclass(frozen=True)
class Scored:
    """Scores of a list of texts, in input order."""

    p_positive: np.ndarray  # [n]
    emotions: np.ndarray  # [n, 44]
    embedding: np.ndarray  # [n, d] L2-normalized float32
    rating: np.ndarray | None = None  # [n, 10] probability of each star; None: no rating model


@dataclass(frozen=True)
class ChunkRows:
    """The rows one chunk adds: ``scores``, ``embeddings`` and ``rating_scores``."""

    scores: pa.Table
    embeddings: pa.Table
    ratings: pa.Table

    def needed(self, scores: Any, embeddings: Any, ratings: Any) -> ChunkRows:
        """Only the rows each table still lacks (boolean masks, as pending.sql flags them)."""
        return ChunkRows(
            self.scores.filter(scores),
            self.embeddings.filter(embeddings),
            self.ratings.filter(ratings) if self.ratings.num_rows else self.ratings,
        )


def quantize_int8(models: LoadedModels) -> None:
    """int8 dynamic quantization of every encoder's nn.Linear (CPU only): ~2x faster matmuls.
    Weights are scaled per output channel: on 1,500 NSMC test texts that kept sentiment
    agreement with fp32 at 0.927 (per-tensor scales: 0.905) and embedding cosine at 0.959
    (0.932) at the same speed. The cost is measured by bench/score.py against fp32."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    for p in models.passes:
        if p.model.device.type == "cpu":
            p.model.encoder = quantize_dynamic(
                p.model.encoder, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
            )


def load_models(models_dir: Any, cfg: ScoringConfig) -> LoadedModels:
    """The current models; on a fresh registry the shipped defaults become current first."""
    registry = models_dir if isinstance(models_dir, Registry) else Registry(models_dir)
    if not all(t in registry.current() for t in REQUIRED_TASKS):
        install_defaults(registry)
    models = load_current(registry, device=cfg.device, tasks=scored_tasks(registry))
    # A Ctrl-C / SIGTERM during the load whose KeyboardInterrupt a library swallowed (native
    # loaders may) still stops the command here, before any scoring.
    raise_if_interrupted()
    models.precision = scoring_precision(cfg.precision, models.passes[0].model.device)
    if models.precision == "int8":
        quantize_int8(models)
    return models


def versions_of(models: LoadedModels) -> Versions:
    v = models.versions
    return Versions(v["sentiment"], v["emotion"], v["similarity"], v.get("rating"))


def _encode_adaptive(model: Any, ids: list[list[int]], batch_size: int) -> torch.Tensor:
    """Encode with ``batch_size``, halving it when CUDA runs out of memory (accelerate's
    ``find_executable_batch_size``). On CPU the size is used as given."""
    if model.device.type != "cuda":
        return model.encode_ids(ids, batch_size=batch_size)
    from accelerate.utils import find_executable_batch_size

    @find_executable_batch_size(starting_batch_size=batch_size)
    def attempt(bs: int) -> torch.Tensor:
        return model.encode_ids(ids, batch_size=bs)

    return attempt()


def score_texts(models: LoadedModels, texts: Sequence[str], batch_size: int = 64) -> Scored:
    """Every score from one encoder pass per artifact."""
    out: dict[str, np.ndarray] = {}
    for p in models.passes:
        with cpu_autocast(models.precision, p.model.device):
            pooled = _encode_adaptive(p.model, p.model.tokenize(list(texts)), batch_size)
        for task in p.tasks:
            if task == "sentiment":
                out["sentiment"] = p.model.sentiment(pooled)
            elif task == "emotion":
                out["emotion"] = p.model.emotion(pooled)
            elif task == "rating":
                out["rating"] = p.model.rating(pooled)
            else:
                out["embedding"] = p.model.embed(pooled)
    return Scored(out["sentiment"], out["emotion"], out["embedding"], out.get("rating"))


def float16_blobs(emb: np.ndarray) -> pa.Array:
    """Rows of ``emb`` as little-endian float16 bytes, without a Python loop per row."""
    n, d = emb.shape
    buf = pa.py_buffer(np.ascontiguousarray(emb, dtype="<f2").tobytes())
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(2 * d), n, [None, buf])
    return fixed.cast(pa.binary())


def score_tables(
    keys: Sequence[str],
    scored: Scored,
    versions: Versions,
    labels: Sequence[str],
    run_id: str,
    top_k: int,
) -> ChunkRows:
    """Rows for ``scores``, ``embeddings`` and ``rating_scores`` (pure)."""
    n = len(keys)
    now = datetime.now(UTC)
    p = scored.p_positive.astype(np.float32)
    emotions = scored.emotions.astype(np.float32)
    scores = pa.table(
        {
            "review_key": pa.array(keys, pa.string()),
            "sentiment_version": pa.array([versions.sentiment] * n, pa.string()),
            "emotion_version": pa.array([versions.emotion] * n, pa.string()),
            "sentiment": pa.array((p >= 0.5).astype(np.int8)),
            "p_positive": pa.array(p),
            "emotions": pa.FixedSizeListArray.from_arrays(pa.array(emotions.ravel()), 44),
            "top_emotions": pa.array(top_emotions(emotions, labels, top_k), pa.list_(pa.string())),
            "emotion_point": pa.array(emotion_point(emotions)),
            "scored_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
            "run_id": pa.array([run_id] * n, pa.string()),
        }
    )
    emb = scored.embedding
    embeddings = pa.table(
        {
            "review_key": pa.array(keys, pa.string()),
            "similarity_version": pa.array([versions.similarity] * n, pa.string()),
            "dim": pa.array(np.full(n, emb.shape[1], dtype=np.int16)),
            "vector": float16_blobs(emb),
            "run_id": pa.array([run_id] * n, pa.string()),
        }
    )
    return ChunkRows(scores, embeddings, rating_table(keys, scored.rating, versions, now, run_id))


RATING_SCHEMA = pa.schema(
    [
        ("review_key", pa.string()),
        ("rating_version", pa.string()),
        ("predicted_rating", pa.float32()),
        ("expected_rating", pa.float32()),
        ("scored_at", pa.timestamp("us", tz="UTC")),
        ("run_id", pa.string()),
    ]
)


def rating_table(
    keys: Sequence[str], dist: np.ndarray | None, versions: Versions, now: datetime, run_id: str
) -> pa.Table:
    """Rows for ``rating_scores``: none when no rating model is current."""
    if dist is None or versions.rating is None:
        return RATING_SCHEMA.empty_table()
    n = len(keys)
    return pa.table(
        {
            "review_key": pa.array(keys, pa.string()),
            "rating_version": pa.array([versions.rating] * n, pa.string()),
            "predicted_rating": pa.array(rating_median(dist)),
            "expected_rating": pa.array(rating_mean(dist)),
            "scored_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
            "run_id": pa.array([run_id] * n, pa.string()),
        },
        schema=RATING_SCHEMA,
    )


def score_rows(
    models: LoadedModels, keys: Sequence[str], texts: Sequence[str], cfg: ScoringConfig, run_id: str
) -> ChunkRows:
    """(review keys, texts) -> rows for ``scores``, ``embeddings`` and ``rating_scores``: the
    one scoring step of both engines (the local loop and each Ray actor), so they cannot
    drift apart."""
    versions = versions_of(models)
    labels = models.by_task["emotion"].labels["emotion"]
    scored = score_texts(models, texts, cfg.batch_size)
    return score_tables(keys, scored, versions, labels, run_id, cfg.top_emotions)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    if rows.num_rows:
        con.register("chunk_rows", rows)
        # `table` is one of our table names, never input.
        con.execute(f"INSERT INTO {table} BY NAME (SELECT * FROM chunk_rows)")
        con.unregister("chunk_rows")


def write_chunk(con: duckdb.DuckDBPyConnection, rows: ChunkRows) -> None:
    """One chunk, one transaction: either all its rows land or none."""
    with transaction(con):
        _insert(con, "scores", rows.scores)
        _insert(con, "embeddings", rows.embeddings)
        _insert(con, "rating_scores", rows.ratings)
