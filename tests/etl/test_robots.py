"""robots.txt (issue 18 §8): parsing and the decision without a browser, then the Fetcher
obeying, warning about and ignoring it against a loopback server."""

from __future__ import annotations

import asyncio
import logging

import pytest

from etl.robots import (
    RobotsAnswer,
    RobotsGuard,
    Verdict,
    decide,
    outcome_of,
    parse_robots,
    robots_url,
)
from etl.scrape_config import ScrapeConfig
from tests.etl.replay_helpers import needs_chromium
from tests.etl.stub_http import PAGE, Answer, StubSite

ROBOTS = """\
# a comment
User-agent: Googlebot
Disallow: /

User-agent: *
Allow: /private/open
Disallow: /private/
Crawl-delay: 3
"""

log = logging.getLogger("test.robots")


# --- pure: parsing and the decision -------------------------------------------------------


def test_robots_url_is_per_scheme_host_and_port() -> None:
    assert robots_url("https://pedia.watcha.com/api/x?y=1") == "https://pedia.watcha.com/robots.txt"
    assert robots_url("http://127.0.0.1:8080/a/b") == "http://127.0.0.1:8080/robots.txt"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "rules"),
        (404, "none"),
        (403, "none"),  # RFC 9309: any 4xx means no rules (the stdlib's read() says all-deny)
        (401, "none"),
        (429, "unreachable"),
        (503, "unreachable"),
        (None, "unreachable"),  # timeout, connection refused
    ],
)
def test_outcome_by_status(status: int | None, outcome: str) -> None:
    assert outcome_of(RobotsAnswer(status)) == outcome


def test_decide_names_the_deciding_rule() -> None:
    parser = parse_robots(ROBOTS)
    denied = decide(parser, "https://h/private/data.json?page=2")
    assert denied.allowed is False and denied.rule == "Disallow: /private/"
    opened = decide(parser, "https://h/private/open/x")
    assert opened.allowed is True and opened.rule == "Allow: /private/open"
    assert decide(parser, "https://h/public/x") == decide(parser, "https://h/")
    assert decide(parser, "https://h/public/x").allowed is True


def test_only_groups_naming_us_or_star_apply() -> None:
    parser = parse_robots(ROBOTS)
    # The Googlebot group disallows everything, but it is not ours.
    assert decide(parser, "https://h/public").allowed is True
    assert decide(parser, "https://h/public", agent="Googlebot").allowed is False
    # A group naming our token wins over `*`.
    ours = parse_robots("User-agent: kreview\nDisallow: /mine\n\nUser-agent: *\nDisallow: /\n")
    assert decide(ours, "https://h/other").allowed is True
    assert decide(ours, "https://h/mine/1") == Verdict(False, "Disallow: /mine")


def test_empty_robots_allows_everything() -> None:
    assert decide(parse_robots(""), "https://h/anything").allowed is True


# --- the guard, with a fake fetch ---------------------------------------------------------


class FakeRobots:
    def __init__(self, answer: RobotsAnswer) -> None:
        self.answer = answer
        self.calls: list[str] = []

    async def __call__(self, url: str) -> RobotsAnswer:
        self.calls.append(url)
        await asyncio.sleep(0.01)  # concurrent checks overlap the fetch
        return self.answer


def _check(guard: RobotsGuard, *urls: str) -> list[tuple[bool, str]]:
    async def main() -> list[tuple[bool, str]]:
        checks = await asyncio.gather(*(guard.check(u) for u in urls))
        return [(c.fetch, c.reason) for c in checks]

    return asyncio.run(main())


def test_obey_refuses_disallowed_and_says_why() -> None:
    fetch = FakeRobots(RobotsAnswer(200, ROBOTS))
    guard = RobotsGuard("obey", fetch, log)
    (ok, _), (refused, why) = _check(guard, "https://h/public/1", "https://h/private/2")
    assert ok is True and refused is False
    assert "robots.txt at https://h/robots.txt disallows it" in why
    assert "Disallow: /private/" in why and "scrape.robots_txt = 'obey'" in why
    report = guard.reports["h"]
    assert (report.outcome, report.status, report.refused) == ("rules", 200, 1)
    assert report.crawl_delay_s == 3.0
    assert report.as_dict()["disallowed_hits"] == 1


def test_one_fetch_per_host_however_many_ask_at_once() -> None:
    fetch = FakeRobots(RobotsAnswer(200, ROBOTS))
    guard = RobotsGuard("warn", fetch, log)
    _check(guard, *(f"https://a/x{i}" for i in range(5)), "https://b:8080/y", "https://a/z")
    assert sorted(fetch.calls) == ["https://a/robots.txt", "https://b:8080/robots.txt"]


def test_warn_fetches_logs_once_per_rule_and_counts_every_hit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = RobotsGuard("warn", FakeRobots(RobotsAnswer(200, ROBOTS)), log)
    with caplog.at_level(logging.WARNING, logger=log.name):
        checks = _check(guard, *(f"https://h/private/{i}" for i in range(3)))
    assert all(fetch for fetch, _ in checks)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Disallow: /private/" in warnings[0] and "fetching anyway" in warnings[0]
    report = guard.reports["h"]
    assert report.disallowed == {"Disallow: /private/": 3} and report.refused == 0


def test_ignore_never_reads_robots() -> None:
    fetch = FakeRobots(RobotsAnswer(200, "User-agent: *\nDisallow: /\n"))
    guard = RobotsGuard("ignore", fetch, log)
    assert _check(guard, "https://h/private/1") == [(True, "")]
    assert fetch.calls == [] and guard.reports == {}


@pytest.mark.parametrize("status", [404, 403])
def test_missing_robots_allows_all_even_under_obey(status: int) -> None:
    guard = RobotsGuard("obey", FakeRobots(RobotsAnswer(status)), log)
    assert _check(guard, "https://h/private/1") == [(True, "")]
    assert guard.reports["h"].outcome == "none"


def test_unreachable_robots_refused_under_obey_reported_under_warn() -> None:
    down = RobotsAnswer(None, error="gave up after 2 attempts: HTTP 503")
    obey = RobotsGuard("obey", FakeRobots(down), log)
    [(fetch, why)] = _check(obey, "https://h/public/1")
    assert fetch is False
    assert "robots.txt at https://h/robots.txt could not be read" in why and "HTTP 503" in why
    warn = RobotsGuard("warn", FakeRobots(down), log)
    assert _check(warn, "https://h/public/1")[0][0] is True
    assert warn.reports["h"].as_dict()["outcome"] == "unreachable"
    assert warn.reports["h"].disallowed == {"unreachable": 1}


# --- the Fetcher against a loopback server ------------------------------------------------


def _cfg(policy: str, **kw: object) -> ScrapeConfig:
    base: dict[str, object] = {
        "min_interval_s": 0.0,
        "jitter_s": 0.0,
        "timeout_s": 5.0,
        "retries": 2,
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.2,
        "robots_txt": policy,
    }
    return ScrapeConfig.model_validate(base | kw)


def _site(robots: Answer) -> StubSite:
    return StubSite(
        {
            "/robots.txt": [robots],
            "/private/data.json": [Answer(body='{"secret": 1}')],
            "/private/page.html": [PAGE],
            "/public/data.json": [Answer(body='{"public": 1}')],
        }
    )


ROBOTS_OK = Answer(body=ROBOTS, ctype="text/plain")


@pytest.mark.browser
@needs_chromium
def test_fetcher_obey_refuses_without_requesting() -> None:
    from etl.fetch import Fetcher, FetchError, RobotsDisallowed

    async def main(base: str) -> Fetcher:
        async with Fetcher(_cfg("obey"), log) as f:
            assert await f.get_json(f"{base}/public/data.json") == {"public": 1}
            with pytest.raises(RobotsDisallowed, match=r"robots\.txt .* disallows it") as exc:
                await f.get_json(f"{base}/private/data.json")
            assert isinstance(exc.value, FetchError)  # the sources catch it per title
            assert "Disallow: /private/" in str(exc.value)
            with pytest.raises(RobotsDisallowed, match=r"robots\.txt"):
                async with f.page(f"{base}/private/page.html"):
                    pass
        return f

    with _site(ROBOTS_OK).serving() as site:
        fetcher = asyncio.run(main(site.base))
    assert site.paths().count("/robots.txt") == 1
    assert "/private/data.json" not in site.paths()
    assert "/private/page.html" not in site.paths()
    report = fetcher.stats.robots[site.base.removeprefix("http://")].as_dict()
    assert report["status"] == 200 and report["refused"] == 2
    assert report["disallowed_by_rule"] == {"Disallow: /private/": 2}


@pytest.mark.browser
@needs_chromium
def test_fetcher_warn_fetches_and_reports(caplog: pytest.LogCaptureFixture) -> None:
    from etl.fetch import Fetcher

    async def main(base: str) -> Fetcher:
        async with Fetcher(_cfg("warn"), log) as f:
            assert await f.get_json(f"{base}/private/data.json") == {"secret": 1}
            assert await f.get_json(f"{base}/private/data.json") == {"secret": 1}
            async with f.page(f"{base}/private/page.html") as ps:
                assert await ps.page.title() == "stub"
        return f

    with _site(ROBOTS_OK).serving() as site, caplog.at_level(logging.WARNING, log.name):
        fetcher = asyncio.run(main(site.base))
    assert site.paths().count("/private/data.json") == 2
    assert "/private/page.html" in site.paths()
    assert site.paths().count("/robots.txt") == 1
    warnings = [r.getMessage() for r in caplog.records if "robots.txt" in r.getMessage()]
    assert len(warnings) == 1 and "fetching anyway" in warnings[0]
    report = fetcher.stats.robots[site.base.removeprefix("http://")]
    assert report.disallowed == {"Disallow: /private/": 3} and report.refused == 0


@pytest.mark.browser
@needs_chromium
def test_fetcher_ignore_never_asks_for_robots() -> None:
    from etl.fetch import Fetcher

    async def main(base: str) -> None:
        async with Fetcher(_cfg("ignore"), log) as f:
            assert await f.get_json(f"{base}/private/data.json") == {"secret": 1}
            assert f.stats.robots == {}

    with _site(ROBOTS_OK).serving() as site:
        asyncio.run(main(site.base))
    assert "/robots.txt" not in site.paths()


@pytest.mark.browser
@needs_chromium
def test_fetcher_unreachable_robots_obey_retries_then_refuses() -> None:
    from etl.fetch import Fetcher, RobotsDisallowed

    async def main(base: str, policy: str) -> Fetcher:
        async with Fetcher(_cfg(policy), log) as f:
            if policy == "obey":
                with pytest.raises(RobotsDisallowed, match=r"could not be read.*HTTP 503"):
                    await f.get_json(f"{base}/public/data.json")
            else:
                assert await f.get_json(f"{base}/public/data.json") == {"public": 1}
        return f

    down = Answer(503, "busy", "text/plain")
    with _site(down).serving() as site:
        fetcher = asyncio.run(main(site.base, "obey"))
    # Under "obey" it decides everything, so it is retried as any request (retries=2).
    assert site.paths() == ["/robots.txt"] * 3
    assert fetcher.stats.robots[site.base.removeprefix("http://")].outcome == "unreachable"

    with _site(down).serving() as site:
        fetcher = asyncio.run(main(site.base, "warn"))
    # Under "warn" one try, reported, and the data fetched anyway.
    assert site.paths() == ["/robots.txt", "/public/data.json"]
    assert fetcher.stats.robots[site.base.removeprefix("http://")].error is not None
