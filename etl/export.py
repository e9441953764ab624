"""Parquet exports for downstream apps: the views and the scored reviews, with a manifest.

The column names below are a versioned contract (``CONTRACT_VERSION``); a breaking change
(renamed/removed column, changed type) bumps the major version. An export is written to a
temporary folder and renamed into place, so a reader never sees a half-written snapshot;
``exports/latest`` then points at it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from etl.snapshots import point_latest, prune
from etl.views import create_views
from jobs.catalog import open_writer
from jobs.ledger import StageResult
from jobs.runner import StageContext

CONTRACT_VERSION = "1.0"

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
       CAST(emotions AS FLOAT[]) AS emotions,
       strftime(day, '%Y-%m') AS month
FROM scored_reviews
WHERE $since IS NULL OR day >= $since
"""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    manifest: dict[str, Any]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
        "sha256": _sha256(path),
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
        with (tmp / "_manifest.json").open("w", encoding="utf-8") as fh:
            json.dump(manifest, fh, ensure_ascii=False, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    point_latest(out_dir, final)
    return ExportResult(final, manifest)


def verify_manifest(folder: Path) -> list[str]:
    """Problems found comparing ``_manifest.json`` with the files (empty list = all good)."""
    manifest = json.loads((folder / "_manifest.json").read_text(encoding="utf-8"))
    problems = []
    listed = set()
    for name, ds in manifest["datasets"].items():
        for f in ds["files"]:
            path = folder / f["path"]
            listed.add(path)
            if not path.exists():
                problems.append(f"{name}: missing {f['path']}")
                continue
            if _sha256(path) != f["sha256"]:
                problems.append(f"{name}: sha256 differs for {f['path']}")
            try:
                rows = pq.ParquetFile(path).metadata.num_rows
            except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError)
                problems.append(f"{name}: unreadable {f['path']}: {exc}")
                continue
            if rows != f["rows"]:
                problems.append(f"{name}: row count differs for {f['path']}")
    for path in folder.rglob("*.parquet"):
        if path not in listed:
            problems.append(f"unlisted file {path.relative_to(folder)}")
    return problems


def run(ctx: StageContext, since: date | None = None) -> StageResult:
    cfg = ctx.cfg.export
    out_dir = cfg.out_dir or ctx.wh.exports_dir
    with open_writer(ctx.wh) as con:
        create_views(con)
        result = write_export(con, out_dir, ctx.run_id, since, cfg.compression)
    pruned = prune(out_dir, cfg.keep)
    rows = sum(ds["rows"] for ds in result.manifest["datasets"].values())
    return StageResult(
        rows_in=rows,
        rows_out=rows,
        details={
            "path": str(result.path),
            "pruned": len(pruned),
            "reviews": result.manifest["datasets"]["scored_reviews"]["rows"],
        },
    )
