"""The score stage: sentiment, 44 emotion intensities and an embedding for every clean review
not yet scored by the current model versions; then similarity clusters for changed titles.

Fast by construction: one encoder pass per artifact shared by its heads (a joint model scores
all three tasks in one pass), pending reviews streamed shortest-first in chunks of
``scoring.chunk_rows`` (Arrow record batches; memory stays flat as the corpus grows), length-
sorted batches inside each chunk, ``inference_mode``, SDPA attention, bf16 autocast on CUDA,
and a batch size that halves when CUDA runs out of memory. Each chunk commits on its own, so a
crash loses at most the chunk in flight and the rerun carries on from there.

Two engines share every step but where the encoder runs: ``local`` (this process,
models/scoring/local_engine.py) and ``ray`` (models/scoring/ray_engine.py: Ray Data actors, one
per GPU or CPU slot). Both turn texts into rows with ``score_rows`` and commit them with
``write_chunk`` (models/scoring/batch.py); ``score_stage`` (models/scoring/engine.py) does the
rest. This module is the stage's entry point: it picks the engine.
"""

from __future__ import annotations

from core.stage import StageContext, StageResult
from models.config import ScoringConfig
from models.registry.bundle import LoadedModels
from models.scoring import local_engine


def run(ctx: StageContext[ScoringConfig], models: LoadedModels | None = None) -> StageResult:
    if ctx.cfg.engine == "ray":
        from models.scoring import ray_engine  # Ray loads only for this engine

        return ray_engine.run(ctx)
    return local_engine.run(ctx, models)
