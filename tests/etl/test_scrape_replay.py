"""The scrape stage against the replay site, in real headless Chromium: what lands in raw,
in scrape_titles and in the ledger; incremental re-runs; the CLI."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from core.warehouse import Warehouse
from etl.raw_schema import RAW_SCHEMA
from etl.replay import Fault, ReplaySite
from etl.replay.corpus import MISSING_TITLE
from etl.titles import title_id
from jobs.runner import StageFailed
from tests.etl.replay_helpers import (
    film_with,
    line,
    make_cfg,
    needs_chromium,
    query,
    raw_rows,
    scrape,
    title_rows,
)

pytestmark = [pytest.mark.browser, needs_chromium]


def test_collects_both_sites_into_raw_parquet(tmp_path: Path, replay: ReplaySite) -> None:
    big = film_with(replay.corpus, at_least=60)
    few = film_with(replay.corpus, below=10)
    cfg = make_cfg(tmp_path, replay, [line(big), line(few), MISSING_TITLE])
    scrape(cfg)
    run_id = query(cfg, "SELECT run_id FROM runs")[0]["run_id"]

    # One file per source and title collected (written as the title finished), named by the
    # run and the title, exactly the raw contract's schema.
    files = sorted(Warehouse(cfg.warehouse.root).raw_dir.rglob("*.parquet"))
    assert sorted((f.parent.parent.name, f.name) for f in files) == sorted(
        (f"source={source}", f"{run_id}-{title_id(film.name, film.year)}.parquet")
        for source in ("naver", "watcha")
        for film in (big, few)
    )
    assert all(pq.read_schema(f).equals(RAW_SCHEMA) for f in files)
    assert not list(Warehouse(cfg.warehouse.root).raw_dir.rglob("*.tmp"))

    for source in ("naver", "watcha"):
        rows = raw_rows(cfg, source)
        by_title = {t: [r for r in rows if r["title"] == t] for t in (big.name, few.name)}
        # Capped at max_per_title (30), newest first; a small title gives all it has.
        expected = replay.corpus.reviews(source, big)[:30]
        assert [r["review_id"] for r in by_title[big.name]] == [r.review_id for r in expected]
        assert len(by_title[few.name]) == few.count(source)
        truth = {r.review_id: r for r in replay.corpus.reviews(source, big)}
        for row in by_title[big.name]:
            review = truth[row["review_id"]]
            assert row["text"] == review.text  # exactly as shown, line breaks and emoji kept
            assert row["rating"] == review.rating  # 1–10 on both sites, as they give it
            assert row["written_at"] == review.written_at
            assert row["author_hash"] and review.author not in row["author_hash"]
            assert row["run_id"] == run_id

    statuses = {k: v["status"] for k, v in title_rows(cfg).items()}
    assert statuses == {
        ("naver", big.name): "ok",
        ("watcha", big.name): "ok",
        ("naver", few.name): "too_few",
        ("watcha", few.name): "too_few",
        ("naver", MISSING_TITLE): "not_found",
        ("watcha", MISSING_TITLE): "not_found",
    }
    rows = title_rows(cfg)
    assert rows[("watcha", big.name)]["source_title_id"] == big.watcha_code
    assert rows[("naver", big.name)]["source_title_id"] == big.naver_os
    assert rows[("naver", few.name)]["total"] == few.count("naver")

    stage = query(cfg, "SELECT rows_out, rows_rejected, status FROM run_stages")
    assert stage == [
        {
            "rows_out": 60 + few.count("naver") + few.count("watcha"),
            "rows_rejected": 0,
            "status": "succeeded",
        }
    ]


def test_rerun_collects_only_new_reviews(tmp_path: Path, replay: ReplaySite) -> None:
    film = film_with(replay.corpus, at_least=80)
    cfg = make_cfg(tmp_path, replay, [line(film)])
    scrape(cfg)
    first = {s: {r["review_id"] for r in raw_rows(cfg, s)} for s in ("naver", "watcha")}
    assert all(len(ids) == 30 for ids in first.values())

    replay.corpus.add_reviews(film.name, 4, film.year)
    replay.log.clear()
    result = scrape(cfg)

    assert result.rows_out == 8  # the 4 new reviews on each site, nothing else
    for source in ("naver", "watcha"):
        rows = raw_rows(cfg, source)
        ids = [r["review_id"] for r in rows]
        assert len(ids) == len(set(ids)) == 34  # nothing duplicated
        assert first[source] <= set(ids)  # nothing lost
        newest = [r.review_id for r in replay.corpus.reviews(source, film)[:4]]
        assert set(ids) - first[source] == set(newest)
    # It stopped at the first known review: one comments page on Watcha (after the site's
    # page, the search, the title's page), no scrolling on Naver (the page, then 최신순).
    assert [e.endpoint for e in replay.log.entries("watcha")] == [
        "page", "search", "page", "comments"
    ]  # fmt: skip
    assert [e.endpoint for e in replay.log.entries("naver")] == ["page", "more"]
    row = title_rows(cfg)[("watcha", film.name)]
    assert (row["collected"], row["total"], row["status"]) == (4, 34, "ok")


def test_title_failed_midway_resumes_next_run(tmp_path: Path, replay: ReplaySite) -> None:
    film = film_with(replay.corpus, at_least=80)
    cfg = make_cfg(tmp_path, replay, [line(film)], scrape__max_per_title=50)
    # Page 1 answers, every later page fails: the title fails with 20 reviews kept.
    replay.faults.add(Fault("error", site="watcha", endpoint="comments", title=film.name, after=1))
    # Its only title failed on Watcha: the stage fails, after keeping what came before.
    with pytest.raises(StageFailed, match="watcha: 1 of 1 titles failed"):
        scrape(cfg)
    row = title_rows(cfg)[("watcha", film.name)]
    assert (row["status"], row["collected"], row["complete"]) == ("failed", 20, False)
    assert "HTTP 500" in row["error"]

    replay.faults.clear()
    scrape(cfg)
    ids = [r["review_id"] for r in raw_rows(cfg, "watcha")]
    # Resumed past the known reviews up to the cap, without duplicating them.
    assert len(ids) == len(set(ids)) == 50
    assert set(ids) == {r.review_id for r in replay.corpus.reviews("watcha", film)[:50]}


def test_cli_prints_summary(
    tmp_path: Path, replay: ReplaySite, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs.cli import app  # imports every command module

    film = film_with(replay.corpus, at_least=40)
    titles = tmp_path / "t.txt"
    titles.write_text(line(film) + "\n", encoding="utf-8")
    for key, value in replay.env().items():
        monkeypatch.setenv(key, value)
    for key, value in {"SCRAPE__MIN_INTERVAL_S": "0.05", "SCRAPE__JITTER_S": "0"}.items():
        monkeypatch.setenv("KREVIEW_" + key, value)
    result = CliRunner().invoke(
        app,
        [
            "-q",
            "-w",
            str(tmp_path / "wh"),
            "scrape",
            "--source",
            "watcha",
            "--titles",
            str(titles),
            "--max-per-title",
            "25",
            "--min-per-title",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "watcha" in result.output and "naver" not in result.output.split("requests")[0]
    rows = raw_rows(make_cfg(tmp_path, replay, [line(film)]))
    assert len(rows) == 25 and {r["source"] for r in rows} == {"watcha"}
