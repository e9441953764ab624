"""`kreview status`, `kreview init`, `kreview config`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from core.catalog import CatalogMissing, open_writer
from core.lock import writer_lock
from core.warehouse import Warehouse
from jobs.app import app, console, state
from jobs.status import collect


@app.command()
def status(ctx: typer.Context) -> None:
    """Warehouse location, rows per layer, the last runs, current model versions (read-only;
    exit 4 when there is no catalog yet, like `kreview query`)."""
    cfg = state(ctx).read_config()
    wh = Warehouse(cfg.warehouse.root)
    if not wh.root.is_dir():
        raise CatalogMissing(
            f"no warehouse at {wh.root}",
            hint="check --warehouse / KREVIEW_WAREHOUSE__ROOT; `kreview init` creates one",
        )
    st = collect(wh, cfg.warehouse.read_wait_s)
    console.print(f"[bold]warehouse[/] {st.root.resolve()}")
    if st.catalog_exists:
        console.print(
            f"catalog: {wh.catalog} (schema version {st.schema_version}, "
            f"DuckDB storage {st.storage_version or 'unknown'})"
        )
    else:
        console.print("catalog: none yet (run `kreview init` or any stage)")
    layers = Table(title="rows per layer", title_justify="left")
    layers.add_column("layer")
    layers.add_column("rows", justify="right")
    layers.add_row("raw (parquet)", f"{st.raw.rows:,} in {st.raw.files} files")
    for name, count in st.layers.items():
        layers.add_row(name, "-" if count is None else f"{count:,}")
    console.print(layers)
    for bad in st.raw.unreadable:
        console.print(f"[red]unreadable raw file[/] {bad}")
    runs = Table(title="last runs", title_justify="left")
    for col in ("run", "command", "started", "status", "stages", "error"):
        runs.add_column(col)
    for r in st.runs:
        runs.add_row(
            r["run_id"],
            r["command"],
            str(r["started_at"])[:19],
            r["status"],
            r["stages"] or "",
            (r["error"] or "")[:80],
        )
    console.print(runs if st.runs else "last runs: none")
    if st.selectors:
        health = Table(title="selector health (latest scrape per source)", title_justify="left")
        for col in ("source", "run", "titles", "ok", "failed", "not found", "health"):
            health.add_column(col, justify="right" if col in ("titles", "ok", "failed") else "left")
        for h in st.selectors:
            if h["structural"]:
                verdict = (
                    f"[red]{h['structural']} titles failed on {h['culprit'] or 'the structure'}"
                    f"[/]: `kreview scrape --probe TITLE --source {h['source']}`"
                )
            elif h["titles"] and h["not_found"] == h["titles"]:
                verdict = "[red]no title found[/]: the review section may have moved"
            else:
                verdict = "[green]ok[/]"
            health.add_row(
                h["source"],
                h["run_id"],
                str(h["titles"]),
                str(h["ok"]),
                str(h["failed"]),
                str(h["not_found"]),
                verdict,
            )
        console.print(health)
    if st.models:
        mt = Table(title="current models", title_justify="left")
        for col in ("task", "version", "created"):
            mt.add_column(col)
        for m in st.models:
            mt.add_row(m["task"], m["version"], str(m["created_at"])[:19])
        console.print(mt)
    else:
        console.print("current models: none registered")
    if not st.catalog_exists:
        raise CatalogMissing(
            f"no catalog at {wh.catalog}", hint="`kreview init` or any stage creates it"
        )


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the warehouse and bring the catalog schema up to date."""
    cfg = state(ctx).config()
    wh = Warehouse(cfg.warehouse.root).ensure()
    with writer_lock(wh.lock_file, "init"), open_writer(wh) as con:
        version = con.execute("SELECT max(version) FROM schema_version").fetchone()
    console.print(
        f"warehouse {wh.root.resolve()} ready, schema version {version[0] if version else 0}"
    )


@app.command("config")
def show_config(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Print the effective configuration (defaults, file, environment and flags merged)."""
    cfg = state(ctx).read_config()
    data = cfg.model_dump(mode="json")
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    for section, values in data.items():
        console.print(f"[bold][{section}][/]")
        for key, value in values.items():
            console.print(
                f"{key} = {json.dumps(value, ensure_ascii=False)}", markup=False, highlight=False
            )
