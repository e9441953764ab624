"""Parquet exports for downstream apps: the views and the scored reviews, with a manifest.

The column names below are a versioned contract (``CONTRACT_VERSION``); a breaking change
(renamed/removed column, changed type) bumps the major version. An export is written to a
temporary folder and renamed into place, so a reader never sees a half-written snapshot;
``exports/latest`` then points at it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from core.atomic import atomic_write_text
from core.catalog import open_writer
from core.digest import sha256_file
from core.stage import StageContext, StageResult
from core.warehouse import Warehouse
from etl.export_config import ExportConfig
from etl.snapshots import EXPORT, mark_snapshot, point_latest, prune
from etl.views import create_views

# 2.0: source_comparison is long (one row per title and source). 2.1: predicted stars
# (scored_reviews: predicted_rating, expected_rating, rating_gap; title_scores: n_predicted,
# mean_predicted_rating, mean_rating_gap), added columns only.
CONTRACT_VERSION = "2.1"
MANIFEST = "_manifest.json"

# name -> SELECT over the catalog (views created by etl/views). `$since` filters by day.
EXPORTS: dict[str, str] = {
    "title_scores": "SELECT * FROM title_scores",
    "title_emotions": "SELECT * FROM title_emotions",
    "title_clusters": "SELECT * FROM title_clusters",
    "daily_title_trend": "SELECT * FROM daily_title_trend WHERE $since IS NULL OR day >= $since",
    "source_comparison": "SELECT * FROM source_comparison",
}
# Scored reviews, partitioned by source and the day they were written.
REVIEWS_SQL = """
SELECT review_key, source, review_id, title_id, title, rating, text_raw, text_norm,
       text_rating, day, sentiment, p_positive, emotion_point, top_emotions,
       CAST(emotions AS FLOAT[]) AS emotions, predicted_rating, expected_rating, rating_gap,
       strftime(day, '%Y-%m') AS month
FROM scored_reviews
WHERE $since IS NULL OR day >= $since
"""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    manifest: dict[str, Any]


def _copy(
    con: duckdb.DuckDBPyConnection,
    select: str,
    target: Path,
    since: date | None,
    partition_by: str | None = None,
    compression: str = "zstd",
) -> None:
    opts = f"FORMAT parquet, COMPRESSION {compression}"
    if partition_by:
        opts += f", PARTITION_BY ({partition_by})"
    # `target` is a path we built under the export folder; `select` is one of our constants.
    params = {"since": since} if "$since" in select else None
    con.execute(f"COPY ({select}) TO '{target.as_posix()}' ({opts})", params)


def _describe(path: Path, root: Path) -> dict[str, Any]:
    meta = pq.ParquetFile(path)
    return {
        "path": path.relative_to(root).as_posix(),
        "rows": meta.metadata.num_rows,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }


def _schema_of(path: Path) -> list[dict[str, str]]:
    schema = pq.read_schema(path)
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def _model_versions(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute("SELECT task, version FROM model_versions WHERE is_current").fetchall()
    return dict(rows)


def write_export(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    run_id: str,
    since: date | None = None,
    compression: str = "zstd",
) -> ExportResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / run_id
    if final.exists():
        raise FileExistsError(f"export {final} already exists")
    # Temp folders left by killed exports: the writer lock guarantees none is in progress.
    for stale in out_dir.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out_dir / f".tmp-{run_id}"
    tmp.mkdir()
    comp = "uncompressed" if compression == "none" else compression
    try:
        datasets: dict[str, Any] = {}
        for name, select in EXPORTS.items():
            target = tmp / f"{name}.parquet"
            _copy(con, select, target, since, compression=comp)
            datasets[name] = {"schema": _schema_of(target), "files": [_describe(target, tmp)]}
        reviews_dir = tmp / "scored_reviews"
        _copy(con, REVIEWS_SQL, reviews_dir, since, "source, month", comp)
        files = sorted(reviews_dir.rglob("*.parquet"))
        datasets["scored_reviews"] = {
            "partitioned_by": ["source", "month"],
            "schema": _schema_of(files[0]) if files else [],
            "files": [_describe(p, tmp) for p in files],
        }
        for ds in datasets.values():
            ds["rows"] = sum(f["rows"] for f in ds["files"])
        manifest = {
            "contract_version": CONTRACT_VERSION,
            "run_id": run_id,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "since": since.isoformat() if since else None,
            "model_versions": _model_versions(con),
            "datasets": datasets,
        }
        text = json.dumps(manifest, ensure_ascii=False, indent=2)
        atomic_write_text(tmp / MANIFEST, text)
        mark_snapshot(tmp, EXPORT, run_id)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    point_latest(out_dir, final)
    return ExportResult(final, manifest)


def read_manifest(folder: Path) -> dict[str, Any]:
    """The snapshot's ``_manifest.json``; ValueError (one line) when it is missing or is not
    a manifest."""
    if not folder.is_dir():
        raise ValueError(f"no export snapshot at {folder}")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{MANIFEST} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("datasets"), dict):
        raise ValueError(f"{MANIFEST} has no datasets")
    return manifest


def verify_manifest(folder: Path) -> list[str]:
    """Problems found comparing the snapshot's ``_manifest.json`` with its files, one line
    each (empty list = all good): a listed file missing, changed (sha256), unreadable or with
    other row counts; a Parquet file the manifest does not list."""
    try:
        manifest = read_manifest(folder)
    except ValueError as exc:
        return [str(exc)]
    problems = []
    listed = set()
    for name, ds in manifest["datasets"].items():
        try:
            entries = [(f["path"], f["sha256"], f["rows"]) for f in ds["files"]]
        except (KeyError, TypeError) as exc:
            problems.append(f"{name}: its file list in {MANIFEST} is malformed ({exc!r})")
            continue
        for rel, digest, want_rows in entries:
            path = folder / rel
            listed.add(path)
            if not path.exists():
                problems.append(f"{name}: missing {rel}")
                continue
            if sha256_file(path) != digest:
                problems.append(f"{name}: sha256 differs for {rel}")
            try:
                rows = pq.ParquetFile(path).metadata.num_rows
            except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError)
                problems.append(f"{name}: unreadable {rel}: {exc}")
                continue
            if rows != want_rows:
                problems.append(f"{name}: {rel} has {rows} rows, the manifest says {want_rows}")
    for path in folder.rglob("*.parquet"):
        if path not in listed:
            problems.append(f"unlisted file {path.relative_to(folder)}")
    return problems


def export_root(cfg: ExportConfig, wh: Warehouse) -> Path:
    """Where the snapshots go: ``export.out_dir``, else ``<warehouse>/exports``."""
    return cfg.out_dir or wh.exports_dir


def run(ctx: StageContext[ExportConfig], since: date | None = None) -> StageResult:
    cfg = ctx.cfg
    out_dir = export_root(cfg, ctx.wh)
    with open_writer(ctx.wh) as con:
        create_views(con)
        result = write_export(con, out_dir, ctx.run_id, since, cfg.compression)
    pruned = prune(out_dir, cfg.keep, EXPORT, result.path)
    rows = sum(ds["rows"] for ds in result.manifest["datasets"].values())
    return StageResult(
        rows_in=rows,
        rows_out=rows,
        details={
            "path": str(result.path),
            "pruned": len(pruned),
            "prune_left_alone": len(pruned.left_alone),
            "reviews": result.manifest["datasets"]["scored_reviews"]["rows"],
        },
    )
