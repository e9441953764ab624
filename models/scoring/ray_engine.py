"""The Ray engine of the score stage (``scoring.engine = "ray"``): the same scores as the local
engine, computed by Ray Data actors, for corpora that outgrow one machine.

The driver (this process) holds the writer lock and the catalog, as the local engine does:

1. it selects the pending reviews with the same query (score/pending.sql) and stages them as
   Parquet partitions under ``<warehouse>/staging/score-<run id>/``, one per
   ``scoring.ray.batch_rows`` reviews, shortest texts first (streamed: memory stays flat);
2. a Ray Dataset of the partition paths (one block each) goes through ``map_batches`` on a pool
   of ``ScoreActor``s, one per GPU (or per ``ray.cpus_per_actor`` CPU slots), each loading the
   models once and verifying that they are the versions the driver selected for. An actor
   reads its partition and runs ``score_rows``, the per-batch step the local engine runs too
   (models/scoring/batch.py), so the two engines cannot drift apart. (The actors read the
   Parquet themselves rather than behind ``ray.data.read_parquet``: its list/read tasks need
   CPU slots of their own, and with one actor per slot they never got one — the run hung.);
3. it streams the rows back (``iter_batches``) and commits them chunk by chunk with the
   local engine's own ``write_chunk`` (one transaction per chunk: a crash loses at most the
   chunk in flight and the rerun scores only what is still pending); clusters and aggregates
   follow in ``score_stage`` (models/scoring/engine.py) as for the local engine.

Ray is imported only here, and only when this engine runs. With ``ray.address`` unset a
private local Ray is started for the run and shut down after it.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from core.sqlfiles import read_sql
from core.stage import StageContext, StageResult
from models.config import REQUIRED_TASKS, ScoringConfig
from models.registry.bundle import scored_tasks
from models.registry.defaults import install_defaults
from models.registry.store import Registry, RegistryError
from models.scoring.batch import (
    RATING_SCHEMA,
    ChunkRows,
    Versions,
    load_models,
    score_rows,
    write_chunk,
)
from models.scoring.engine import score_stage

RAY_MISSING = "the ray engine needs Ray, which is not installed: pip install 'kreview[ray]'"
STAGING = "staging"
# Columns an actor adds to the scores rows so that one Arrow table carries both outputs.
EMBEDDING_EXTRA = ("similarity_version", "dim", "vector")
RATING_EXTRA = ("rating_version", "predicted_rating", "expected_rating")
NEED = ("need_scores", "need_embedding", "need_rating")
STAGED = ["review_key", "text_norm", *NEED]


class RayMissing(RuntimeError):
    pass


def require_ray() -> ModuleType:
    """The ``ray`` module, or RayMissing with the install hint."""
    try:
        import ray
        import ray.data  # the [data] extra (fails without its dependencies)
    except ImportError:
        raise RayMissing(RAY_MISSING) from None
    return ray


def current_refs(registry: Registry) -> dict[str, str]:
    """``{task: ref}`` of the current models, without loading any weights (the driver needs
    only the versions; the actors load the models)."""
    if not all(t in registry.current() for t in REQUIRED_TASKS):
        install_defaults(registry)
    current = registry.current()
    missing = [t for t in REQUIRED_TASKS if t not in current]
    if missing:
        raise RegistryError(
            f"no current model for {', '.join(missing)} in {registry.root}: "
            "train one (`kreview train …`) or promote one (`kreview models promote …`)"
        )
    return {t: str(current[t]["ref"]) for t in scored_tasks(registry)}


def versions_of_refs(refs: dict[str, str]) -> Versions:
    """A ref is ``<kind>/<version>``; the catalog keys scores by version."""
    v = {t: ref.split("/", 1)[1] for t, ref in refs.items()}
    return Versions(v["sentiment"], v["emotion"], v["similarity"], v.get("rating"))


def combine(rows: ChunkRows, need: pa.Table) -> pa.Table:
    """One table per batch (Ray Data maps a table to a table): the scores rows, the
    embedding's and the rating's own columns (null without a rating model), and the pending
    flags."""
    out = rows.scores
    for name in EMBEDDING_EXTRA:
        out = out.append_column(name, rows.embeddings.column(name))
    for name in RATING_EXTRA:
        field = RATING_SCHEMA.field(name)
        column = (
            rows.ratings.column(name)
            if rows.ratings.num_rows
            else pa.nulls(out.num_rows, field.type)
        )
        out = out.append_column(field, column)
    for name in NEED:
        out = out.append_column(name, need.column(name))
    return out


def split(rows: pa.Table) -> ChunkRows:
    """``combine``'s inverse, keeping only the rows each table still needs."""
    extra = (*EMBEDDING_EXTRA, *RATING_EXTRA, *NEED)
    score_cols = [c for c in rows.column_names if c not in extra]
    emb_cols = ["review_key", *EMBEDDING_EXTRA, "run_id"]
    ratings = rows.filter(rows.column("need_rating")).select(RATING_SCHEMA.names)
    return ChunkRows(
        rows.select(score_cols).filter(rows.column("need_scores")),
        rows.select(emb_cols).filter(rows.column("need_embedding")),
        ratings.cast(RATING_SCHEMA),
    )


class ScoreActor:
    """One per GPU or CPU slot: loads (and verifies) the models once, then scores batches."""

    def __init__(
        self, models_dir: str, scoring: dict[str, Any], refs: dict[str, str], run_id: str
    ) -> None:
        import torch

        self.cfg = ScoringConfig.model_validate(scoring)
        if self.cfg.device == "cpu":
            # Ray sets OMP_NUM_THREADS to the actor's CPUs; torch must not use more.
            torch.set_num_threads(self.cfg.ray.cpus_per_actor)
        self.models = load_models(Path(models_dir), self.cfg)
        loaded = {t: m.ref for t, m in self.models.by_task.items()}
        if loaded != refs:
            raise RegistryError(
                f"the current models changed during the run (driver {refs}, actor {loaded}); "
                "run `kreview score` again"
            )
        self.run_id = run_id

    def __call__(self, batch: pa.Table) -> pa.Table:
        """A batch of staged partition paths -> their rows, scored (``combine``'s layout)."""
        part = pa.concat_tables(pq.read_table(p) for p in batch.column("path").to_pylist())
        keys = part.column("review_key").to_pylist()
        texts = part.column("text_norm").to_pylist()
        return combine(score_rows(self.models, keys, texts, self.cfg, self.run_id), part)


def stage_pending(
    con: duckdb.DuckDBPyConnection, versions: Versions, folder: Path, part_rows: int
) -> list[Path]:
    """Write the pending reviews (key, text, flags) as Parquet parts of ``part_rows`` rows,
    shortest texts first; returns the parts' paths."""
    folder.mkdir(parents=True, exist_ok=True)
    reader_con = con.cursor()
    pending = reader_con.sql(read_sql("score/pending.sql"), params=versions.params())
    reader = pending.to_arrow_reader(part_rows)
    parts: list[Path] = []
    try:
        for batch in reader:
            if batch.num_rows == 0:
                continue
            path = folder / f"part-{len(parts):06d}.parquet"
            pq.write_table(pa.Table.from_batches([batch]).select(STAGED), path)
            parts.append(path)
    finally:
        reader.close()
        reader_con.close()
    return parts


class RaySession:
    """``ray.init`` for the run; shut down after only if this run started or joined it."""

    def __init__(self, ray: ModuleType, cfg: ScoringConfig) -> None:
        self.ray = ray
        self.cfg = cfg
        self.owned = False

    def __enter__(self) -> RaySession:
        if self.ray.is_initialized():  # called from inside a Ray job: use its connection
            return self
        rc = self.cfg.ray
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network calls from a batch
        common: dict[str, Any] = {
            "log_to_driver": False,
            "logging_level": logging.WARNING,
            "configure_logging": True,
        }
        if not rc.address:  # unset (or empty from the environment)
            self.ray.init(
                address="local",  # a private instance, never a cluster found on this host
                num_cpus=rc.local_cpus or None,
                object_store_memory=rc.object_store_mb * 2**20,
                include_dashboard=False,
                **common,
            )
        else:
            self.ray.init(address=rc.address, **common)
        self.owned = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.owned:
            self.ray.shutdown()


def plan_actors(cluster: dict[str, float], cfg: ScoringConfig) -> tuple[int, str]:
    """(number of actors, device): one actor per GPU, else one per ``cpus_per_actor`` slots."""
    gpus = int(cluster.get("GPU", 0))
    if cfg.device == "cuda" and not gpus:
        raise RuntimeError("scoring.device is cuda but the Ray cluster has no GPU")
    device = "cuda" if gpus and cfg.device != "cpu" else "cpu"
    room = gpus if device == "cuda" else int(cluster.get("CPU", 1)) // cfg.ray.cpus_per_actor
    if not cfg.ray.actors:
        return max(1, room), device
    # A pool larger than a private local Ray can hold would wait forever for its last actor
    # (a cluster's autoscaler may still add nodes, so there the number is taken as given).
    if not cfg.ray.address and cfg.ray.actors > room:
        raise RuntimeError(
            f"scoring.ray.actors = {cfg.ray.actors} but the local Ray has room for {room}"
            f" {device.upper()} actor(s)"
        )
    return cfg.ray.actors, device


def score_pending_ray(
    con: duckdb.DuckDBPyConnection,
    registry: Registry,
    refs: dict[str, str],
    cfg: ScoringConfig,
    staging: Path,
    run_id: str,
    advance: Callable[[int], None],
    details: dict[str, Any],
) -> int:
    """Stage the pending reviews, score them on Ray, write the rows back; returns rows scored."""
    ray = require_ray()
    versions = versions_of_refs(refs)
    parts = stage_pending(con, versions, staging, cfg.ray.batch_rows)
    if not parts:
        return 0
    started = time.perf_counter()
    with RaySession(ray, cfg):
        from ray.data import DataContext

        ray_cfg = DataContext.get_current()
        ray_cfg.enable_progress_bars = False  # the stage draws its own (rich) progress
        ray_cfg.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        n_actors, device = plan_actors(ray.cluster_resources(), cfg)
        details.update(
            {"device": device, "ray_actors": n_actors, "ray_address": cfg.ray.address or "local"}
        )
        actor_cfg = cfg.model_copy(update={"device": device}).model_dump(mode="json")
        gpu = device == "cuda"
        paths = [{"path": str(p.resolve())} for p in parts]
        # One block per partition: blocks are what the pool hands out, so every actor works.
        ds = ray.data.from_items(paths, override_num_blocks=len(paths)).map_batches(
            ScoreActor,
            fn_constructor_kwargs={
                "models_dir": str(registry.root.resolve()),
                "scoring": actor_cfg,
                "refs": refs,
                "run_id": run_id,
            },
            batch_format="pyarrow",
            batch_size=1,  # one partition per call
            compute=ray.data.ActorPoolStrategy(size=n_actors),
            num_cpus=cfg.ray.cpus_per_actor,
            num_gpus=1 if gpu else 0,
        )
        done = 0
        for rows in ds.iter_batches(batch_size=cfg.chunk_rows, batch_format="pyarrow"):
            if done == 0:
                details["ray_first_rows_seconds"] = round(time.perf_counter() - started, 3)
            write_chunk(con, split(rows))
            done += rows.num_rows
            advance(rows.num_rows)
    return done


def run(ctx: StageContext[ScoringConfig]) -> StageResult:
    cfg = ctx.cfg
    require_ray()  # fail before taking the writer lock
    registry = Registry(ctx.wh.models_dir)
    refs = current_refs(registry)
    staging_root = ctx.wh.root / STAGING
    staging = staging_root / f"score-{ctx.run_id}"
    details: dict[str, Any] = {
        "engine": "ray",
        "device": None,  # known once Ray runs (GPU actors or CPU actors)
        "encoder_passes": len(set(refs.values())),
    }

    def ray_engine(con: duckdb.DuckDBPyConnection, advance: Callable[[int], None]) -> int:
        # Called under the writer lock, so nothing else stages: leftovers are a crashed run's.
        for old in staging_root.glob("score-*"):
            shutil.rmtree(old, ignore_errors=True)
        try:
            return score_pending_ray(
                con, registry, refs, cfg, staging, ctx.run_id, advance, details
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    return score_stage(ctx, registry, versions_of_refs(refs), ray_engine, details)
