"""Build the static report: read the views, draw, write ``<out>/<run id>/``, point ``latest``.

A report is written whole into a temporary folder and renamed into place, then the ``latest``
link is swapped atomically, so a browser never opens a half-written report. The catalog is
opened read-only only while reading the views: drawing takes longer and must not keep a
writer waiting.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb
from rich.progress import Progress

from core.atomic import replace_dir
from core.catalog import open_reader
from core.fonts import hangul_font_file
from core.ids import sortable_id
from core.stage import StageContext, StageResult
from core.warehouse import Warehouse
from etl.report import pages
from etl.report.charts import SPARK_POINTS
from etl.report.config import ReportConfig
from etl.report.glyphs import Glyphs
from etl.report.queries import (
    PagePolicy,
    ReportData,
    latest_run_id,
    load_index,
    load_run,
    load_titles,
    page_title_ids,
    select_titles,
)
from etl.snapshots import REPORT, mark_snapshot, point_latest, prune

TMP_PREFIX = ".tmp-"


class ViewsMissing(RuntimeError):
    """The catalog lacks a view the report reads (created by a writer of an older kreview)."""


@dataclass(frozen=True)
class ReportResult:
    path: Path  # the report folder (<out>/<run id>)
    pages: int  # index + run page + title pages
    titles: int  # titles in the index (every title of the warehouse)
    bytes: int
    plots: int
    seconds: dict[str, float]  # index, pages (rendering) and write (sizes, swap)

    @property
    def index(self) -> Path:
        return self.path / "index.html"


def read_report_data(
    wh: Warehouse,
    cfg: ReportConfig,
    run_id: str | None = None,
    read_wait_s: float = 5.0,
    titles: tuple[str, ...] = (),
) -> ReportData:
    """Everything the pages show, from the views: the index lists every title; pages are
    read for the ``cfg.max_title_pages`` most reviewed, the ``cfg.disagreement_pages`` with
    the most sentiment/star disagreements, and the ``titles`` named (by name or id).
    ``run_id`` None: the latest run in the ledger (a fresh id when there is none). Raises
    LookupError for an unknown title."""
    with open_reader(wh, read_wait_s) as con:
        try:
            run_id = run_id or latest_run_id(con) or sortable_id()
            index = load_index(con, SPARK_POINTS)
            asked = select_titles(index, titles)
            ids = page_title_ids(con, cfg.max_title_pages, cfg.disagreement_pages)
            ids += [i for i in asked if i not in ids]
            data = ReportData(
                load_run(con, run_id),
                index,
                load_titles(con, ids, cfg.disagreements_per_title, cfg.rating_gaps_per_title),
                PagePolicy(cfg.max_title_pages, cfg.disagreement_pages, tuple(asked)),
            )
        except duckdb.CatalogException as exc:
            # Views are created by writers: a catalog last written by an older kreview lacks
            # the report's views until the next writer (or `kreview views`) opens it.
            raise ViewsMissing(
                f"{exc}; run `kreview views` (or any stage) to bring the views up to date"
            ) from None
    return data


def write_page(path: Path, html: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")


def copy_model_plots(models_dir: Path, data: ReportData, dest: Path) -> dict[str, list[str]]:
    """Copy the PNG plots of the current model versions (the registry's own files, drawn at
    training) into ``dest/models/<kind>/<version>/``; returns folder -> file names."""
    root = models_dir.resolve()
    out: dict[str, list[str]] = {}
    for m in data.run.models:
        if not m["is_current"]:
            continue
        folder = (root / m["path"]).resolve()
        if not folder.is_relative_to(root) or not folder.is_dir():
            continue  # the catalog names a folder that is not in this registry
        rel = folder.relative_to(root).as_posix()
        key = f"models/{rel}"
        if key in out:
            continue  # a joint model serves three tasks from one folder
        names = sorted(p.name for p in folder.glob("*.png") if p.is_file())
        for name in names:
            target = dest / key / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / name, target)
        out[key] = names
    return {k: v for k, v in out.items() if v}


def render(
    data: ReportData,
    cfg: ReportConfig,
    models_dir: Path,
    dest: Path,
    show_progress: bool = False,
) -> tuple[int, dict[str, float]]:
    """Write every page and asset of the report into ``dest``; returns the pages written and
    the seconds spent on the index and on the title pages."""
    glyphs = Glyphs(hangul_font_file(cfg.font))  # fails before writing anything without Hangul
    built = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    static = resources.files("etl.report") / "static"
    for name in pages.ASSETS:
        (dest / name).write_bytes((static / name).read_bytes())
    t = time.perf_counter()
    write_page(dest / "index.html", pages.index_page(data, built))
    index_s = time.perf_counter() - t
    plots = copy_model_plots(models_dir, data, dest)
    write_page(dest / "run.html", pages.run_page(data.run, data, built, plots))
    t = time.perf_counter()
    with Progress(disable=not show_progress, transient=True) as bar:
        task = bar.add_task("report", total=len(data.titles))
        for title in data.titles:
            html = pages.title_page(title, data, built, glyphs, cfg.top_emotions)
            write_page(dest / "titles" / pages.title_file(title.title_id), html)
            bar.advance(task)
    return 2 + len(data.titles), {"index": index_s, "pages": time.perf_counter() - t}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dead_temps(out_dir: Path) -> None:
    """Temp folders and links of builds whose process died (their names end with the pid): a
    build still running elsewhere (`kreview report` beside the nightly run) keeps its own."""
    # (`.<run>.old-<pid>`: a report of the same run that replace_dir had moved aside)
    dead = [*out_dir.glob(f"{TMP_PREFIX}*"), *out_dir.glob(".latest-*"), *out_dir.glob(".*.old-*")]
    for tmp in dead:
        pid = tmp.name.rpartition("-")[2]
        if pid.isdigit() and _pid_alive(int(pid)) and int(pid) != os.getpid():
            continue
        if tmp.is_symlink():
            tmp.unlink()
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def write_report(
    data: ReportData,
    cfg: ReportConfig,
    models_dir: Path,
    out_dir: Path,
    show_progress: bool = False,
) -> ReportResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_dead_temps(out_dir)
    tmp = out_dir / f"{TMP_PREFIX}{data.run.run_id}-{os.getpid()}"
    tmp.mkdir()
    try:
        n_pages, seconds = render(data, cfg, models_dir, tmp, show_progress)
        t = time.perf_counter()
        n_plots = (
            sum(1 for _ in (tmp / "models").rglob("*.png")) if (tmp / "models").exists() else 0
        )
        size = _size(tmp)
        final = out_dir / data.run.run_id
        mark_snapshot(tmp, REPORT, data.run.run_id)
        replace_dir(tmp, final)  # a report of the same run is replaced whole
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    point_latest(out_dir, final)
    seconds["write"] = time.perf_counter() - t
    return ReportResult(final, n_pages, len(data.index), size, n_plots, seconds)


def build_report(
    wh: Warehouse,
    cfg: ReportConfig,
    *,
    run_id: str | None = None,
    read_wait_s: float = 5.0,
    titles: tuple[str, ...] = (),
    show_progress: bool = False,
) -> ReportResult:
    """Read the views and write the report under ``cfg.out_dir`` (default <warehouse>/reports)."""
    data = read_report_data(wh, cfg, run_id, read_wait_s, titles)
    out_dir = cfg.out_dir or wh.reports_dir
    result = write_report(data, cfg, wh.models_dir, out_dir, show_progress)
    prune(out_dir, cfg.keep, REPORT, result.path)
    return result


def run(ctx: StageContext[ReportConfig]) -> StageResult:
    """The pipeline's last stage: the report of this run."""
    cfg = ctx.cfg
    started = time.perf_counter()
    data = read_report_data(ctx.wh, cfg, ctx.run_id, ctx.read_wait_s)
    read_s = time.perf_counter() - started
    out_dir = cfg.out_dir or ctx.wh.reports_dir
    result = write_report(data, cfg, ctx.wh.models_dir, out_dir, ctx.show_progress)
    pruned = prune(out_dir, cfg.keep, REPORT, result.path)
    return StageResult(
        rows_in=result.titles,
        rows_out=result.pages,
        details={
            "path": str(result.index),
            "titles": result.titles,
            "pages": result.pages,
            "plots": result.plots,
            "bytes": result.bytes,
            "pruned": len(pruned),
            "prune_left_alone": len(pruned.left_alone),
            "seconds": round(time.perf_counter() - started, 2),
            "read_s": round(read_s, 2),
            **{f"{k}_s": round(v, 2) for k, v in result.seconds.items()},
        },
    )
