"""The fetch layer's policy: backoff, Retry-After, the per-host gate (without a browser); the
user agent and the backoff on 429s that name no wait (against a loopback server)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from etl.fetch import (
    Fetcher,
    HostGate,
    PageSession,
    host_of,
    is_data_request,
    normal_user_agent,
    parse_retry_after,
)
from etl.scrape_config import NaverConfig, ScrapeConfig
from tests.etl.replay_helpers import needs_chromium
from tests.etl.stub_http import PAGE, Answer, StubSite


def test_data_requests_are_xhrs_and_the_scripts_a_page_names() -> None:
    jsonp = frozenset(NaverConfig().list_api_paths)
    api = "https://m.search.naver.com/p/csearch/content/nqapirender.nhn?u2=2&_callback=_x"
    assert is_data_request("xhr", "https://example.org/a", frozenset())
    assert is_data_request("document", "https://example.org/", frozenset())
    assert is_data_request("script", api, jsonp)  # Naver's list, loaded as JSONP
    assert not is_data_request("script", api, frozenset())  # a page that names none
    assert not is_data_request("script", "https://ssl.pstatic.net/KGApiScroller.js", jsonp)
    assert not is_data_request("stylesheet", api, jsonp)


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("Sun, 01 Nov 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sun, 01 Nov 2026 11:00:00 GMT", now) == 0.0  # already past
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("soon", now) is None


def test_host_is_host_and_port() -> None:
    assert host_of("http://127.0.0.1:8080/a?b") == "127.0.0.1:8080"
    assert host_of("https://search.naver.com/search.naver") == "search.naver.com"


class FakeClock:
    """Virtual time: sleeping advances it, so the gate's arithmetic is checked exactly."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def _gate(clock: FakeClock, interval: float, jitter: float = 0.0) -> HostGate:
    return HostGate(2, interval, jitter, rng=random.Random(1), clock=clock, sleep=clock.sleep)


async def _request(gate: HostGate, host: str) -> None:
    """What the fetcher does around one request: wait its turn, then report it answered."""
    await gate.wait_turn(host)
    gate.completed(host)


def test_interval_held_between_concurrent_requests() -> None:
    clock = FakeClock()
    gate = _gate(clock, 1.0, jitter=0.3)

    async def main() -> None:
        await asyncio.gather(*(_request(gate, "a") for _ in range(5)))

    asyncio.run(main())
    starts = gate.starts("a")
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 5
    assert all(1.0 <= g <= 1.3 + 1e-9 for g in gaps), gaps


def test_hosts_are_paced_independently() -> None:
    clock = FakeClock()
    gate = _gate(clock, 1.0)

    async def main() -> None:
        await _request(gate, "a")
        await _request(gate, "b")

    asyncio.run(main())
    assert gate.starts("a") == gate.starts("b") == [100.0]


def test_lost_completion_does_not_stall_the_host() -> None:
    gate = HostGate(2, 0.0, 0.0, stuck_after_s=0.05)

    async def main() -> None:
        await gate.wait_turn("h")  # its end is never reported (a page closed mid-request)
        await asyncio.wait_for(gate.wait_turn("h"), 1.0)

    asyncio.run(main())
    assert len(gate.starts("h")) == 2


def test_hold_off_delays_even_already_queued_requests() -> None:
    clock = FakeClock()
    gate = _gate(clock, 0.1)

    async def main() -> None:
        await _request(gate, "a")  # t=100
        queued = asyncio.create_task(_request(gate, "a"))  # due at t=100.1
        await asyncio.sleep(0)
        gate.hold_off("a", 5.0)  # a 429 said Retry-After: 5
        await queued

    asyncio.run(main())
    assert gate.starts("a")[1] >= 105.0


def test_slots_limit_concurrency_per_host() -> None:
    gate = HostGate(2, 0.0, 0.0)
    live = peak = 0

    async def one() -> None:
        nonlocal live, peak
        async with gate.slot("h"):
            live += 1
            peak = max(peak, live)
            await asyncio.sleep(0.01)
            live -= 1

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(6)))

    asyncio.run(main())
    assert peak == 2


def test_interval_counts_from_the_previous_answer() -> None:
    """Requests to one host never overlap, and the next is sent an interval after the previous
    one was answered: so the host sees the interval whatever the delays on the way."""
    gate = HostGate(2, 0.05, 0.0)
    order: list[str] = []

    async def probe() -> None:
        await gate.wait_turn("h")
        order.append("probe sent")
        await asyncio.sleep(0.2)  # a slow answer
        order.append("probe answered")
        gate.completed("h")

    async def follower() -> None:
        await asyncio.sleep(0.01)
        await gate.wait_turn("h")
        order.append("follower sent")

    async def main() -> None:
        await asyncio.gather(probe(), follower())

    asyncio.run(main())
    assert order == ["probe sent", "probe answered", "follower sent"]
    first, second = gate.starts("h")
    assert second - first >= 0.2 + 0.05


@pytest.mark.parametrize("interval", [0.0, 0.5])
def test_first_request_is_not_delayed(interval: float) -> None:
    clock = FakeClock()
    gate = _gate(clock, interval)
    asyncio.run(gate.wait_turn("x"))
    assert gate.starts("x") == [100.0]


# --- the user agent -----------------------------------------------------------------------

log = logging.getLogger("test.fetch")


def test_headless_user_agent_made_normal() -> None:
    headless = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/131.0.0.0 Safari/537.36"
    )
    assert normal_user_agent(headless) == headless.replace("HeadlessChrome/", "Chrome/")


def _fast(**kw: Any) -> ScrapeConfig:
    base: dict[str, Any] = {
        "min_interval_s": 0.0,
        "jitter_s": 0.0,
        "timeout_s": 5.0,
        "retries": 4,
        "backoff_base_s": 0.1,
        "backoff_max_s": 10.0,
    }
    return ScrapeConfig.model_validate(base | kw)


# The page's own request, as a site's script would send it (the body read, so it finishes).
_PAGE_FETCHES = """async ([path, n]) => {
  const out = [];
  for (let i = 0; i < n; i++) { const r = await fetch(path); await r.text(); out.push(r.status); }
  return out;
}"""


def _ua_site() -> StubSite:
    return StubSite({"/ua.json": [Answer()], "/page.html": [PAGE], "/sub.json": [Answer()]})


async def _visit(cfg: ScrapeConfig, base: str) -> Fetcher:
    """get_json, a page, and a request of the page's own."""
    async with Fetcher(cfg, log) as f:
        await f.get_json(f"{base}/ua.json")
        async with f.page(f"{base}/page.html") as ps:
            assert await ps.page.evaluate(_PAGE_FETCHES, ["/sub.json", 1]) == [200]
        major = f._ctx().browser.version.split(".")[0]  # type: ignore[union-attr]
        assert f.stats.user_agent is not None
        assert cfg.user_agent or f"Chrome/{major}." in f.stats.user_agent
    return f


@pytest.mark.browser
@needs_chromium
def test_user_agent_is_chrome_not_headless_chrome() -> None:
    with _ua_site().serving() as site:
        fetcher = asyncio.run(_visit(_fast(), site.base))
    seen = {s.path: s for s in site.seen}
    for path in ("/robots.txt", "/ua.json", "/page.html", "/sub.json"):
        ua = seen[path].user_agent
        assert "Chrome/" in ua and "HeadlessChrome" not in ua, (path, ua)
        assert ua == fetcher.stats.user_agent
        assert "Headless" not in (seen[path].sec_ch_ua or "")


@pytest.mark.browser
@needs_chromium
def test_configured_user_agent_wins() -> None:
    mine = "kreview-test/1.0 (+https://example.org/bot)"
    with _ua_site().serving() as site:
        asyncio.run(_visit(_fast(user_agent=mine), site.base))
    assert {s.path for s in site.seen} >= {"/robots.txt", "/ua.json", "/page.html", "/sub.json"}
    assert {s.user_agent for s in site.seen} == {mine}


# --- 429 without Retry-After --------------------------------------------------------------

TOO_MANY = Answer(429, "slow down", "text/plain")  # no Retry-After, as Watcha answers


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


@pytest.mark.browser
@needs_chromium
@pytest.mark.parametrize(("cap", "waits"), [(10.0, [0.1, 0.2, 0.4]), (0.25, [0.1, 0.2, 0.25])])
def test_429_without_retry_after_backs_off_exponentially(cap: float, waits: list[float]) -> None:
    site = StubSite(
        {
            "/limited.json": [TOO_MANY] * 3 + [Answer()],
            "/limited.html": [TOO_MANY] * 2 + [PAGE],
        }
    )

    async def main() -> Fetcher:
        async with Fetcher(_fast(backoff_max_s=cap, robots_txt="ignore"), log) as f:
            assert await f.get_json(f"{site.base}/limited.json") == {"ok": True}
            async with f.page(f"{site.base}/limited.html"):
                pass
        return f

    with site.serving():
        fetcher = asyncio.run(main())
    assert fetcher.stats.retry_after_waits == waits + waits[:2]
    # The host saw the retries that far apart (loopback delivery allowed a few ms).
    for path, expected in (("/limited.json", waits), ("/limited.html", waits[:2])):
        gaps = _gaps(site.times(path))
        assert len(gaps) == len(expected)
        assert all(g >= w - 0.01 for g, w in zip(gaps, expected, strict=True)), (path, gaps)


@pytest.mark.browser
@needs_chromium
def test_page_requests_429_back_off_per_host_until_a_2xx() -> None:
    site = StubSite(
        {"/page.html": [PAGE], "/sub.json": [TOO_MANY] * 3 + [Answer(), TOO_MANY, Answer()]}
    )

    async def main() -> tuple[Fetcher, list[int]]:
        async with (
            Fetcher(_fast(robots_txt="ignore"), log) as f,
            f.page(f"{site.base}/page.html") as ps,
        ):
            statuses = await ps.page.evaluate(_PAGE_FETCHES, ["/sub.json", 6])
        return f, statuses

    with site.serving():
        fetcher, statuses = asyncio.run(main())
    assert statuses == [429, 429, 429, 200, 429, 200]
    # 0.1, 0.2, 0.4 for three in a row; the 200 starts the count again.
    assert fetcher.stats.retry_after_waits == [0.1, 0.2, 0.4, 0.1]
    gaps = _gaps(site.times("/sub.json"))
    assert all(g >= w - 0.01 for g, w in zip(gaps[:3], [0.1, 0.2, 0.4], strict=True)), gaps


def test_page_429_counter_is_per_host() -> None:
    """Without a browser: the page-response listener's backoff counts per host."""
    fetcher = Fetcher(_fast(), log)
    session = PageSession(page=None, url="http://a/")  # type: ignore[arg-type]

    def respond(url: str, status: int) -> None:
        request = SimpleNamespace(
            is_navigation_request=lambda: False, resource_type="fetch", url=url
        )
        resp = SimpleNamespace(request=request, status=status, headers={}, url=url)
        fetcher._on_page_response(session, resp)  # type: ignore[arg-type]

    for url, status in [("http://a/1", 429), ("http://a/2", 429), ("http://b/1", 429)]:
        respond(url, status)
    respond("http://a/3", 200)
    respond("http://a/4", 429)
    respond("http://b/2", 429)
    assert fetcher.stats.retry_after_waits == [0.1, 0.2, 0.1, 0.1, 0.2]


def test_a_request_whose_page_closed_while_it_waited_is_reported_done() -> None:
    """Playwright's route.continue_ returns without an error once the page has closed; a
    request let through after its page's clean-up must still report its end, or the host
    waits stuck_after_s for it and the scrape counts it as lost (seen once in the suite)."""
    cfg = ScrapeConfig(min_interval_s=0.0, jitter_s=0.0)
    fetcher = Fetcher(cfg, logging.getLogger("test"), HostGate(1, 0.0, 0.0, stuck_after_s=30.0))

    class ClosedPage:  # hashable, as Playwright's objects are (the fetcher keys sets by them)
        def is_closed(self) -> bool:
            return True

    class XhrRequest:
        resource_type = "xhr"
        url = "http://reviews.example/api/list?page=2"
        frame = SimpleNamespace(page=ClosedPage())

        def is_navigation_request(self) -> bool:
            return False

    req = XhrRequest()

    async def quietly() -> None:  # what Playwright does on a closed page
        return None

    route = SimpleNamespace(request=req, continue_=quietly)

    async def scenario() -> None:
        await fetcher._route(route)  # type: ignore[arg-type]
        # the host is free again at once, not after stuck_after_s
        await asyncio.wait_for(fetcher.gate.wait_turn("reviews.example"), 2.0)

    asyncio.run(scenario())
    assert fetcher.gate.lost() == 0 and not fetcher._in_flight
