"""Fault injection on the replay site: what is retried, collected, quarantined and recorded.

Timings are read from the replay server's own request log (arrival times), so they show what
the site saw, not what the scraper believes it did.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.replay import Fault, ReplaySite
from etl.replay.faults import min_gap
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


def _statuses(site: ReplaySite, name: str, endpoint: str) -> list[int]:
    return [e.status for e in site.log.entries(name) if e.endpoint == endpoint]


def test_500s_are_retried_then_succeed(tmp_path: Path, replay: ReplaySite) -> None:
    film = film_with(replay.corpus, at_least=40)
    replay.faults.add(
        Fault("error", site="watcha", endpoint="comments", times=2),
        Fault("error", site="naver", endpoint="page", times=2, status=503),
        Fault("error", site="naver", endpoint="more", times=1),
    )
    cfg = make_cfg(tmp_path, replay, [line(film)])
    result = scrape(cfg)

    assert _statuses(replay, "watcha", "comments")[:3] == [500, 500, 200]
    assert _statuses(replay, "naver", "page") == [503, 503, 200]
    assert 500 in _statuses(replay, "naver", "more")  # a failed scroll load, re-scrolled
    assert {r["status"] for r in title_rows(cfg).values()} == {"ok"}
    assert len(raw_rows(cfg, "watcha")) == len(raw_rows(cfg, "naver")) == 30
    assert result.details["retries"] >= 4


def test_timeout_is_retried(tmp_path: Path, replay: ReplaySite) -> None:
    film = film_with(replay.corpus, at_least=40)
    replay.faults.add(
        Fault("slow", site="watcha", endpoint="comments", times=1, delay_s=1.6),
        Fault("slow", site="naver", endpoint="page", times=1, delay_s=1.6),
    )
    cfg = make_cfg(tmp_path, replay, [line(film)], scrape__timeout_s=1.0)
    result = scrape(cfg)

    assert result.details["timeouts"] == 2
    # The slow answer came too late (client gone); the repeat answered.
    assert len(_statuses(replay, "naver", "page")) == 2
    assert {r["status"] for r in title_rows(cfg).values()} == {"ok"}
    assert len(raw_rows(cfg)) == 60


def test_malformed_json_quarantined_and_bad_items_rejected(
    tmp_path: Path, replay: ReplaySite
) -> None:
    broken = film_with(replay.corpus, at_least=40)
    flaky = film_with(replay.corpus, at_least=40, exclude={broken.name})
    messy = film_with(replay.corpus, at_least=40, exclude={broken.name, flaky.name})
    replay.faults.add(
        # Always cut off: retried, then quarantined; the title fails, the others go on.
        Fault("malformed_json", site="watcha", endpoint="comments", title=broken.name),
        # Cut off once: the retry succeeds and nothing is quarantined for it.
        Fault("malformed_json", site="watcha", endpoint="comments", title=flaky.name, times=1),
        # A few unparseable reviews inside otherwise good pages.
        Fault("bad_items", site="watcha", endpoint="comments", title=messy.name, times=1),
        # On Naver: in the first list the newest-first tab loads.
        Fault("bad_items", site="naver", endpoint="more", title=messy.name, times=1),
    )
    cfg = make_cfg(tmp_path, replay, [line(broken), line(flaky), line(messy)])
    result = scrape(cfg)

    rows = title_rows(cfg)
    assert rows[("watcha", broken.name)]["status"] == "failed"
    assert "malformed JSON" in rows[("watcha", broken.name)]["error"]
    assert rows[("watcha", flaky.name)]["status"] == "ok"
    assert rows[("watcha", messy.name)]["status"] == "ok"
    assert rows[("naver", broken.name)]["status"] == "ok"  # the other site is unaffected

    q = query(cfg, "SELECT source, title_id, review_id, reason, raw FROM quarantine ORDER BY 1, 4")
    by = {(r["source"], r["reason"]): r for r in q}
    assert sorted(by) == [
        ("naver", "bad_rating"),
        ("naver", "missing_id"),
        ("watcha", "bad_rating"),
        ("watcha", "malformed_json"),
        ("watcha", "missing_text"),
    ]
    assert by[("watcha", "malformed_json")]["raw"].startswith('{"metadata": {}, "result": {')
    assert "별로" in by[("watcha", "bad_rating")]["raw"]
    assert by[("naver", "missing_id")]["raw"].startswith('<li class="area_card _item">')
    assert result.rows_rejected == len(q) == 5
    # The good reviews around the bad ones were all kept.
    messy_rows = [r for r in raw_rows(cfg, "watcha") if r["title"] == messy.name]
    assert len(messy_rows) == 30


@pytest.mark.timeout(60)
def test_unkeyed_cards_at_the_end_of_the_list_do_not_stall_scrolling(
    tmp_path: Path, replay: ReplaySite
) -> None:
    """Bad cards (one without an id) in every load, a cap above what the film has, and no
    review count on the page (the end of the list is seen only by stalls): the scroll must
    still see the list end, keep every good card, and quarantine the bad ones."""
    film = film_with(replay.corpus, at_least=20, below=60)
    replay.faults.add(Fault("bad_items", site="naver", endpoint="more", title=film.name))
    cfg = make_cfg(
        tmp_path,
        replay,
        [line(film)],
        scrape__max_per_title=100,
        scrape__retries=1,
        sources__naver__scroll_wait_s=0.3,
        sources__naver__count_selector="span.no_count_on_this_page",
    )
    scrape(cfg)

    row = title_rows(cfg)[("naver", film.name)]
    assert row["status"] == "ok" and row["collected"] == film.count("naver")
    reasons = {r["reason"] for r in query(cfg, "SELECT reason FROM quarantine")}
    assert reasons == {"missing_id", "bad_rating"}


def test_changed_markup_fails_the_title_naming_source_and_selector(
    tmp_path: Path, replay: ReplaySite
) -> None:
    changed = film_with(replay.corpus, at_least=40)
    fine = film_with(replay.corpus, at_least=40, exclude={changed.name})
    replay.faults.add(
        Fault("markup_changed", site="naver", endpoint="page", title=changed.name),
        Fault("markup_changed", site="watcha", endpoint="comments", title=changed.name),
    )
    cfg = make_cfg(tmp_path, replay, [line(changed), line(fine)])
    scrape(cfg)

    rows = title_rows(cfg)
    naver_err = rows[("naver", changed.name)]["error"]
    watcha_err = rows[("watcha", changed.name)]["error"]
    assert rows[("naver", changed.name)]["status"] == "failed"
    # The cards still match; their id moved. Named, and failed on the first page: no list
    # request (no 최신순, no scrolling) for that title.
    assert "naver: selector 'data-rating-id' matched nothing usable in any of 10" in naver_err
    assert [e.endpoint for e in replay.log.entries("naver") if e.title == changed.name] == ["page"]
    assert "watcha: selector 'text' matched nothing usable" in watcha_err
    comments = [e for e in replay.log.entries("watcha") if e.endpoint == "comments"]
    assert len([e for e in comments if e.title == changed.name]) == 1
    # Not an empty success, and the next title went on.
    assert rows[("naver", changed.name)]["collected"] == 0
    assert rows[("naver", fine.name)]["status"] == rows[("watcha", fine.name)]["status"] == "ok"


def test_every_title_failing_fails_the_stage(tmp_path: Path, replay: ReplaySite) -> None:
    film = film_with(replay.corpus, at_least=40)
    replay.faults.add(Fault("error", status=503))
    cfg = make_cfg(tmp_path, replay, [line(film)], scrape__retries=1)
    with pytest.raises(StageFailed, match=r"naver: 1 of 1 titles failed.*watcha: 1 of 1"):
        scrape(cfg)
    # Still recorded, per title, with the reason.
    assert {r["status"] for r in title_rows(cfg).values()} == {"failed"}


def test_a_naver_list_that_keeps_failing_fails_the_title_after_its_tries(
    tmp_path: Path, replay: ReplaySite
) -> None:
    """Every list request failing: 최신순 is clicked ``retries + 1`` times, then the title
    fails. The first one answered, the others failing: the scroll gives up after as many."""
    unsorted = film_with(replay.corpus, at_least=40)
    cut = film_with(replay.corpus, at_least=40, exclude={unsorted.name})
    replay.faults.add(
        Fault("error", site="naver", endpoint="more", title=unsorted.name),
        Fault("error", site="naver", endpoint="more", title=cut.name, after=1),
    )
    cfg = make_cfg(tmp_path, replay, [line(unsorted), line(cut)], scrape__retries=1)
    with pytest.raises(StageFailed, match=r"naver: 2 of 2 titles failed"):
        scrape(cfg)

    unsorted_row, cut_row = (title_rows(cfg)[("naver", f.name)] for f in (unsorted, cut))
    assert unsorted_row["status"] == cut_row["status"] == "failed"
    assert "could not switch to newest first after 2 tries" in unsorted_row["error"]
    assert "loading more reviews failed: HTTP 500 after 2 tries" in cut_row["error"]
    assert title_rows(cfg)[("watcha", cut.name)]["status"] == "ok"


def test_429_retry_after_is_honoured(tmp_path: Path, replay: ReplaySite) -> None:
    film = film_with(replay.corpus, at_least=40)
    replay.faults.add(
        Fault("rate_limit", site="watcha", endpoint="comments", times=1, retry_after_s=1),
        Fault("rate_limit", site="naver", endpoint="more", times=1, retry_after_s=1),
    )
    cfg = make_cfg(tmp_path, replay, [line(film)])
    result = scrape(cfg)

    for site in ("watcha", "naver"):
        log = replay.log.entries(site)
        i = next(i for i, e in enumerate(log) if e.status == 429)
        # Nothing reached the host until Retry-After had passed.
        assert log[i + 1].t - log[i].t >= 1.0, site
    assert result.details["retry_after_waits_s"] == [1.0, 1.0]
    assert {r["status"] for r in title_rows(cfg).values()} == {"ok"}
    assert len(raw_rows(cfg)) == 60


def test_per_host_interval_held(tmp_path: Path, replay: ReplaySite) -> None:
    films = [film_with(replay.corpus, at_least=40)]
    for _ in range(2):
        films.append(film_with(replay.corpus, at_least=40, exclude={f.name for f in films}))
    cfg = make_cfg(
        tmp_path,
        replay,
        [line(f) for f in films],
        scrape__min_interval_s=0.2,
        scrape__jitter_s=0.05,
        scrape__max_concurrency_per_host=2,
    )
    result = scrape(cfg)

    for site in ("watcha", "naver"):
        entries = replay.log.entries(site)
        arrivals = [e.t for e in entries]
        assert len(arrivals) >= 6
        # The server saw no two requests to one host closer than the interval (a few ms of
        # loopback delivery jitter allowed; the gate's own starts are held exactly). Seen once
        # at 0.106 s on a loaded machine (2026-12-07, the suite beside training), cause not
        # found: the message lists the requests, so that a next failure says which two.
        seen = "; ".join(f"{e.t - arrivals[0]:.3f} {e.endpoint} {e.path[:60]}" for e in entries)
        assert min_gap(arrivals) >= 0.2 - 0.01, f"{site}: {seen}"
    gaps = result.details["host_min_gap_s"]
    assert len(gaps) == 2 and all(gap >= 0.2 for gap in gaps.values())
    # Every page request's end was matched to its start (none written off as lost).
    assert result.details["lost_completions"] == 0
