"""The Typer application and the state shared by all commands (config file, overrides).

Command modules in ``jobs/commands/`` attach their commands to ``app``; ``jobs.cli`` imports
them all and is the console-script entry point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from core.logs import setup_logging
from core.warehouse import Warehouse
from jobs.config import AppConfig, load_config

app = typer.Typer(
    name="kreview",
    help="Batch ETL scoring of Korean reviews: scrape, clean, score, aggregate, export.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(
    help="Base encoder and trained task models (registry).", no_args_is_help=True
)
app.add_typer(models_app, name="models")

console = Console()
err_console = Console(stderr=True)


@dataclass
class CliState:
    config_path: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    quiet: bool = False

    def config(self, **overrides: Any) -> AppConfig:
        """Validated config; ``overrides`` use dotted keys (``"scrape.max_per_title"``)."""
        cfg = load_config(self.config_path, overrides={**self.overrides, **overrides})
        setup_logging(Warehouse(cfg.warehouse.root).logs_dir)
        return cfg


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="TOML config file (default: $KREVIEW_CONFIG or ./kreview.toml)."
        ),
    ] = None,
    warehouse: Annotated[
        Path | None,
        typer.Option("--warehouse", "-w", help="Warehouse root (overrides warehouse.root)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    ctx.obj = CliState(
        config_path=config,
        overrides={"warehouse.root": warehouse} if warehouse else {},
        quiet=quiet,
    )
