"""The Typer application and the state shared by all commands (config file, overrides).

Command modules in ``jobs/commands/`` attach their commands to ``app``; ``jobs.cli`` imports
them all and is the console-script entry point. Every command runs under the one error
handler (``jobs.exits.KreviewGroup``): an error ends in one line and a documented exit code.

Reading commands load their config with :meth:`CliState.read_config`, which creates nothing
(no warehouse folder, no ``logs/``); writing commands use :meth:`CliState.config`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from core.errors import UsageError
from core.logs import setup_logging
from core.warehouse import Warehouse
from jobs.config import AppConfig, load_config
from jobs.exits import KreviewGroup

app = typer.Typer(
    name="kreview",
    cls=KreviewGroup,
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


def check_warehouse_root(root: Path) -> None:
    """Refuse a warehouse root that is a file, or lies under one (exit 2)."""
    path = root.absolute()
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                what = "is a file" if folder == path else f"lies under the file {folder}"
                raise UsageError(
                    f"the warehouse {root} {what}, not a directory",
                    hint="point --warehouse / KREVIEW_WAREHOUSE__ROOT at a folder",
                )
            return


@dataclass
class CliState:
    config_path: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    quiet: bool = False
    debug: bool = False

    def config(self, **overrides: Any) -> AppConfig:
        """Validated config for a command that writes to the warehouse (its ``logs/`` is
        created); ``overrides`` use dotted keys (``"scrape.max_per_title"``)."""
        return self._load(overrides, create=True)

    def read_config(self, **overrides: Any) -> AppConfig:
        """Validated config for a read-only command: creates nothing, and logs to the
        warehouse's ``logs/kreview.jsonl`` only where that folder exists and is writable."""
        return self._load(overrides, create=False)

    def _load(self, overrides: dict[str, Any], *, create: bool) -> AppConfig:
        cfg = load_config(self.config_path, overrides={**self.overrides, **overrides})
        check_warehouse_root(cfg.warehouse.root)
        setup_logging(Warehouse(cfg.warehouse.root).logs_dir, create=create)
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
        str | None,
        typer.Option(
            "--warehouse", "-w", help="Warehouse root (overrides warehouse.root).", metavar="DIR"
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show the traceback of an error (also KREVIEW_DEBUG=1)."),
    ] = False,
) -> None:
    ctx.obj = CliState(
        config_path=config,
        # "" is kept: the config refuses an empty warehouse path rather than using "."
        overrides={"warehouse.root": warehouse} if warehouse is not None else {},
        quiet=quiet,
        debug=debug,
    )
    if quiet:
        quiet_progress_bars()


def quiet_progress_bars() -> None:
    """No tqdm bars from Hugging Face libraries ("Loading weights"): the environment switch
    for those not imported yet (and for child processes), the call for transformers if it is."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
