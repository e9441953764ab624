"""robots.txt: read once per host, reported, and obeyed or not as ``scrape.robots_txt`` says.

The policies follow Scrapy's ``ROBOTSTXT_OBEY`` convention, with a middle way:

- ``obey``: a URL robots.txt disallows for us is not fetched; the request fails with
  :class:`etl.fetch.RobotsDisallowed`, which names robots.txt and the rule.
- ``warn``: it is fetched; a warning is logged once per host and rule, and every hit counted.
- ``ignore``: robots.txt is not even read.

What a robots.txt answer means follows RFC 9309 §2.3.1: 2xx is parsed; any other 4xx
(401 and 403 included) means there are no rules; 429, 5xx and network errors mean the file
is *unreachable*, which RFC 9309 says to treat as "disallow everything" (``obey`` does; ``warn``
reports it and goes on).

Parsing and matching are the stdlib's :mod:`urllib.robotparser`: rules are prefixes, the first
rule that matches in the group decides (not the longest), and ``*``/``$`` wildcards are taken
literally. Groups apply to us when they name ``*`` or our product token :data:`ROBOTS_AGENT`.

This module does no I/O of its own: :class:`RobotsGuard` is handed the fetch function (the
Fetcher's, which paces it through the host gate like any request).
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.robotparser import RobotFileParser

RobotsPolicy = Literal["obey", "warn", "ignore"]
# The product token matched against robots.txt `User-agent:` lines. Our HTTP User-Agent is a
# browser's, which names no crawler; a site that wants to address this tool writes this token.
ROBOTS_AGENT = "kreview"

Outcome = Literal["rules", "none", "unreachable"]


@dataclass(frozen=True)
class RobotsAnswer:
    """What fetching one robots.txt gave: an HTTP status and body, or an error (no status)."""

    status: int | None
    body: str = ""
    error: str | None = None


def robots_url(url: str) -> str:
    """``scheme://host[:port]/robots.txt`` of the site ``url`` is on."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


def robots_key(url: str) -> str:
    """The host (``host:port``) a robots.txt governs; the key of its report."""
    return urllib.parse.urlsplit(url).netloc


def outcome_of(answer: RobotsAnswer) -> Outcome:
    """RFC 9309 §2.3.1: 2xx has rules; other 4xx has none; 429, 5xx or no answer: unreachable.
    (1xx/3xx left after redirects were followed: treated as unavailable, i.e. no rules.)"""
    status = answer.status
    if status is None or status == 429 or status >= 500:
        return "unreachable"
    if 200 <= status < 300:
        return "rules"
    return "none"


def parse_robots(text: str) -> RobotFileParser:
    parser = RobotFileParser()
    parser.parse(text.splitlines())
    return parser


def _path_of(url: str) -> str:
    """The URL as robotparser matches it: path, params and query, decoded then re-quoted."""
    parsed = urllib.parse.urlparse(urllib.parse.unquote(url))
    path = urllib.parse.urlunparse(("", "", parsed.path, parsed.params, parsed.query, ""))
    return urllib.parse.quote(path) or "/"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    # The rule that decided ("Disallow: /api"), "unreachable", or None when nothing matched.
    rule: str | None = None


def decide(parser: RobotFileParser, url: str, agent: str = ROBOTS_AGENT) -> Verdict:
    """Whether robots.txt lets ``agent`` fetch ``url``, and the rule that said so."""
    allowed = parser.can_fetch(agent, url)
    return Verdict(allowed, _deciding_rule(parser, url, agent))


def _deciding_rule(parser: RobotFileParser, url: str, agent: str) -> str | None:
    # The same walk as RobotFileParser.can_fetch (first group that names the agent, else the
    # `*` group; first rule that matches), kept to say *which* rule decided.
    entries = [e for e in parser.entries if e.applies_to(agent)]
    if not entries and parser.default_entry is not None:
        entries = [parser.default_entry]
    path = _path_of(url)
    for entry in entries[:1]:
        for rule in entry.rulelines:
            if rule.applies_to(path):
                return str(rule)
    return None


@dataclass
class RobotsReport:
    """What one host's robots.txt said, and what we did about it (exposed in FetchStats)."""

    url: str
    outcome: Outcome
    status: int | None
    error: str | None = None
    crawl_delay_s: float | None = None
    # URLs robots.txt disallowed that were asked for, per deciding rule.
    disallowed: Counter[str] = field(default_factory=Counter)
    # Of those, how many were refused (policy "obey"); the rest were fetched anyway.
    refused: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "url": self.url,
            "outcome": self.outcome,
            "status": self.status,
            "error": self.error,
            "crawl_delay_s": self.crawl_delay_s,
            "disallowed_hits": sum(self.disallowed.values()),
            "disallowed_by_rule": dict(self.disallowed),
            "refused": self.refused,
        }


@dataclass(frozen=True)
class Check:
    """Whether a URL may be fetched; ``reason`` says why not (for the error message)."""

    fetch: bool
    reason: str = ""


class RobotsGuard:
    """Reads each host's robots.txt once (concurrent callers share one fetch), then checks
    URLs against it per policy. ``reports`` (host → :class:`RobotsReport`) is filled as it goes."""

    def __init__(
        self,
        policy: RobotsPolicy,
        fetch: Callable[[str], Awaitable[RobotsAnswer]],
        log: logging.LoggerAdapter[logging.Logger] | logging.Logger,
        reports: dict[str, RobotsReport] | None = None,
        agent: str = ROBOTS_AGENT,
    ) -> None:
        self.policy = policy
        self.agent = agent
        self.reports: dict[str, RobotsReport] = {} if reports is None else reports
        self._fetch = fetch
        self._log = log
        self._parsers: dict[str, RobotFileParser | None] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._warned: set[tuple[str, str]] = set()

    async def check(self, url: str) -> Check:
        if self.policy == "ignore":
            return Check(True)
        host = robots_key(url)
        parser = await self._rules(url, host)
        report = self.reports[host]
        if report.outcome == "unreachable":
            verdict = Verdict(False, "unreachable")
        elif parser is None:
            return Check(True)
        else:
            verdict = decide(parser, url, self.agent)
            if verdict.allowed:
                return Check(True)
        rule = verdict.rule or "?"
        report.disallowed[rule] += 1
        if rule == "unreachable":
            why = (
                f"robots.txt at {report.url} could not be read ({report.error}); "
                "RFC 9309 says to assume everything is disallowed"
            )
        else:
            why = f"robots.txt at {report.url} disallows it for {self.agent!r} ({rule})"
        if self.policy == "obey":
            report.refused += 1
            return Check(False, f"{why}; not fetched (scrape.robots_txt = 'obey')")
        if (host, rule) not in self._warned:
            self._warned.add((host, rule))
            self._log.warning(
                "%s: %s; fetching anyway (scrape.robots_txt = 'warn'; set 'obey' to skip such "
                "URLs); further hits of this rule are only counted",
                url,
                why,
            )
        return Check(True)

    async def _rules(self, url: str, host: str) -> RobotFileParser | None:
        lock = self._locks.setdefault(host, asyncio.Lock())
        async with lock:
            if host not in self._parsers:
                where = robots_url(url)
                self._parsers[host] = self._read(where, host, await self._fetch(where))
        return self._parsers[host]

    def _read(self, url: str, host: str, answer: RobotsAnswer) -> RobotFileParser | None:
        outcome = outcome_of(answer)
        error = answer.error or (f"HTTP {answer.status}" if outcome == "unreachable" else None)
        report = self.reports[host] = RobotsReport(url, outcome, answer.status, error)
        if outcome != "rules":
            self._log.info("robots.txt %s: %s (%s)", url, outcome, error or answer.status)
            return None
        parser = parse_robots(answer.body)
        delay = parser.crawl_delay(self.agent)
        report.crawl_delay_s = float(delay) if delay is not None else None
        self._log.info(
            "robots.txt %s: HTTP %s, %d groups%s",
            url,
            answer.status,
            len(parser.entries) + (parser.default_entry is not None),
            f", crawl-delay {delay}s" if delay is not None else "",
        )
        return parser
