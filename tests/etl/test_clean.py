from __future__ import annotations

from datetime import timedelta

import pyarrow.parquet as pq
import pytest

from core.catalog import open_reader
from core.warehouse import Warehouse
from etl import clean
from jobs.config import AppConfig
from jobs.runner import Run
from tests.etl.rawdata import T0, record, write_raw


def run_clean(cfg: AppConfig):
    with Run(cfg, "clean", show_progress=False) as run:
        return run.stage("clean", clean.run)


def table(cfg: AppConfig, sql: str) -> list[tuple]:
    with open_reader(Warehouse(cfg.warehouse.root)) as con:
        return con.execute(sql).fetchall()


SPAM = "지금 바로 무료로 최신 영화 다시보기 가능한 사이트 알려드림 ㅋㅋ"


@pytest.fixture
def raw_batch(cfg: AppConfig):
    raw_dir = Warehouse(cfg.warehouse.root).ensure().raw_dir
    recs = [
        record("1", "감동ㅠㅠㅠㅠ 최고!!!!!"),
        record("2", "무서워요 ㄷㄷㄷㄷ 진짜 잘만듦", rating=10.0),
        record("3", "6.3점 준다. 배우 연기는 좋음"),
        record("4", "   "),  # empty after normalization
        record("5", "This movie was great, loved it"),  # not Korean
        record("6", "평점 테러", rating=11.0),  # out of range
        record("7", SPAM, title_id="t-a"),
        record("8", SPAM, title_id="t-b"),
        record("9", SPAM, title_id="t-c"),
        record("10", "재밌어요", title_id="t-a"),  # short repeats are not spam
        record("11", "재밌어요", title_id="t-b"),
        record("12", "재밌어요", title_id="t-c"),
        # the same review scraped twice in one batch: counted once
        record("1", "감동ㅠㅠㅠㅠ 최고!!!!!", scraped_at=T0 - timedelta(hours=1)),
    ]
    write_raw(raw_dir, "run1-0", recs)
    return raw_dir


def test_clean_keeps_quarantines_and_counts(cfg: AppConfig, raw_batch) -> None:
    result = run_clean(cfg)
    assert result.rows_in == 13
    kept = dict(table(cfg, "SELECT review_id, text_norm FROM reviews"))
    assert set(kept) == {"1", "2", "3", "10", "11", "12"}
    assert kept["1"] == "감동ㅠㅠ 최고!!"
    assert "6.3점" in kept["3"]
    reasons = dict(table(cfg, "SELECT review_id, reason FROM quarantine"))
    assert reasons == {
        "4": "empty_after_normalization",
        "5": "not_korean",
        "6": "rating_out_of_range",
        "7": "spam",
        "8": "spam",
        "9": "spam",
    }
    assert result.rows_out == 6 and result.rows_rejected == 6
    raw_kept = table(cfg, "SELECT text_raw, text_rating FROM reviews WHERE review_id = '3'")
    assert raw_kept == [("6.3점 준다. 배우 연기는 좋음", pytest.approx(6.3))]


def test_clean_twice_gives_identical_tables(cfg: AppConfig, raw_batch) -> None:
    run_clean(cfg)
    reviews = table(cfg, "SELECT * FROM reviews ORDER BY source, review_id")
    q_sql = "SELECT * EXCLUDE (run_id, quarantined_at) FROM quarantine ORDER BY ALL"
    quarantine = table(cfg, q_sql)
    second = run_clean(cfg)
    assert second.rows_in == 0 and second.details["files"] == 0
    assert table(cfg, "SELECT * FROM reviews ORDER BY source, review_id") == reviews
    assert table(cfg, q_sql) == quarantine


def test_edited_review_updates_one_row_and_raw_keeps_history(cfg: AppConfig, raw_batch) -> None:
    run_clean(cfg)
    before = dict(table(cfg, "SELECT review_id, text_raw FROM reviews"))
    edited = record(
        "2",
        "다시 보니 별로네요",
        rating=4.0,
        scraped_at=T0 + timedelta(days=1),
        run_id="20261102T030000Z-bbbbbb",
    )
    write_raw(raw_batch, "run2-0", [edited])
    result = run_clean(cfg)
    assert result.rows_in == 1 and result.rows_out == 1
    after = dict(table(cfg, "SELECT review_id, text_raw FROM reviews"))
    assert after["2"] == "다시 보니 별로네요"
    assert {k: v for k, v in after.items() if k != "2"} == {
        k: v for k, v in before.items() if k != "2"
    }
    runs = table(
        cfg, "SELECT first_seen_run, last_seen_run, rating FROM reviews WHERE review_id='2'"
    )
    assert runs == [("20261101T030000Z-aaaaaa", "20261102T030000Z-bbbbbb", 4.0)]
    texts = set()
    for path in raw_batch.rglob("*.parquet"):
        texts |= {r["text"] for r in pq.read_table(path).to_pylist() if r["review_id"] == "2"}
    assert texts == {"무서워요 ㄷㄷㄷㄷ 진짜 잘만듦", "다시 보니 별로네요"}


def test_older_version_arriving_late_does_not_win(cfg: AppConfig, raw_batch) -> None:
    run_clean(cfg)
    stale = record("1", "옛날 버전", scraped_at=T0 - timedelta(days=10))
    write_raw(raw_batch, "late-0", [stale])
    run_clean(cfg)
    assert table(cfg, "SELECT text_norm FROM reviews WHERE review_id='1'") == [("감동ㅠㅠ 최고!!",)]


def test_truncation_is_flagged(cfg: AppConfig) -> None:
    raw_dir = Warehouse(cfg.warehouse.root).ensure().raw_dir
    write_raw(raw_dir, "long-0", [record("long", "가" * 5000)])
    run_clean(cfg)
    ((length, truncated, raw_len),) = table(
        cfg, "SELECT length, truncated, length(text_raw) FROM reviews"
    )
    assert truncated is True and length <= cfg.clean.max_chars and raw_len == 5000


def _three_files(raw_dir) -> None:
    """Review 1 in all three files (edited twice), review 2 in two, with rejects between."""
    early, late = "20261101T030000Z-aaaaaa", "20261102T030000Z-bbbbbb"
    write_raw(
        raw_dir, "run1-0", [record("1", "처음 버전 좋아요", run_id=early), record("2", "괜찮음")]
    )
    write_raw(
        raw_dir,
        "run1-1",
        [
            record("1", "두번째 버전 ㅋㅋㅋㅋ", run_id=late, scraped_at=T0 + timedelta(hours=2)),
            record("3", "English only text here"),
        ],
    )
    write_raw(
        raw_dir,
        "run1-2",
        [
            # an older copy of review 1 arriving in a later file loses
            record("1", "처음 버전 좋아요", run_id=early, scraped_at=T0 - timedelta(hours=5)),
            record("2", "괜찮음 수정함", scraped_at=T0 + timedelta(hours=1)),
            record("4", "재밌어요"),
        ],
    )


@pytest.mark.parametrize("row_group_rows", [1, 2, clean.ROW_GROUP_ROWS])
@pytest.mark.parametrize("chunk_rows", [1, 2, 100_000])
def test_chunked_clean_equals_one_pass(
    tmp_path, clean_env, monkeypatch, chunk_rows: int, row_group_rows: int
) -> None:
    """Files cleaned in several chunks (normalized ahead in a worker thread) give the tables a
    single chunk gives: the latest version wins across chunks, first_seen_run is the first.
    With small row groups, rows short of a whole group wait for the next chunk's insert and
    none is lost at the end."""
    from jobs.config import load_config

    monkeypatch.setattr(clean, "ROW_GROUP_ROWS", row_group_rows)

    cfg = load_config(
        env={}, overrides={"warehouse.root": tmp_path / "wh", "clean.chunk_rows": chunk_rows}
    )
    _three_files(Warehouse(cfg.warehouse.root).ensure().raw_dir)
    result = run_clean(cfg)
    assert result.rows_in == 7
    assert result.details["chunks"] == (3 if chunk_rows <= 2 else 1)
    rows = table(
        cfg, "SELECT review_id, text_norm, first_seen_run, last_seen_run FROM reviews ORDER BY 1"
    )
    assert rows == [
        ("1", "두번째 버전 ㅋㅋ", "20261101T030000Z-aaaaaa", "20261102T030000Z-bbbbbb"),
        ("2", "괜찮음 수정함", "20261101T030000Z-aaaaaa", "20261101T030000Z-aaaaaa"),
        ("4", "재밌어요", "20261101T030000Z-aaaaaa", "20261101T030000Z-aaaaaa"),
    ]
    assert table(cfg, "SELECT review_id, reason FROM quarantine") == [("3", "not_korean")]
    assert result.details["duplicates_in_batch"] == 3


def test_latest_rows_pick_the_newest_version_and_keep_the_first_run() -> None:
    import polars as pl

    keys = pl.DataFrame([record(str(i), f"리뷰 {i}") for i in range(5)]).select(
        "source", "review_id", "scraped_at", "run_id", pl.lit(0, pl.Int32).alias("__file")
    )
    assert clean.latest_rows(keys) is None  # no review twice: every row is its latest
    newer = keys.with_columns(
        pl.col("scraped_at") + timedelta(hours=1),
        run_id=pl.lit("z-run"),
        __file=pl.lit(1, pl.Int32),
    )
    winners = clean.latest_rows(pl.concat([keys, newer])).sort("__row")
    assert winners["__file"].to_list() == [1] * 5  # the second file's versions win
    assert winners["__row"].to_list() == [0, 1, 2, 3, 4]
    assert set(winners["first_seen_run"]) == {"20261101T030000Z-aaaaaa"}
