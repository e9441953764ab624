from __future__ import annotations

import pytest

from core import ledger
from core.catalog import open_reader, open_writer
from core.stage import StageResult
from core.warehouse import Warehouse
from jobs.config import AppConfig
from jobs.runner import Run, StageContext, StageFailed


def ok_stage(ctx: StageContext) -> StageResult:
    return StageResult(rows_in=10, rows_out=8, rows_rejected=2, details={"reviews_per_s": 5.0})


def broken_stage(ctx: StageContext) -> StageResult:
    raise ValueError("selector li.area_card._item matched nothing")


def test_ledger_records_counts_and_failed_stage_with_error(cfg: AppConfig) -> None:
    with pytest.raises(StageFailed, match="clean failed"), Run(cfg, "run") as run:
        run.stage("scrape", ok_stage)
        run.stage("clean", broken_stage)
        run.stage("score", ok_stage)  # never reached
    wh = Warehouse(cfg.warehouse.root)
    with open_reader(wh) as con:
        status, error = con.execute(
            "SELECT status, error FROM runs WHERE run_id = ?", [run.run_id]
        ).fetchone()
        stages = ledger.stages_of(con, run.run_id)
    assert status == ledger.FAILED and "area_card" in error
    by_name = {s["stage"]: s for s in stages}
    assert set(by_name) == {"scrape", "clean"}
    assert (by_name["scrape"]["rows_in"], by_name["scrape"]["rows_out"]) == (10, 8)
    assert by_name["scrape"]["rows_rejected"] == 2
    assert by_name["clean"]["status"] == ledger.FAILED
    assert "ValueError: selector li.area_card._item" in by_name["clean"]["error"]


def test_successful_run_is_marked_succeeded(cfg: AppConfig) -> None:
    with Run(cfg, "clean") as run:
        run.stage("clean", ok_stage)
    with open_reader(Warehouse(cfg.warehouse.root)) as con:
        rows = ledger.last_runs(con)
    assert rows[0]["run_id"] == run.run_id and rows[0]["status"] == ledger.SUCCEEDED


def test_abandoned_run_is_marked_interrupted_by_next_writer(cfg: AppConfig) -> None:
    wh = Warehouse(cfg.warehouse.root)
    with open_writer(wh) as con:  # what a SIGKILLed run leaves behind
        ledger.start_run(con, "dead-run", "run")
        ledger.start_stage(con, "dead-run", "clean")
    with Run(cfg, "status-check"):
        pass
    with open_reader(wh) as con:
        run_status = con.execute("SELECT status FROM runs WHERE run_id='dead-run'").fetchone()
        stage_status = con.execute(
            "SELECT status FROM run_stages WHERE run_id='dead-run'"
        ).fetchone()
    assert run_status == (ledger.INTERRUPTED,) and stage_status == (ledger.INTERRUPTED,)


def test_run_ids_sort_by_start_within_one_second() -> None:
    from datetime import UTC, datetime, timedelta

    from core.ids import sortable_id

    t0 = datetime(2026, 12, 4, 3, 0, 0, 1000, tzinfo=UTC)
    # Many tries: a random suffix alone would put the later one first about half the time.
    for ms in range(0, 999, 7):
        a = sortable_id(t0 + timedelta(milliseconds=ms))
        b = sortable_id(t0 + timedelta(milliseconds=ms + 1))
        assert a < b and len(a) == len(b) == len("20261204T030000Z-1a2b3c")
