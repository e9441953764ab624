"""The local engine of the score stage (``scoring.engine = "local"``): the models run in this
process. Pending reviews stream shortest-first in chunks of ``scoring.chunk_rows``; each chunk
goes through the per-batch step (models/scoring/batch.py) and commits on its own.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from core.sqlfiles import read_sql
from core.stage import StageContext, StageResult
from models.config import ScoringConfig
from models.registry.bundle import LoadedModels
from models.registry.store import Registry
from models.scoring.batch import load_models, score_rows, versions_of, write_chunk
from models.scoring.engine import score_stage


def score_pending(
    con: duckdb.DuckDBPyConnection,
    models: LoadedModels,
    cfg: ScoringConfig,
    run_id: str,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Score every pending review, chunk by chunk. Returns the number of reviews scored."""
    reader_con = con.cursor()  # reads a snapshot while `con` commits chunk by chunk
    pending = reader_con.sql(read_sql("score/pending.sql"), params=versions_of(models).params())
    reader = pending.to_arrow_reader(cfg.chunk_rows)
    done = 0
    try:
        for batch in reader:
            if batch.num_rows == 0:
                continue
            keys = batch.column("review_key").to_pylist()
            texts = batch.column("text_norm").to_pylist()
            rows = score_rows(models, keys, texts, cfg, run_id)
            need = (batch.column(c) for c in ("need_scores", "need_embedding", "need_rating"))
            write_chunk(con, rows.needed(*need))
            done += batch.num_rows
            if on_chunk:
                on_chunk(batch.num_rows)
    finally:
        reader.close()
        reader_con.close()
    return done


def run(ctx: StageContext[ScoringConfig], models: LoadedModels | None = None) -> StageResult:
    cfg = ctx.cfg
    registry = Registry(ctx.wh.models_dir)
    models = models or load_models(registry, cfg)
    details = {
        "engine": "local",
        "device": str(models.passes[0].model.device),
        "encoder_passes": len(models.passes),
        "precision": models.precision,
    }

    def local(con: duckdb.DuckDBPyConnection, advance: Callable[[int], None]) -> int:
        return score_pending(con, models, cfg, ctx.run_id, advance)

    return score_stage(ctx, registry, versions_of(models), local, details)
