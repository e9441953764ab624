"""`kreview train sentiment|emotion|similarity|joint --data PATH ...`."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from core.warehouse import Warehouse
from jobs.app import app, console, state
from jobs.commands.score import check_device
from jobs.exits import fail
from models.base.store import BaseMismatch, BaseUnavailable, UnsafeWeights
from models.config import JOINT, KINDS, REQUIRED_TASKS, TASKS, Keep, parse_repeats
from models.data import DataError
from models.evaluate import headline, primary_text

if TYPE_CHECKING:
    from models.training.workflow import TrainOutcome

# torch and the training stack are imported inside train_command: every other kreview command
# (status, query, ...) loads this module and would pay ~1 s for them.

# The model kinds as the choices of the KIND argument.
Kind = StrEnum("Kind", [(k, k) for k in KINDS])


def parse_data(kind: str, specs: list[str]) -> dict[str, list[str]]:
    """``--data PATH`` for one task; ``--data task=PATH`` (each task at least once) for joint."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        task, sep, path = spec.partition("=")
        if sep and task in TASKS:
            if kind != JOINT and task != kind:
                raise fail(f"--data {spec}: this run trains {kind}, not {task}")
        elif kind == JOINT:
            raise fail(f"--data {spec}: joint training needs task=PATH (task: {', '.join(TASKS)})")
        else:
            task, path = kind, spec
        out.setdefault(task, []).append(path)
    if kind == JOINT:
        missing = [t for t in REQUIRED_TASKS if t not in out]
        if missing:
            raise fail(f"joint training needs --data for {', '.join(missing)} as well")
    return out


def _progress(quiet: bool) -> Progress | None:
    if quiet:
        return None
    return Progress(
        TextColumn("[bold]{task.description:>5}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[rate]}"),
        console=console,
        transient=False,
    )


def print_summary(out: TrainOutcome) -> None:
    r = out.result
    table = Table(title=f"trained {out.info.ref}", title_justify="left")
    table.add_column("task")
    table.add_column("held-out set")
    table.add_column("rows", justify="right")
    table.add_column("held-out result")
    table.add_column("validation", justify="right")
    for task, m in out.held_out.items():
        es = out.eval_sets[task]
        val = r.val_metrics[task]
        table.add_row(
            task,
            es.source.rsplit("/", 1)[-1],
            f"{es.rows:,}",
            headline(task, m),
            primary_text(val),
        )
    console.print(table)
    facts = Table(show_header=False, box=None)
    facts.add_row("adapter", out.info.config["adapter"]["type"])
    if r.init_from is not None:
        facts.add_row("started from", r.init_from)
    facts.add_row(
        "steps",
        f"{r.steps:,} ({r.epochs_run} epochs; best step {r.best_step:,}"
        + (", stopped early" if r.stopped_early else "")
        + (f", resumed at {r.resumed_from:,}" if r.resumed_from is not None else "")
        + ")",
    )
    facts.add_row("training time", f"{r.train_seconds:,.1f} s · {r.examples_per_s:,.1f} examples/s")
    facts.add_row(
        "device", f"{r.devices.get('device')} (mixed precision {r.devices.get('mixed_precision')})"
    )
    if out.search is not None:
        s = out.search
        facts.add_row(
            "search",
            f"{s.trials} trials ({s.pruned} pruned), best #{s.best_trial}: {s.best_params}",
        )
    if out.decision is None:
        facts.add_row("promotion", "skipped (--no-promote)")
    else:
        verdict = "current" if out.decision.promoted else "[yellow]not promoted[/]"
        facts.add_row("promotion", f"{verdict}: {out.decision.reason}")
    facts.add_row("folder", str(out.info.path))
    facts.add_row("logs", str(r.work_dir / "tb"))
    facts.add_row("catalog", out.mirror_note)
    console.print(facts)


@app.command("train")
def train_command(
    ctx: typer.Context,
    kind: Annotated[Kind, typer.Argument(help="Task to train; joint = one shared adapter.")],
    data: Annotated[
        list[str],
        typer.Option(
            "--data",
            help="Training data: a file (NSMC / KOTE / KLUE-STS format) or 'warehouse' "
            "(rated reviews as weak sentiment labels). Repeat to mix. joint: task=PATH.",
        ),
    ],
    eval_data: Annotated[
        list[str] | None,
        typer.Option(
            "--eval-data",
            help="Held-out file (default: the test/dev file beside the training file). "
            "joint: task=PATH.",
        ),
    ] = None,
    base: Annotated[str | None, typer.Option(help="Hub id or local folder.")] = None,
    prefix: Annotated[str | None, typer.Option(help="Text prefix ('' for non-e5 bases).")] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens per text.")] = None,
    trials: Annotated[int, typer.Option(help="Optuna trials (0 = no search).", min=0)] = 0,
    epochs: Annotated[int | None, typer.Option()] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after N steps (0 = epochs).")] = None,
    batch_size: Annotated[int | None, typer.Option()] = None,
    grad_accum: Annotated[int | None, typer.Option(help="Batches per optimizer step.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    head_lr: Annotated[
        float | None, typer.Option(help="Learning rate of the task heads (0 = --lr).")
    ] = None,
    repeat: Annotated[
        list[str] | None,
        typer.Option(
            "--repeat",
            help="joint: passes over a task's data per epoch, task=N (e.g. emotion=8).",
        ),
    ] = None,
    weight_decay: Annotated[float | None, typer.Option()] = None,
    warmup: Annotated[float | None, typer.Option(help="Warmup fraction of steps.")] = None,
    full_finetune: Annotated[
        bool, typer.Option("--full-finetune", help="Train the encoder itself, not LoRA.")
    ] = False,
    lora_r: Annotated[int | None, typer.Option(help="LoRA rank.")] = None,
    lora_alpha: Annotated[
        float | None, typer.Option(help="LoRA scale numerator (update x alpha/r).")
    ] = None,
    lora_first_layer: Annotated[
        int | None,
        typer.Option(help="LoRA only in encoder layers >= N (0 = all); lower layers stay frozen."),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(help="Mixed precision: auto | no | bf16 | fp16 (fp16: CUDA only)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue this exact run from its checkpoint.")
    ] = False,
    init_from: Annotated[
        str | None,
        typer.Option(
            "--init-from",
            help="Start the adapter and heads from a registered version (KIND/VERSION, "
            "current, latest or latest-refit) instead of random: another epoch on a trained "
            "model, with a new LR schedule. Adapter settings must match the source's.",
        ),
    ] = None,
    order_offset: Annotated[
        int,
        typer.Option(
            "--order-offset",
            min=0,
            help="Shuffle epoch e as epoch e+N: a stage after --init-from sees new batch "
            "orders, while the seed keeps the validation split.",
        ),
    ] = 0,
    keep: Annotated[
        Keep,
        typer.Option(
            "--keep",
            help="The weights the run hands back: the best validation score's (best) or the "
            "last step's (last). Chosen after the loop: a finished run resumed with --resume "
            "can take the other one.",
        ),
    ] = Keep.best,
    limit: Annotated[int | None, typer.Option(help="Training rows per task (sample).")] = None,
    eval_limit: Annotated[int | None, typer.Option(help="Held-out rows (sample).")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda")] = None,
    eval_every: Annotated[int | None, typer.Option(help="Validate every N steps.")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help="Checkpoint every N steps.")] = None,
    patience: Annotated[int | None, typer.Option(help="Early-stopping patience.")] = None,
    promote: Annotated[
        bool, typer.Option("--promote/--no-promote", help="Run the promotion gate.")
    ] = True,
    force: Annotated[bool, typer.Option("--force", help="Promote even if not better.")] = False,
    raw_text: Annotated[
        bool,
        typer.Option("--raw-text", help="Train on texts as in the files, not etl.normalize'd."),
    ] = False,
) -> None:
    """Train a task model (LoRA or full fine-tuning), evaluate it, register it, maybe promote it."""
    from models.adapters import AdapterConfig, AdapterError
    from models.training.train import Hyper, LoopSettings
    from models.training.warm_start import WarmStartError
    from models.training.workflow import TrainRequest, run_training

    st = state(ctx)
    t = "models.train."
    cfg = st.config(
        **{
            "models.base": base,
            "models.prefix": prefix,
            "models.max_length": max_length,
            t + "epochs": epochs,
            t + "max_steps": max_steps,
            t + "batch_size": batch_size,
            t + "grad_accum": grad_accum,
            t + ("full_finetune_lr" if full_finetune else "lr"): lr,
            t + "head_lr": head_lr,
            t + "task_repeats": tuple(repeat) if repeat else None,
            t + "weight_decay": weight_decay,
            t + "warmup_ratio": warmup,
            t + "lora_r": lora_r,
            t + "lora_alpha": lora_alpha,
            t + "lora_first_layer": lora_first_layer,
            t + "mixed_precision": precision,
            t + "seed": seed,
            t + "device": device,
            t + "eval_every": eval_every,
            t + "checkpoint_every": checkpoint_every,
            t + "patience": patience,
        }
    )
    mc, tc = cfg.models, cfg.models.train
    check_device(tc.device)  # before minutes of reading data
    if tc.mixed_precision == "fp16":
        from models.base.encoder import pick_device

        # known now, not after minutes of reading data: the device decides what fp16 means
        try:
            on_cuda = pick_device(tc.device).type == "cuda"
        except RuntimeError as exc:  # device "cuda" without one
            raise fail(str(exc)) from None
        if not on_cuda:
            raise fail("mixed precision fp16 needs CUDA; on a CPU use --precision bf16 or no")
    specs = parse_data(kind.value, data)
    evals = parse_data(kind.value, eval_data or []) if eval_data else {}
    unknown = sorted({t for t, _ in parse_repeats(tc.task_repeats)} - set(specs))
    if unknown:
        raise fail(f"--repeat names tasks without training data: {', '.join(unknown)}")
    if kind.value != JOINT and len(evals.get(kind.value, [])) > 1:
        raise fail("give one --eval-data file")
    adapter = (
        # The pooler is never used (mean pooling): frozen, so it is not saved as "trained".
        AdapterConfig(
            "full", frozen=("embeddings.", "pooler.") if tc.freeze_embeddings else ("pooler.",)
        )
        if full_finetune
        else AdapterConfig(
            "lora",
            tc.lora_r,
            tc.lora_alpha,
            tc.lora_dropout,
            tc.lora_targets,
            first_layer=tc.lora_first_layer,
        )
    )
    req = TrainRequest(
        kind=kind.value,
        data=specs,
        eval_data={k: v[0] for k, v in evals.items()},
        base=mc.base,
        prefix=mc.prefix,
        max_length=mc.max_length,
        hyper=Hyper(
            lr=tc.full_finetune_lr if full_finetune else tc.lr,
            batch_size=tc.batch_size,
            weight_decay=tc.weight_decay,
            warmup_ratio=tc.warmup_ratio,
            epochs=tc.epochs,
            max_steps=tc.max_steps,
            grad_accum=tc.grad_accum,
            head_lr=tc.head_lr,
            task_repeats=parse_repeats(tc.task_repeats),
        ),
        loop=LoopSettings(
            seed=tc.seed,
            eval_every=tc.eval_every,
            patience=tc.patience,
            checkpoint_every=tc.checkpoint_every,
            bucket_pool=tc.bucket_pool,
            max_grad_norm=tc.max_grad_norm,
            device=tc.device,
            mixed_precision=tc.mixed_precision,
            head_dropout=tc.head_dropout,
            order_offset=order_offset,
            keep=keep,
        ),
        adapter=adapter,
        limit=limit,
        eval_limit=eval_limit,
        val_fraction=tc.val_fraction,
        max_val_rows=tc.max_val_rows,
        trials=trials,
        prune_warmup_evals=tc.prune_warmup_evals,
        resume=resume,
        promote=promote,
        force=force,
        min_delta=mc.promote_min_delta,
        normalize=not raw_text,
        init_from=init_from,
    )
    wh = Warehouse(cfg.warehouse.root)
    progress = _progress(st.quiet)
    try:
        if progress is not None:
            with progress:
                out = run_training(req, wh, wait_s=cfg.warehouse.read_wait_s, progress=progress)
        else:
            out = run_training(req, wh, wait_s=cfg.warehouse.read_wait_s)
    except (
        DataError,
        BaseUnavailable,
        BaseMismatch,
        UnsafeWeights,
        AdapterError,
        WarmStartError,
    ) as exc:
        raise fail(str(exc)) from None
    print_summary(out)
