"""`kreview score`, `kreview predict`, `kreview similarity`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from jobs.app import app, state
from jobs.exits import fail
from jobs.runner import Run
from jobs.summary import print_results


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
    from models.scoring import score as score_stage  # torch loads only when scoring

    with Run(cfg, "score", show_progress=not st.quiet) as run:
        run.stage("score", score_stage.run)
    print_results(run)


def _read_lines(source: str) -> list[str]:
    if source == "-":
        lines = sys.stdin.read().splitlines()
    else:
        path = Path(source)
        if not path.is_file():
            raise typer.BadParameter(f"no such file: {source}")
        lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip()]


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
    cfg = state(ctx).config(**{"scoring.device": device})
    texts = _read_lines(source)
    if not texts:
        raise fail("no texts to score (empty input)")
    from core.warehouse import Warehouse
    from models.scoring.batch import load_models
    from models.scoring.predict import predict_records

    models = load_models(Warehouse(cfg.warehouse.root).models_dir, cfg.scoring)
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
    cfg = state(ctx).config(**{"scoring.device": device})
    todo: list[tuple[str, str]] = []
    if pairs is not None:
        for n, line in enumerate(pairs.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) != 2:
                raise typer.BadParameter(f"{pairs}:{n}: expected 2 tab-separated columns")
            todo.append((cols[0], cols[1]))
    if sentences:
        if len(sentences) != 2:
            raise typer.BadParameter("give exactly two sentences (or --pairs FILE)")
        todo.append((sentences[0], sentences[1]))
    if not todo:
        raise typer.BadParameter("give two sentences or --pairs FILE")
    from core.warehouse import Warehouse
    from models.scoring.batch import load_models
    from models.scoring.predict import similarity_records

    models = load_models(Warehouse(cfg.warehouse.root).models_dir, cfg.scoring)
    for rec in similarity_records(models, todo, batch_size=cfg.scoring.batch_size):
        sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
