"""The run ledger: runs and per-stage rows (rows in / out / rejected, status, error)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb

from core.stage import StageResult

RUNNING, SUCCEEDED, FAILED, INTERRUPTED, SKIPPED = (
    "running",
    "succeeded",
    "failed",
    "interrupted",
    "skipped",
)


def _now() -> datetime:
    return datetime.now(UTC)


def start_run(con: duckdb.DuckDBPyConnection, run_id: str, command: str) -> None:
    con.execute(
        "INSERT INTO runs (run_id, command, started_at, status) VALUES (?, ?, ?, ?)",
        [run_id, command, _now(), RUNNING],
    )


def finish_run(
    con: duckdb.DuckDBPyConnection, run_id: str, status: str, error: str | None = None
) -> None:
    con.execute(
        "UPDATE runs SET finished_at = ?, status = ?, error = ? WHERE run_id = ?",
        [_now(), status, error, run_id],
    )


def start_stage(con: duckdb.DuckDBPyConnection, run_id: str, stage: str) -> None:
    # A stage retried within the same run (resume) replaces its earlier row.
    con.execute("DELETE FROM run_stages WHERE run_id = ? AND stage = ?", [run_id, stage])
    con.execute(
        "INSERT INTO run_stages (run_id, stage, started_at, status) VALUES (?, ?, ?, ?)",
        [run_id, stage, _now(), RUNNING],
    )


def finish_stage(
    con: duckdb.DuckDBPyConnection, run_id: str, stage: str, result: StageResult
) -> None:
    con.execute(
        "UPDATE run_stages SET finished_at = ?, status = ?, rows_in = ?, rows_out = ?,"
        " rows_rejected = ?, details = ? WHERE run_id = ? AND stage = ?",
        [
            _now(),
            SUCCEEDED,
            result.rows_in,
            result.rows_out,
            result.rows_rejected,
            json.dumps(result.details, ensure_ascii=False, default=str),
            run_id,
            stage,
        ],
    )


def fail_stage(
    con: duckdb.DuckDBPyConnection, run_id: str, stage: str, error: str, status: str = FAILED
) -> None:
    con.execute(
        "UPDATE run_stages SET finished_at = ?, status = ?, error = ?"
        " WHERE run_id = ? AND stage = ?",
        [_now(), status, error, run_id, stage],
    )


def mark_abandoned(con: duckdb.DuckDBPyConnection) -> int:
    """Runs and stages left 'running' by a process that died (SIGKILL, power loss).

    Only called while holding the writer lock, so no live process can own them.
    """
    n = con.execute("SELECT count(*) FROM runs WHERE status = ?", [RUNNING]).fetchone()
    con.execute(
        "UPDATE run_stages SET status = ?, error = coalesce(error, 'process died'),"
        " finished_at = coalesce(finished_at, ?) WHERE status = ?",
        [INTERRUPTED, _now(), RUNNING],
    )
    con.execute(
        "UPDATE runs SET status = ?, error = coalesce(error, 'process died'),"
        " finished_at = coalesce(finished_at, ?) WHERE status = ?",
        [INTERRUPTED, _now(), RUNNING],
    )
    return int(n[0]) if n else 0


def last_runs(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[dict[str, Any]]:
    cur = con.execute(
        "SELECT r.run_id, r.command, r.started_at, r.finished_at, r.status, r.error,"
        " string_agg(s.stage || ':' || s.status, ' ' ORDER BY s.started_at) AS stages"
        " FROM runs r LEFT JOIN run_stages s USING (run_id)"
        " GROUP BY ALL ORDER BY r.started_at DESC LIMIT ?",
        [limit],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def stages_of(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict[str, Any]]:
    cur = con.execute(
        "SELECT stage, status, rows_in, rows_out, rows_rejected, error, started_at, finished_at"
        " FROM run_stages WHERE run_id = ? ORDER BY started_at",
        [run_id],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
