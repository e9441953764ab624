"""The scrapers against a replay built to the public evidence (docs/sources/): full texts,
1–10 ratings, the 403 a wrong client gets, a changed selector or scale failing loudly within
one page, exit codes, robots.txt, and a crash that loses at most the titles in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.warehouse import Warehouse
from etl.replay import Fault, ReplaySite
from etl.replay.corpus import Film
from etl.replay.render import CUT_CHARS
from etl.scrape_journal import journal_path
from jobs.runner import Run, StageFailed
from tests.etl.replay_helpers import (
    FAST,
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
CAP = 30  # max_per_title in make_cfg


def _film_where(replay: ReplaySite, site: str, wanted: str) -> Film:
    """A film whose newest CAP reviews on ``site`` include a long one, a spoiler and (Watcha)
    an improper one, as ``wanted`` lists."""
    for film in replay.corpus.films:
        newest = replay.corpus.reviews(site, film)[:CAP]
        if len(replay.corpus.reviews(site, film)) < CAP:
            continue
        checks = {
            "long": any(len(r.text) > CUT_CHARS for r in newest),
            "spoiler": any(r.spoiler for r in newest),
            "improper": any(r.improper for r in newest),
            "unrated": any(r.rating is None for r in newest),
        }
        if all(checks[w] for w in wanted.split()):
            return film
    raise LookupError(wanted)


def _kreview(
    tmp_path: Path, site: ReplaySite, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    fast = {"KREVIEW_" + k.upper().replace(".", "__"): str(v) for k, v in FAST.items()}
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", "-q", "-w", str(tmp_path / "wh"), *args],
        capture_output=True,
        text=True,
        env={**clean, **site.env(), **fast, **env},
        cwd=tmp_path,
        check=False,
        timeout=300,
    )


def test_naver_full_texts_spoilers_and_only_the_audience_pane(
    tmp_path: Path, replay: ReplaySite
) -> None:
    film = _film_where(replay, "naver", "long spoiler")
    cfg = make_cfg(tmp_path, replay, [line(film)], sources__watcha__enabled=False)
    scrape(cfg)
    rows = raw_rows(cfg, "naver")
    truth = replay.corpus.reviews("naver", film)[:CAP]
    # Exactly the 실관람객 pane's newest reviews: none of the hidden 네티즌 pane's cards.
    assert [r["review_id"] for r in rows] == [r.review_id for r in truth]
    by_id = {r.review_id: r for r in truth}
    for row in rows:
        review = by_id[row["review_id"]]
        assert row["text"] == review.text  # whole, though the card showed it cut
        assert row["rating"] == review.rating  # 1–10 as shown
        assert row["spoiler"] is review.spoiler
    assert any(len(r["text"]) > CUT_CHARS for r in rows)
    assert not any(r["text"].endswith(("...", "…")) for r in rows)
    # The spoiler switch was turned on: nothing recorded as hidden.
    assert title_rows(cfg)[("naver", film.name)]["spoiler_hidden"] == 0


def test_naver_cut_texts_are_expanded_by_clicking_when_no_full_text_attribute(
    tmp_path: Path, replay: ReplaySite
) -> None:
    film = _film_where(replay, "naver", "long")
    cfg = make_cfg(
        tmp_path,
        replay,
        [line(film)],
        sources__watcha__enabled=False,
        sources__naver__full_text_attribute="data-no-such-attribute",
    )
    scrape(cfg)
    truth = {r.review_id: r.text for r in replay.corpus.reviews("naver", film)}
    rows = raw_rows(cfg, "naver")
    assert len(rows) == CAP
    assert all(row["text"] == truth[row["review_id"]] for row in rows)
    assert not query(cfg, "SELECT * FROM quarantine WHERE reason = 'truncated_text'")


def test_naver_spoilers_left_hidden_are_recorded(tmp_path: Path, replay: ReplaySite) -> None:
    film = _film_where(replay, "naver", "spoiler")
    cfg = make_cfg(
        tmp_path,
        replay,
        [line(film)],
        sources__watcha__enabled=False,
        # A switch the page does not have (None in a test override means "not set").
        sources__naver__spoiler_switch_selector="button.no_such_switch",
    )
    scrape(cfg)
    hidden = sum(r.spoiler for r in replay.corpus.reviews("naver", film)[:CAP])
    assert title_rows(cfg)[("naver", film.name)]["spoiler_hidden"] == hidden > 0


def test_watcha_ratings_unrated_and_improper(tmp_path: Path, replay: ReplaySite) -> None:
    from etl import clean

    film = _film_where(replay, "watcha", "improper unrated")
    cfg = make_cfg(tmp_path, replay, [line(film)], sources__naver__enabled=False)
    scrape(cfg)
    truth = {r.review_id: r for r in replay.corpus.reviews("watcha", film)}
    rows = raw_rows(cfg, "watcha")
    assert len(rows) == CAP
    for row in rows:
        assert row["rating"] == truth[row["review_id"]].rating  # 1–10 as given, or null
        assert row["improper"] is truth[row["review_id"]].improper
    improper = {r["review_id"] for r in rows if r["improper"]}
    assert improper and title_rows(cfg)[("watcha", film.name)]["improper"] == len(improper)
    # The session: the site's page first (it sets the device cookie), search from there,
    # the title's page, then its comments.
    assert [e.endpoint for e in replay.log.entries("watcha")] == [
        "page", "search", "page", "comments", "comments"
    ]  # fmt: skip

    with Run(cfg, "clean", show_progress=False) as run:
        run.stage("clean", clean.run)
    quarantined = query(cfg, "SELECT review_id FROM quarantine WHERE reason = 'improper'")
    assert {q["review_id"] for q in quarantined} == improper
    kept = query(cfg, "SELECT review_id FROM reviews")
    assert not improper & {k["review_id"] for k in kept}


def test_watcha_old_client_headers_get_403_and_fail_loudly(
    tmp_path: Path, replay: ReplaySite
) -> None:
    film = film_with(replay.corpus, at_least=40)
    # The headers kreview sent before the site moved to the x-frograms-* set.
    (tmp_path / "kreview.toml").write_text(
        '[sources.watcha]\napi_headers = { "x-watcha-client" = "watcha-WebApp",'
        ' "x-watcha-client-version" = "2.1.0" }\n',
        encoding="utf-8",
    )
    proc = _kreview(
        tmp_path, replay, "scrape", "--source", "watcha", "--titles", str(_titles(tmp_path, [film]))
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]  # the error, after the run's warnings
    assert last.startswith("kreview: stage scrape failed")
    assert "not_allowed_client" in last and "docs/sources/watcha.md" in last
    assert "--probe" in last
    assert not list((tmp_path / "wh" / "raw").rglob("*.parquet"))


def test_waf_challenge_page_is_named(tmp_path: Path, replay: ReplaySite) -> None:
    film = film_with(replay.corpus, at_least=40)
    replay.faults.add(Fault("waf", site="watcha", endpoint="comments"))
    cfg = make_cfg(tmp_path, replay, [line(film)], sources__naver__enabled=False)
    with pytest.raises(StageFailed, match="watcha: 1 of 1 titles failed"):
        scrape(cfg)
    error = title_rows(cfg)[("watcha", film.name)]["error"]
    assert "HTTP 403 with an HTML page (a WAF challenge?)" in error
    # Refused is final: not retried.
    assert len([e for e in replay.log.entries("watcha") if e.endpoint == "comments"]) == 1


def test_wrong_rating_scale_fails_the_title_on_its_first_page(
    tmp_path: Path, replay: ReplaySite
) -> None:
    film = film_with(replay.corpus, at_least=60)
    cfg = make_cfg(
        tmp_path,
        replay,
        [line(film)],
        sources__naver__enabled=False,
        sources__watcha__rating_scale=2.0,
    )
    with pytest.raises(StageFailed, match="rating scale mismatch"):
        scrape(cfg)
    row = title_rows(cfg)[("watcha", film.name)]
    assert row["status"] == "failed" and row["collected"] == 0
    assert "saw values up to 10 with sources.watcha.rating_scale 2" in row["error"]
    assert not raw_rows(cfg, "watcha")  # nothing half-right kept
    assert len([e for e in replay.log.entries("watcha") if e.endpoint == "comments"]) == 1


def test_review_section_gone_everywhere_fails_instead_of_not_found(
    tmp_path: Path, replay: ReplaySite
) -> None:
    films = [film_with(replay.corpus, at_least=40)]
    films.append(film_with(replay.corpus, at_least=40, exclude={films[0].name}))
    cfg = make_cfg(
        tmp_path,
        replay,
        [line(f) for f in films],
        sources__watcha__enabled=False,
        sources__naver__scroll_container_selector="div.lego_review_list_v2",
    )
    with pytest.raises(StageFailed, match="naver: none of 2 titles was found"):
        scrape(cfg)


def test_exit_codes_follow_the_failed_share(tmp_path: Path, replay: ReplaySite) -> None:
    films = [film_with(replay.corpus, at_least=40)]
    for _ in range(2):
        films.append(film_with(replay.corpus, at_least=40, exclude={f.name for f in films}))
    replay.faults.add(Fault("markup_changed", site="naver", endpoint="page", title=films[0].name))
    titles = str(_titles(tmp_path, films))
    ok = _kreview(tmp_path, replay, "scrape", "--source", "naver", "--titles", titles)
    assert ok.returncode == 0, ok.stderr  # 1 of 3 failed: under the 0.5 share
    assert "failed naver" in ok.stdout and "data-rating-id" in ok.stdout
    strict = _kreview(
        tmp_path,
        replay,
        "scrape",
        "--source",
        "naver",
        "--titles",
        titles,
        KREVIEW_SCRAPE__MAX_FAILED_TITLE_SHARE="0",
    )
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    last = strict.stderr.strip().splitlines()[-1]
    assert last.startswith("kreview: stage scrape failed") and "1 of 3 titles failed" in last
    status = _kreview(tmp_path, replay, "status", COLUMNS="200")
    assert "selector health" in status.stdout and "data-rating-id" in status.stdout


def test_robots_txt_obeyed_collects_nothing_and_says_so(tmp_path: Path, replay: ReplaySite) -> None:
    film = film_with(replay.corpus, at_least=40)
    cfg = make_cfg(tmp_path, replay, [line(film)], scrape__robots_txt="obey")
    with pytest.raises(StageFailed, match=r"robots\.txt"):
        scrape(cfg)
    # Naver disallows everything: not even its page was asked for. Watcha disallows /api:
    # its web page was opened, no API call made.
    assert replay.log.entries("naver") == []
    assert {e.endpoint for e in replay.log.entries("watcha")} == {"page"}
    (tmp_path / "warn").mkdir()
    warned = make_cfg(tmp_path / "warn", replay, [line(film)])
    result = scrape(warned)
    robots = result.details["robots"]
    # Both hosts disallow what was asked for; under `warn` it was fetched all the same.
    assert len(robots) == 2
    for report in robots.values():
        assert report["disallowed_hits"] > 0 and report["refused"] == 0
    assert "HeadlessChrome" not in result.details["user_agent"]


def _titles(tmp_path: Path, films: list[Film]) -> Path:
    path = tmp_path / "films.txt"  # not make_cfg's titles.txt, which it rewrites
    path.write_text("".join(line(f) + "\n" for f in films), encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_killed_scrape_loses_at_most_the_titles_in_flight(
    tmp_path: Path, replay: ReplaySite
) -> None:
    films = replay.corpus.films[:8]
    titles = str(_titles(tmp_path, films))
    env = {**replay.env(), "KREVIEW_SCRAPE__MIN_INTERVAL_S": "0.3"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    args = [sys.executable, "-m", "jobs.cli", "-q", "-w", str(tmp_path / "wh"), "scrape"]
    proc = subprocess.Popen(
        [*args, "--source", "watcha", "--titles", titles], env={**clean, **env}, cwd=tmp_path
    )
    journal_dir = Warehouse(tmp_path / "wh").journal_dir
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = [p for p in journal_dir.glob("*.jsonl")]
        if done and len(done[0].read_text(encoding="utf-8").splitlines()) >= 3:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    dead_run = done[0].name.removeprefix("scrape-").removesuffix(".jsonl")
    finished = len(done[0].read_text(encoding="utf-8").splitlines())
    kept = {r["review_id"] for r in raw_rows(make_cfg(tmp_path, replay, []), "watcha")}
    assert len(kept) >= 3 * min(CAP, 20)  # the finished titles' reviews survived the kill

    replay.log.clear()
    rerun = _kreview(tmp_path, replay, "scrape", "--source", "watcha", "--titles", titles)
    assert rerun.returncode == 0, rerun.stderr
    assert not journal_path(journal_dir, dead_run).exists()  # imported, then removed
    cfg = make_cfg(tmp_path, replay, [])
    rows = raw_rows(cfg, "watcha")
    ids = [r["review_id"] for r in rows]
    assert len(ids) == len(set(ids))  # nothing collected twice
    by_run = query(cfg, "SELECT run_id, count(*) AS n FROM scrape_titles GROUP BY 1 ORDER BY 1")
    assert by_run[0] == {"run_id": dead_run, "n": finished}
    # The titles the dead run finished were not asked for again.
    searched = {e.title for e in replay.log.entries("watcha") if e.endpoint == "search"}
    assert len(searched) == len(films) - finished


def test_a_scale_mismatch_seen_late_drops_what_came_before(
    tmp_path: Path, replay: ReplaySite
) -> None:
    """Two comments a page: the first page cannot prove a wrong scale (too few ratings), the
    second does. The first page's records, doubled like the rest, must not be kept."""
    film = next(
        f
        for f in replay.corpus.films
        if f.count("watcha") >= 40
        and all(r.rating is None or r.rating <= 5 for r in replay.corpus.reviews("watcha", f)[:2])
    )  # its first page (2 comments) fits 0-10 even doubled: kept, until a later page tells
    cfg = make_cfg(
        tmp_path,
        replay,
        [line(film)],
        sources__naver__enabled=False,
        sources__watcha__rating_scale=2.0,
        sources__watcha__page_size=2,
    )
    with pytest.raises(StageFailed, match="rating scale mismatch"):
        scrape(cfg)
    assert len([e for e in replay.log.entries("watcha") if e.endpoint == "comments"]) >= 2
    assert not raw_rows(cfg, "watcha")


def test_the_end_of_a_short_list_is_seen_without_waiting_out_every_retry(
    tmp_path: Path, replay: ReplaySite
) -> None:
    """No review count on the page: the end of a list shorter than the cap is read from the
    page's list request that answers and adds nothing, not from `retries` stalls with backoff
    (4 stalls of 1 s and backoffs of 1+2+4+8 s would take 19 s)."""
    film = film_with(replay.corpus, at_least=20, below=40)
    cfg = make_cfg(
        tmp_path,
        replay,
        [line(film)],
        sources__watcha__enabled=False,
        scrape__max_per_title=100,
        scrape__retries=4,
        scrape__backoff_base_s=1.0,
        scrape__backoff_max_s=8.0,
        sources__naver__scroll_wait_s=1.0,
    )
    result = scrape(cfg)
    assert title_rows(cfg)[("naver", film.name)]["collected"] == film.count("naver")
    assert result.details["seconds"] < 8
