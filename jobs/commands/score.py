"""`kreview score`, `kreview predict`, `kreview similarity`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from core.errors import UsageError
from core.warehouse import Warehouse
from jobs.app import app, state
from jobs.exits import fail
from jobs.inputs import check_text, decode_lines, numbered_texts, read_input_file, read_input_lines
from jobs.runner import Run
from jobs.summary import print_results

if TYPE_CHECKING:
    from jobs.config import AppConfig
    from models.registry.bundle import LoadedModels


def check_device(device: str) -> None:
    """``--device cuda`` on a machine without CUDA: one line, exit 2, before loading anything
    (imports torch)."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError(
                f"--device {device}: no CUDA device is available here",
                hint="use --device cpu or auto",
            )


def scoring_models(cfg: AppConfig) -> LoadedModels:
    """The current models for predict / similarity / serve. On a registry with no current
    model the shipped defaults are installed first (the base is bootstrapped if needed), as
    `kreview models bootstrap` does, and one line says so."""
    from models.scoring.batch import load_models

    check_device(cfg.scoring.device)
    return load_models(Warehouse(cfg.warehouse.root).models_dir, cfg.scoring)


@app.command()
def score(
    ctx: typer.Context,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Texts per encoder batch.")] = None,
    precision: Annotated[
        str | None,
        typer.Option(help="auto | fp32 | bf16 | int8 on CPU (auto: bf16 where native)"),
    ] = None,
    quantize: Annotated[
        str | None, typer.Option(hidden=True, help="Old name: --quantize int8 = --precision int8")
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="local | ray (Ray Data actors, one per GPU or CPU slot)")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to use with --engine ray (default: a local one)")
    ] = None,
) -> None:
    """Score clean reviews not yet scored by the current models; recluster changed titles."""
    st = state(ctx)
    cfg = st.config(
        **{
            "scoring.device": device,
            "scoring.batch_size": batch_size,
            "scoring.precision": precision,
            "scoring.quantize": quantize,
            "scoring.engine": engine,
            "scoring.ray.address": ray_address,
        }
    )
    if cfg.scoring.engine == "ray":
        from models.scoring.ray_engine import RayMissing, require_ray

        try:
            require_ray()
        except RayMissing as exc:
            raise fail(str(exc)) from None
    check_device(cfg.scoring.device)
    from models.scoring import score as score_stage  # torch loads only when scoring

    with Run(cfg, "score", show_progress=not st.quiet) as run:
        run.stage("score", score_stage.run)
    print_results(run)


@app.command()
def predict(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="File with one text per line, or - for stdin.")
    ] = "-",
    embedding: Annotated[bool, typer.Option(help="Include the embedding vector.")] = False,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda")] = None,
) -> None:
    """Score arbitrary texts; print one JSON line per text with every score."""
    cfg = state(ctx).read_config(**{"scoring.device": device})
    origin, lines = read_input_lines(source)
    texts = [text for _, text in numbered_texts(lines)]
    if not texts:
        raise fail(f"no texts to score in {origin} (empty input)")
    from models.scoring.predict import predict_records

    models = scoring_models(cfg)
    for rec in predict_records(
        models,
        texts,
        batch_size=cfg.scoring.batch_size,
        top_k=cfg.scoring.top_emotions,
        with_embedding=embedding,
    ):
        sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")


@app.command()
def similarity(
    ctx: typer.Context,
    sentences: Annotated[list[str] | None, typer.Argument(help="Two sentences.")] = None,
    pairs: Annotated[
        Path | None, typer.Option(help="TSV file: sentence1<TAB>sentence2 per line.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda")] = None,
) -> None:
    """KLUE-STS-style similarity (0–5) and a same/different verdict, as JSON lines."""
    cfg = state(ctx).read_config(**{"scoring.device": device})
    todo: list[tuple[str, str]] = []
    if pairs is not None:
        lines = decode_lines(read_input_file(pairs, "--pairs"), str(pairs))
        for n, line in numbered_texts(lines):
            cols = line.split("\t")
            if len(cols) != 2:
                raise UsageError(f"{pairs}:{n}: expected 2 tab-separated columns, got {len(cols)}")
            todo.append(
                (
                    check_text(cols[0], f"{pairs}:{n}: sentence 1"),
                    check_text(cols[1], f"{pairs}:{n}: sentence 2"),
                )
            )
    if sentences:
        if len(sentences) != 2:
            raise UsageError("give exactly two sentences (or --pairs FILE)")
        todo.append(
            (check_text(sentences[0], "sentence 1"), check_text(sentences[1], "sentence 2"))
        )
    if not todo:
        raise UsageError("give two sentences or --pairs FILE")
    from models.scoring.predict import similarity_records

    models = scoring_models(cfg)
    for rec in similarity_records(models, todo, batch_size=cfg.scoring.batch_size):
        sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
