"""`kreview serve`: the HTTP API (FastAPI under uvicorn) over the models and the views."""

from __future__ import annotations

from typing import Annotated

import typer

from core.warehouse import Warehouse
from jobs.app import app, err_console, state
from jobs.config import ConfigError


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default 127.0.0.1: this machine only).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000; 0 = any free one).")] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", help="Allow a non-loopback host without serve.api_key (no auth)."
        ),
    ] = False,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda")] = None,
) -> None:
    """Serve /v1/predict, /v1/similarity, /v1/titles, /healthz, /readyz until Ctrl-C/SIGTERM."""
    cfg = state(ctx).read_config(
        **{
            "serve.host": host,
            "serve.port": port,
            "serve.insecure": True if insecure else None,
            "scoring.device": device,
        }
    )
    from jobs.serve.server import ExposureError, check_exposure, check_port, serve_forever

    # Before loading models: fail in a second, not a minute.
    try:
        check_exposure(cfg.serve)
    except ExposureError as exc:
        raise ConfigError(str(exc)) from None
    check_port(cfg.serve)
    from jobs.commands.score import scoring_models
    from jobs.serve.app import create_app
    from models.registry.bundle import describe

    wh = Warehouse(cfg.warehouse.root)
    models = scoring_models(cfg)
    for p in describe(models):
        err_console.print(f"model {p['ref']}: {', '.join(p['tasks'])}")
    if not wh.catalog.exists():
        err_console.print(
            f"no catalog at {wh.catalog} yet: /v1/titles answers 503 and /readyz is not ready"
        )
    if cfg.serve.api_key is None and cfg.serve.insecure:
        err_console.print(f"[yellow]serving on {cfg.serve.host} without an API key[/]")
    serve_forever(create_app(models, wh, cfg.serve, cfg.scoring), cfg.serve)
