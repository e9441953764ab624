"""One `kreview train` run: data -> training (or search) -> held-out evaluation -> registry.

:func:`run_training` is what the CLI calls; it holds no CLI code, so tests call it directly.

- data: each task's specs are read and concatenated, optionally sampled (``limit``), and a
  validation split is carved off (early stopping, threshold tuning). The held-out set is
  ``eval_data`` or the file that sits beside the training file in ../shared/data's layout
  (NSMC test, KOTE test, KLUE-STS dev); without one the validation split stands in (and the
  card says so).
- the trained version is saved to the registry, then goes through the promotion gate
  (:meth:`models.registry.store.Registry.promote`), re-evaluating the current model on this run's
  held-out set when it was measured on another one.
- the registry is mirrored into the catalog under the writer lock, briefly; a busy warehouse
  leaves the mirror for `kreview models sync` (training itself never holds the lock, so an
  hour of training does not block the nightly pipeline).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.catalog import open_writer
from core.lock import WarehouseLocked, writer_lock
from core.warehouse import Warehouse
from models.adapters import AdapterConfig
from models.base.encoder import resolve_base
from models.data import (
    DataError,
    Examples,
    concat,
    default_eval_path,
    read_data,
    split_validation,
)
from models.inference import TextInput, metrics_for, predict_examples
from models.pool import split_spec
from models.registry.store import Decision, Registry, VersionInfo, mirror_to_catalog, resolve_ref
from models.training.artifact import EvalSet, write_artifact
from models.training.search import SearchSummary, search
from models.training.train import (
    Hyper,
    LoopSettings,
    TaskSplit,
    TrainHooks,
    TrainResult,
    discard_checkpoints,
    train,
)
from models.training.warm_start import WarmStartError, read_warm_start

log = logging.getLogger("kreview.models.workflow")
VALIDATION_AS_HELD_OUT = "validation split (no held-out file)"
SAMPLE_SEED = 1234


@dataclass(frozen=True)
class TrainRequest:
    kind: str  # sentiment | emotion | similarity | joint
    data: Mapping[str, Sequence[str]]  # task -> data specs (paths or "warehouse")
    base: str
    prefix: str
    max_length: int
    hyper: Hyper
    loop: LoopSettings
    adapter: AdapterConfig
    eval_data: Mapping[str, str] = field(default_factory=dict)  # task -> held-out file
    limit: int | None = None  # training rows per task (sampled)
    eval_limit: int | None = None  # held-out rows per task (sampled)
    val_fraction: float = 0.1
    max_val_rows: int = 2000
    trials: int = 0
    prune_warmup_evals: int = 1
    resume: bool = False
    promote: bool = True
    force: bool = False
    min_delta: float = 0.0
    eval_batch_size: int = 64
    # texts through etl.normalize, as the scorer's text_norm (see models.data)
    normalize: bool = True
    # a registered version (ref, "current" or "latest") whose adapter and heads start the run
    init_from: str | None = None

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(sorted(self.data))


@dataclass
class TrainOutcome:
    info: VersionInfo
    result: TrainResult
    held_out: dict[str, dict[str, Any]]
    eval_sets: dict[str, EvalSet]
    decision: Decision | None
    mirrored: bool
    mirror_note: str = ""
    search: SearchSummary | None = None


@dataclass(frozen=True)
class PreparedTask:
    split: TaskSplit
    held_out: Examples
    eval_set: EvalSet
    data_info: dict[str, Any]


def prepare_task(task: str, req: TrainRequest, wh: Warehouse, wait_s: float) -> PreparedTask:
    return prepare_data(
        task,
        list(req.data[task]),
        wh,
        eval_path=req.eval_data.get(task),
        normalize=req.normalize,
        limit=req.limit,
        eval_limit=req.eval_limit,
        val_fraction=req.val_fraction,
        max_val_rows=req.max_val_rows,
        seed=req.loop.seed,
        wait_s=wait_s,
    )


def prepare_data(
    task: str,
    specs: Sequence[str],
    wh: Warehouse,
    *,
    eval_path: str | None = None,
    normalize: bool = True,
    limit: int | None = None,
    eval_limit: int | None = None,
    val_fraction: float = 0.1,
    max_val_rows: int = 2000,
    seed: int = 0,
    wait_s: float = 5.0,
) -> PreparedTask:
    """A task's training rows (sampled to ``limit``), its validation split and its held-out
    set (``eval_path``, else the file beside the first spec, else the validation split)."""
    if not specs:
        raise DataError(f"no training data given for {task}")
    full = concat([read_data(task, s, wh, wait_s=wait_s, normalize=normalize) for s in specs])
    ex = full.sample(limit, SAMPLE_SEED)
    train_ex, val_ex = split_validation(ex, val_fraction, max_val_rows, seed)
    held_path = eval_path or default_eval_path(task, specs[0])
    if held_path:
        held_full = read_data(task, str(held_path), wh, wait_s=wait_s, normalize=normalize)
        held = held_full.sample(eval_limit, SAMPLE_SEED)
        source = str(Path(held_path).resolve()) if held_path != "warehouse" else "warehouse"
    else:
        log.warning("%s: no held-out file; the validation split stands in for it", task)
        held, source = val_ex, VALIDATION_AS_HELD_OUT
    eval_set = EvalSet(source, len(held), held.fingerprint(), eval_limit, SAMPLE_SEED, normalize)
    info = {
        "train": " + ".join(specs),
        "rows_read": len(full),
        "train_rows": len(train_ex),
        "val_rows": len(val_ex),
        "limit": limit,
        "held_out": source,
        "normalized": normalize,
    }
    if full.counts:
        info["counts"] = [list(kv) for kv in full.counts]
    return PreparedTask(TaskSplit(train_ex, val_ex), held, eval_set, info)


def read_eval_set(task: str, record: Mapping[str, Any], wh: Warehouse) -> Examples | None:
    """Re-read a recorded held-out set from disk, if it is still there and unchanged."""
    source = record.get("source", "")
    exists = source == "warehouse" or split_spec(source)[0].is_file()
    if source == VALIDATION_AS_HELD_OUT or not exists:
        return None
    try:
        ex = read_data(task, source, wh, normalize=bool(record.get("normalized", True)))
        ex = ex.sample(record.get("limit"), int(record.get("seed", 0)))
    except DataError:
        return None
    return ex if ex.fingerprint() == record["fingerprint"] else None


class ScoringModel(Protocol):
    """What measuring needs of a model in memory (a loaded version, a merge before it is one)."""

    @property
    def encoder(self) -> Any: ...
    @property
    def heads(self) -> Any: ...
    @property
    def text(self) -> TextInput: ...
    @property
    def thresholds(self) -> Mapping[str, float]: ...


def measure_recorded(
    model: ScoringModel,
    records: Mapping[str, Mapping[str, Any]],
    wh: Warehouse,
    *,
    batch_size: int = 64,
) -> tuple[dict[str, dict[str, Any]], dict[str, Examples]]:
    """Held-out metrics per task on recorded sets (``records``: task -> eval_set record),
    re-read from disk and checked against their fingerprints: how a version made from others
    (a merge, a refit at a new token limit) is measured where its sources were. Returns
    (metrics, the sets read); a set that is gone or changed is a DataError."""
    metrics: dict[str, dict[str, Any]] = {}
    sets: dict[str, Examples] = {}
    for task, record in records.items():
        ex = read_eval_set(task, record, wh)
        if ex is None:
            raise DataError(
                f"the {task} held-out set {record['source']} is gone or changed since the "
                "source versions were measured on it"
            )
        log.info("%s: evaluating on %s (%d rows)", task, record["source"], len(ex))
        preds = predict_examples(model.encoder, model.heads, model.text, ex, batch_size=batch_size)
        metrics[task] = metrics_for(preds, ex, model.thresholds.get(task))
        sets[task] = ex
    return metrics, sets


def make_reevaluator(
    registry: Registry, wh: Warehouse, known: Mapping[str, Examples], *, device: str, batch: int
) -> Any:
    """The promotion gate's callback: measure the current model on the candidate's set."""

    def reevaluate(cur: VersionInfo, task: str, record: Mapping[str, Any]) -> dict[str, Any] | None:
        from models.registry.bundle import load_version

        ex = known.get(record["fingerprint"]) or read_eval_set(task, record, wh)
        if ex is None:
            return None
        log.info("re-evaluating %s on %s (%d rows)", cur.ref, record["source"], len(ex))
        model = load_version(registry, cur.ref, device=device)
        preds = predict_examples(model.encoder, model.heads, model.text, ex, batch_size=batch)
        return metrics_for(preds, ex, model.thresholds.get(task))

    return reevaluate


def gate(
    registry: Registry,
    wh: Warehouse,
    ref: str,
    known: Mapping[str, Examples],
    *,
    force: bool,
    min_delta: float,
    device: str,
    batch: int,
) -> Decision:
    """The promotion gate for a new version (a refit, a merge): the current models are
    re-measured on its held-out sets where they were measured on others (``known``: the sets
    already read, by fingerprint)."""
    return registry.promote(
        ref,
        force=force,
        min_delta=min_delta,
        reevaluate=make_reevaluator(registry, wh, known, device=device, batch=batch),
    )


def settle(
    registry: Registry,
    wh: Warehouse,
    ref: str,
    known: Mapping[str, Examples],
    *,
    promote: bool,
    force: bool,
    min_delta: float,
    device: str,
    batch: int,
    command: str,
) -> tuple[Decision | None, bool, str]:
    """The end of a refit or a merge: the promotion gate (when ``promote``), then the catalog
    mirrored. Returns (decision, mirrored, note)."""
    decision = None
    if promote:
        decision = gate(
            registry, wh, ref, known, force=force, min_delta=min_delta, device=device, batch=batch
        )
    mirrored, note = sync_catalog(wh, registry, command)
    return decision, mirrored, note


def sync_catalog(wh: Warehouse, registry: Registry, command: str = "models") -> tuple[bool, str]:
    """Mirror the registry into the catalog under the writer lock; (done, note)."""
    try:
        with writer_lock(wh.lock_file, command), open_writer(wh) as con:
            n = mirror_to_catalog(con, registry)
    except WarehouseLocked as exc:
        return False, f"catalog not updated ({exc}); run `kreview models sync` later"
    return True, f"catalog: {n} model_versions rows"


def run_training(
    req: TrainRequest,
    wh: Warehouse,
    *,
    wait_s: float = 5.0,
    progress: Any | None = None,
    hooks: TrainHooks | None = None,
) -> TrainOutcome:
    registry = Registry(wh.models_dir)
    if req.init_from is not None and req.trials > 0:
        raise WarmStartError("--init-from starts one run; it does not combine with --trials")
    # The source first, then the data: a wrong ref or a missing file is found in a second,
    # before a base is resolved and hashed.
    warm = (
        read_warm_start(registry, resolve_ref(registry, req.init_from, req.tasks))
        if req.init_from is not None
        else None
    )
    prepared = {t: prepare_task(t, req, wh, wait_s) for t in req.tasks}
    base = resolve_base(req.base, wh.models_dir)
    splits = {t: p.split for t, p in prepared.items()}
    labels = {t: p.split.train.label_names for t, p in prepared.items() if t == "emotion"}
    common = {
        "prefix": req.prefix,
        "max_length": req.max_length,
        "work_root": registry.work_dir,
        "kind": req.kind,
        "progress": progress,
    }
    summary = None
    if req.trials > 0:
        result, summary = search(
            req.trials,
            base,
            splits,
            labels,
            req.adapter,
            req.hyper,
            req.loop,
            prune_warmup_evals=req.prune_warmup_evals,
            **common,
        )
    else:
        result = train(
            base,
            splits,
            labels,
            req.adapter,
            req.hyper,
            req.loop,
            resume=req.resume,
            init_from=warm,
            hooks=hooks,
            **common,
        )

    held_out: dict[str, dict[str, Any]] = {}
    for task, p in prepared.items():
        preds = predict_examples(
            result.network.encoder,
            result.network.heads,
            TextInput(result.tokenizer, req.prefix, req.max_length),
            p.held_out,
            batch_size=req.eval_batch_size,
        )
        held_out[task] = metrics_for(preds, p.held_out, result.thresholds.get(task))

    with registry.draft(req.kind) as draft:
        write_artifact(
            draft,
            result=result,
            base=base,
            labels=labels,
            prefix=req.prefix,
            max_length=req.max_length,
            held_out=held_out,
            eval_sets={t: p.eval_set for t, p in prepared.items()},
            data={t: p.data_info for t, p in prepared.items()},
            search=summary.to_json() if summary else None,
        )
    assert draft.info is not None
    discard_checkpoints(result)

    decision = None
    if req.promote:
        known = {p.eval_set.fingerprint: p.held_out for p in prepared.values()}
        decision = registry.promote(
            draft.info.ref,
            force=req.force,
            min_delta=req.min_delta,
            reevaluate=make_reevaluator(
                registry, wh, known, device=req.loop.device, batch=req.eval_batch_size
            ),
        )
    mirrored, note = sync_catalog(wh, registry, f"train {req.kind}")
    return TrainOutcome(
        info=draft.info,
        result=result,
        held_out=held_out,
        eval_sets={t: p.eval_set for t, p in prepared.items()},
        decision=decision,
        mirrored=mirrored,
        mirror_note=note,
        search=summary,
    )
