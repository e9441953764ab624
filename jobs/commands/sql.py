"""`kreview views`, `kreview check`, `kreview query`, `kreview export`."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from core.catalog import open_reader
from core.warehouse import Warehouse
from etl import export as export_stage
from etl import views as views_stage
from etl.datatests import run_tests
from etl.query import QueryFailed, QueryRefused, check_read_only, json_rows, json_values
from etl.query import run as run_query
from etl.snapshots import LATEST
from jobs.app import app, console, state
from jobs.exits import EXIT_FAILED, error_line, fail
from jobs.inputs import check_out_dir, check_out_file
from jobs.runner import Run
from jobs.summary import print_results


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


@app.command()
def views(ctx: typer.Context) -> None:
    """Create or replace the SQL views (title_scores, title_emotions, ...)."""
    st = state(ctx)
    with Run(st.config(), "views", show_progress=not st.quiet) as run:
        run.stage("views", views_stage.run)
    print_results(run)


@app.command()
def check(ctx: typer.Context) -> None:
    """Run the data tests declared beside the SQL; exit 1 with a list of failures."""
    cfg = state(ctx).read_config()
    with open_reader(Warehouse(cfg.warehouse.root), cfg.warehouse.read_wait_s) as con:
        ran, failures = run_tests(con)
    if not failures:
        console.print(f"check: {ran} data tests passed")
        return
    table = Table(title=f"{len(failures)} of {ran} data tests failed", title_justify="left")
    for col in ("table/view", "test", "failing rows"):
        table.add_column(col)
    for f in failures:
        table.add_row(f.test.model, f.test.name, f"{f.failing_rows:,}")
    console.print(table)
    raise typer.Exit(EXIT_FAILED)


@app.command()
def query(
    ctx: typer.Context,
    sql: Annotated[
        str,
        typer.Argument(
            help="One DuckDB statement that only reads the catalog (its tables and views); "
            "files, Parquet exports included, are out of reach (read those with duckdb or "
            "Polars directly)."
        ),
    ],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")] = None,
    limit: Annotated[int, typer.Option(help="Rows shown in table format.")] = 50,
) -> None:
    """Ad-hoc SQL over the catalog on a read-only, sandboxed connection (no file access)."""
    cfg = state(ctx).read_config()
    if out is not None:
        check_out_file(out, "--out")  # before the query runs: a typo costs one line
    try:
        [statement] = check_read_only(sql)
    except QueryRefused as exc:
        raise fail(str(exc)) from None
    if fmt is Format.parquet and out is None:
        raise fail("--format parquet needs --out FILE")
    wh = Warehouse(cfg.warehouse.root)
    with open_reader(wh, cfg.warehouse.read_wait_s, sandbox=True) as con:
        try:
            arrow = run_query(con, statement)
        except QueryFailed as exc:
            raise fail(f"query: {exc}") from None
    if fmt is Format.parquet:
        import pyarrow.parquet as pq

        assert out is not None
        pq.write_table(arrow, out)
        console.print(f"wrote {arrow.num_rows:,} rows to {out}")
        return
    if fmt is Format.table:
        rows = arrow.to_pylist()
        table = Table(
            caption=f"{arrow.num_rows:,} rows"
            + (f", first {limit} shown" if arrow.num_rows > limit else "")
        )
        for name in arrow.column_names:
            table.add_column(name)
        for row in rows[:limit]:
            table.add_row(*("" if v is None else str(v) for v in row.values()))
        console.print(table)
        return
    fh = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
    try:
        if fmt is Format.csv:
            writer = csv.writer(fh)
            writer.writerow(arrow.column_names)
            for values in json_values(arrow):
                writer.writerow(
                    json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
                    for v in values
                )
        else:
            for r in json_rows(arrow):
                fh.write(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n")
    finally:
        if out:
            fh.close()


def _verify_export(snapshot: Path) -> None:
    """Check a snapshot against its manifest: one line per problem and exit 1, or a table."""
    problems = export_stage.verify_manifest(snapshot)
    for problem in problems:
        error_line(f"{snapshot}: {problem}")
    if problems:
        raise typer.Exit(EXIT_FAILED)
    manifest = export_stage.read_manifest(snapshot)
    run_id = manifest.get("run_id", snapshot.name)
    console.print(f"export {run_id}: every file matches its manifest")
    table = Table()
    for col in ("dataset", "files", "rows"):
        table.add_column(col, justify="left" if col == "dataset" else "right")
    for name, ds in manifest["datasets"].items():
        table.add_row(name, str(len(ds["files"])), f"{sum(f['rows'] for f in ds['files']):,}")
    console.print(table)


@app.command()
def export(
    ctx: typer.Context,
    snapshot: Annotated[
        Path | None,
        typer.Argument(
            metavar="[DIR]",
            help="With --verify: the snapshot folder (default: latest under the export root).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Export root (default <warehouse>/exports).")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Only reviews written on or after."),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify", help="Export nothing: check a snapshot's files against its _manifest.json."
        ),
    ] = False,
) -> None:
    """Parquet exports of the views and the scored reviews, with _manifest.json
    (`--verify [DIR]` checks one)."""
    st = state(ctx)
    if snapshot is not None and not verify:
        raise fail(f"{snapshot}: a snapshot folder is named only with --verify")
    if verify and since is not None:
        raise fail("--since does not apply to --verify")
    if verify and snapshot is not None:
        _verify_export(snapshot)  # no config needed: a snapshot is self-describing
        return
    if out is not None and not verify:
        check_out_dir(out, "--out")
    cfg = (
        st.read_config(**{"export.out_dir": out})
        if verify
        else st.config(**{"export.out_dir": out})
    )
    if verify:
        root = export_stage.export_root(cfg.export, Warehouse(cfg.warehouse.root))
        _verify_export((root / LATEST).resolve())
        return
    since_day = since.date() if since else None
    with Run(cfg, "export", show_progress=not st.quiet) as run:
        run.stage("export", lambda c: export_stage.run(c, since_day))
    print_results(run)
