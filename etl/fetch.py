"""Fetching with Playwright, politely: the only module that talks to the network.

Separate from the site modules (which know URLs and parse payloads), as in scrapy-playwright:

- :class:`HostGate` — per host, at most N requests/pages in flight and a minimum interval
  (plus jitter) between the starts of two requests; a 429's Retry-After holds the whole host.
- :class:`Fetcher` — one headless system Chromium; JSON over Playwright's request context
  (cookies shared with the browser) and pages whose own requests pass through the gate too.
  Retries 429, 5xx, timeouts, network errors and undecodable JSON with capped exponential
  backoff; other 4xx fail at once. A 429 naming no Retry-After holds the host for a backoff
  that grows with the attempt (page requests: with the host's run of 429s).
- A real browser user agent (headless Chromium's own says ``HeadlessChrome``), and robots.txt
  read per host and obeyed, warned about or ignored as ``scrape.robots_txt`` says
  (:mod:`etl.robots`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from core.retry import Backoff, backoff_delay
from etl.robots import RobotsAnswer, RobotsGuard, RobotsReport
from etl.scrape_config import ScrapeConfig

# Requests of these kinds carry data and are paced; scripts and stylesheets load freely,
# except the scripts a page names as its data (JSONP: see `is_data_request`).
GATED_RESOURCE_TYPES = frozenset({"document", "xhr", "fetch"})


def is_data_request(resource_type: str, url: str, data_script_paths: frozenset[str]) -> bool:
    """Whether a page's request carries the site's data: paced by the host gate, its status
    read as the page's answer. ``document``/``xhr``/``fetch`` always; a ``<script>`` when its
    path is one the page's source names (a JSONP API, such as Naver's review list, which
    Playwright reports as ``script``: unpaced and unread otherwise, a failing list would look
    like one that ended)."""
    if resource_type in GATED_RESOURCE_TYPES:
        return True
    return resource_type == "script" and urlsplit(url).path in data_script_paths


class FetchError(RuntimeError):
    """A request failed for good: a non-retryable status, or retries exhausted."""

    def __init__(self, url: str, message: str, status: int | None = None, attempts: int = 1):
        self.url = url
        self.status = status
        self.attempts = attempts
        super().__init__(f"{url}: {message}")


class RobotsDisallowed(FetchError):
    """robots.txt disallows the URL and ``scrape.robots_txt`` is "obey": it was not fetched."""


class MalformedPayload(FetchError):
    """The body never decoded as JSON, on any attempt; ``snippet`` holds its start."""

    def __init__(self, url: str, snippet: str, attempts: int):
        self.snippet = snippet
        super().__init__(url, f"malformed JSON after {attempts} attempts", None, attempts)


class Refused(FetchError):
    """The site refused this client (403, or a challenge page where JSON was expected):
    retrying does not help; the headers, cookies or access path need updating."""

    def __init__(self, url: str, status: int, content_type: str, snippet: str) -> None:
        self.content_type = content_type
        self.snippet = snippet
        what = "an HTML page (a WAF challenge?)" if "html" in content_type.lower() else "JSON"
        super().__init__(url, f"HTTP {status} with {what}: {snippet[:160]!r}", status)


def host_of(url: str) -> str:
    """``host:port`` — the unit of politeness (a local replay runs each site on its own port)."""
    return urlsplit(url).netloc


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent
    or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class _HostState:
    slots: asyncio.Semaphore
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Set while no request to the host is in flight.
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    inflight: int = 0
    next_free: float = 0.0
    blocked_until: float = 0.0
    starts: list[float] = field(default_factory=list)
    lost: int = 0  # completions never reported (see HostGate.wait_turn)

    def __post_init__(self) -> None:
        self.idle.set()


class HostGate:
    """Per-host politeness: page slots, one request at a time, a minimum interval (plus
    jitter) from the end of one request to the start of the next, and hold-offs (429).

    Counting the interval from the previous request's *completion* is what makes it hold at
    the host: a request reaches the host before it completes, and the next one is sent after
    the interval, so the host never sees two arrivals closer than the interval, whatever the
    delivery delays on the way. Pages (N per host) may be open at once; their requests queue.
    """

    def __init__(
        self,
        max_concurrent: int,
        min_interval_s: float,
        jitter_s: float,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        stuck_after_s: float = 60.0,
    ) -> None:
        self.max_concurrent = max_concurrent
        self.min_interval_s = min_interval_s
        self.jitter_s = jitter_s
        self.stuck_after_s = stuck_after_s
        self._rng = rng or random.Random()
        self._clock = clock
        self._sleep = sleep
        self._hosts: dict[str, _HostState] = {}

    def _state(self, host: str) -> _HostState:
        st = self._hosts.get(host)
        if st is None:
            st = self._hosts[host] = _HostState(asyncio.Semaphore(self.max_concurrent))
        return st

    def slot(self, host: str) -> asyncio.Semaphore:
        """Held for the life of a request or a page: at most N at once per host."""
        return self._state(host).slots

    async def wait_turn(self, host: str) -> None:
        """Return when a request to ``host`` may be sent; the caller must report its end
        with :meth:`completed`. Waiters are served in order (the lock is FIFO)."""
        st = self._state(host)
        async with st.lock:
            try:
                await asyncio.wait_for(st.idle.wait(), self.stuck_after_s)
            except TimeoutError:
                # A completion was never reported (a page closed mid-request): forget it
                # rather than stall the host for good.
                st.lost += st.inflight
                st.inflight = 0
                st.idle.set()
            while True:
                now = self._clock()
                start = max(now, st.next_free, st.blocked_until)
                if start <= now:
                    break
                # A hold-off set while sleeping (a 429 seen elsewhere) is honoured on waking.
                await self._sleep(start - now)
            st.inflight += 1
            st.idle.clear()
            st.starts.append(now)

    def completed(self, host: str) -> None:
        """A request to ``host`` has been answered or has failed."""
        st = self._state(host)
        if st.inflight == 0:
            return  # already written off as lost
        st.inflight -= 1
        jitter = self._rng.uniform(0, self.jitter_s)
        st.next_free = max(st.next_free, self._clock() + self.min_interval_s + jitter)
        if st.inflight == 0:
            st.idle.set()

    def hold_off(self, host: str, seconds: float) -> None:
        """No request to ``host`` starts before ``seconds`` from now (Retry-After)."""
        st = self._state(host)
        st.blocked_until = max(st.blocked_until, self._clock() + seconds)

    def lost(self) -> int:
        """Requests whose end was never reported (written off after ``stuck_after_s``)."""
        return sum(st.lost for st in self._hosts.values())

    def starts(self, host: str) -> list[float]:
        """Monotonic start times of the requests let through to ``host``."""
        return list(self._state(host).starts)

    def hosts(self) -> list[str]:
        return list(self._hosts)


def min_gap(times: list[float]) -> float | None:
    """Smallest gap between consecutive times (None with fewer than two)."""
    ordered = sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    return round(min(gaps), 4) if gaps else None


@dataclass
class FetchStats:
    requests: int = 0
    retries: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    timeouts: int = 0
    network_errors: int = 0
    malformed: int = 0
    # Every hold-off after a 429: its Retry-After, or the backoff when it named none.
    retry_after_waits: list[float] = field(default_factory=list)
    # The User-Agent every request and page sent (set when the browser starts).
    user_agent: str | None = None
    # Per host: what its robots.txt said and how many disallowed URLs were asked for.
    robots: dict[str, RobotsReport] = field(default_factory=dict)


@dataclass
class PageSession:
    """An open page plus what its own (scroll-triggered) requests answered."""

    page: Page
    url: str
    data_statuses: list[int] = field(default_factory=list)
    # Paths of <script> requests that carry the page's data (JSONP), see is_data_request.
    data_script_paths: frozenset[str] = frozenset()

    def failing(self) -> bool:
        """Whether the page's latest data request failed (5xx or 429)."""
        return bool(self.data_statuses) and (
            self.data_statuses[-1] >= 500 or self.data_statuses[-1] == 429
        )


def _page_of(req: Request) -> Page | None:
    try:
        return req.frame.page
    except PlaywrightError:  # a service worker's request has no frame
        return None


class _Retry(Exception):
    """Internal: one attempt failed in a retryable way."""

    def __init__(self, reason: str, wait_s: float | None = None, *, backoff_429: bool = False):
        self.reason = reason
        self.wait_s = wait_s
        # A 429 that named no wait: the retry loop holds the host for a growing backoff.
        self.backoff_429 = backoff_429
        super().__init__(reason)


class Fetcher:
    """``async with Fetcher(cfg, log) as f: data = await f.get_json(url)``."""

    def __init__(
        self,
        cfg: ScrapeConfig,
        log: logging.LoggerAdapter[logging.Logger] | logging.Logger,
        gate: HostGate | None = None,
    ) -> None:
        self.cfg = cfg
        self.log = log
        self.gate = gate or HostGate(
            cfg.max_concurrency_per_host,
            cfg.min_interval_s,
            cfg.jitter_s,
            # A request cannot take longer than its timeout; twice that means it was lost.
            stuck_after_s=2 * cfg.timeout_s,
        )
        self.stats = FetchStats()
        self.robots = RobotsGuard(cfg.robots_txt, self._fetch_robots, log, self.stats.robots)
        # Per host: 429s in a row on pages' own requests (reset by a 2xx), for their backoff.
        self._page_429s: Counter[str] = Counter()
        # Page requests let through by `_route` whose end the gate has not heard of yet.
        self._in_flight: set[Request] = set()
        # The open pages' sessions, for `_route` to read what a page counts as its data.
        self._sessions: dict[Page, PageSession] = {}
        self._pw: Playwright | None = None
        self._context: BrowserContext | None = None

    @property
    def timeout_ms(self) -> float:
        return self.cfg.timeout_s * 1000

    async def __aenter__(self) -> Fetcher:
        if not self.cfg.chromium_path.exists():
            raise FileNotFoundError(
                f"scrape.chromium_path: no browser at {self.cfg.chromium_path} "
                "(install Chromium, e.g. `make system-deps`, or set scrape.chromium_path)"
            )
        self._pw = await async_playwright().start()
        try:
            browser = await self._pw.chromium.launch(
                executable_path=str(self.cfg.chromium_path),
                headless=self.cfg.headless,
                args=list(self.cfg.chromium_args),
            )
            # Set on the context, so pages and `ctx.request` (get_json) both send it.
            self.stats.user_agent = self.cfg.user_agent or await browser_user_agent(browser)
            self._context = await browser.new_context(
                locale="ko-KR", timezone_id="Asia/Seoul", user_agent=self.stats.user_agent
            )
            await self._context.route("**/*", self._route)
        except BaseException:
            await self._pw.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._context is not None:
            browser = self._context.browser
            await self._context.close()
            if browser is not None:
                await browser.close()
        if self._pw is not None:
            await self._pw.stop()

    def _ctx(self) -> BrowserContext:
        if self._context is None:
            raise RuntimeError("Fetcher used outside `async with`")
        return self._context

    @property
    def queue_allowance_s(self) -> float:
        """How long a page's own request may wait its turn behind the other pages' requests
        to the same host (waits for new content should allow this much on top)."""
        cfg = self.cfg
        return (cfg.max_concurrency_per_host - 1) * (cfg.min_interval_s + cfg.jitter_s)

    def backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self.cfg.backoff_base_s, self.cfg.backoff_max_s)

    def backoff_for(self, tries: int) -> Backoff:
        """A retry budget of ``tries`` with this scrape's backoff (``scrape.backoff_*``)."""
        return Backoff(self.cfg.backoff_base_s, self.cfg.backoff_max_s, tries=tries)

    async def _route(self, route: Route) -> None:
        req = route.request
        if req.resource_type in self.cfg.blocked_resource_types:
            await route.abort()
            return
        # Navigations are paced by `_open` itself, outside the navigation timeout.
        page = _page_of(req)
        session = self._sessions.get(page) if page is not None else None
        scripts = session.data_script_paths if session is not None else frozenset()
        if req.is_navigation_request() or not is_data_request(req.resource_type, req.url, scripts):
            await route.continue_()
            return
        host = host_of(req.url)
        await self.gate.wait_turn(host)
        self.stats.requests += 1
        self._in_flight.add(req)
        try:
            await route.continue_()
        except PlaywrightError:
            # The page went away while the request waited its turn: it was never sent.
            self._request_done(req)
            raise
        if page is not None and page.is_closed():
            # Playwright's continue_ returns quietly once the page has closed, and the page's
            # clean-up in `page()` may have run while this request waited its turn, before it
            # joined _in_flight: nothing else would report its end, and the gate would hold
            # the host for stuck_after_s and count the request as lost.
            self._request_done(req)

    def _retry_after(self, url: str, header: str | None) -> float | None:
        """Seconds a 429 asks for (None if it names none); too long fails the request."""
        wait = parse_retry_after(header)
        if wait is None:
            return None
        if wait > self.cfg.retry_after_max_s:
            raise FetchError(
                url,
                f"HTTP 429 with Retry-After {wait:g}s, over scrape.retry_after_max_s "
                f"({self.cfg.retry_after_max_s:g}s)",
                429,
            )
        return wait

    def _check_status(self, url: str, status: int, retry_after: str | None) -> None:
        """Raise _Retry for retryable statuses, FetchError for the others; pass 2xx."""
        self.stats.statuses[status] += 1
        if 200 <= status < 300:
            return
        if status == 429:
            wait = self._retry_after(url, retry_after)
            if wait is None:
                raise _Retry("HTTP 429 without Retry-After", backoff_429=True)
            self._hold_off_429(url, wait)
            raise _Retry(f"HTTP 429 (waiting {wait:g}s)", wait)
        _raise_for_status(url, status)

    def _hold_off_429(self, url: str, wait: float) -> float:
        """After a 429: no request to the URL's host starts for ``wait`` seconds."""
        self.gate.hold_off(host_of(url), wait)
        self.stats.retry_after_waits.append(wait)
        return wait

    async def _with_retries(
        self, url: str, attempt_fn: Callable[[], Awaitable[Any]], retries: int | None = None
    ) -> Any:
        retries = self.cfg.retries if retries is None else retries
        last: _Retry | None = None
        for attempt in range(retries + 1):
            if last is not None:
                self.stats.retries += 1
                # After a 429 the gate already holds the host for Retry-After.
                delay = 0.0 if last.wait_s is not None else self.backoff(attempt - 1)
                self.log.info(
                    "retrying %s in %.2fs (attempt %d): %s", url, delay, attempt + 1, last.reason
                )
                if delay:
                    await asyncio.sleep(delay)
            try:
                return await attempt_fn()
            except _Retry as exc:
                if exc.backoff_429:
                    exc.wait_s = self._hold_off_429(url, self.backoff(attempt))
                last = exc
            except PlaywrightTimeoutError:
                self.stats.timeouts += 1
                last = _Retry(f"timeout after {self.cfg.timeout_s:g}s")
            except PlaywrightError as exc:
                self.stats.network_errors += 1
                last = _Retry(f"network error: {str(exc).splitlines()[0]}")
        assert last is not None
        if isinstance(last, _MalformedAttempt):
            raise MalformedPayload(url, last.snippet, retries + 1)
        raise FetchError(url, f"gave up after {retries + 1} attempts: {last.reason}")

    async def get_json(self, url: str, headers: dict[str, str] | None = None) -> Any:
        """Decoded JSON of a GET; retried per config. Raises FetchError / MalformedPayload."""
        ctx = self._ctx()
        host = host_of(url)
        await self._robots_check(url)

        async def attempt() -> Any:
            async with self.gate.slot(host):
                await self.gate.wait_turn(host)
                self.stats.requests += 1
                try:
                    resp = await ctx.request.get(
                        url, headers=headers, timeout=self.timeout_ms, fail_on_status_code=False
                    )
                finally:
                    self.gate.completed(host)
                try:
                    self._check_status(url, resp.status, resp.headers.get("retry-after"))
                    body = await resp.body()
                finally:
                    await resp.dispose()
            try:
                return json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                # A cut-off body is usually transient: retry; the last one is quarantined.
                self.stats.malformed += 1
                snippet = body[: self.cfg.snippet_chars].decode("utf-8", "replace")
                raise _MalformedAttempt(f"malformed JSON ({exc})", snippet) from exc

        return await self._with_retries(url, attempt)

    @asynccontextmanager
    async def page(
        self, url: str, data_script_paths: Iterable[str] = ()
    ) -> AsyncIterator[PageSession]:
        """An open page at ``url`` (loaded, retried per config); holds one of the host's slots
        while open, so at most N pages per host are open at once. ``data_script_paths``: the
        paths of the ``<script>`` requests that load the page's data (JSONP), paced and read
        like its XHRs."""
        host, scripts = host_of(url), frozenset(data_script_paths)
        await self._robots_check(url)  # before taking a slot: reading robots.txt takes one
        async with self.gate.slot(host):
            session: PageSession = await self._with_retries(
                url, lambda: self._open(url, host, scripts)
            )
            try:
                yield session
            finally:
                self._sessions.pop(session.page, None)
                await session.page.close()
                # Requests still open when the page closed will not report their end.
                for req in [r for r in self._in_flight if _page_of(r) is session.page]:
                    self._request_done(req)

    async def _open(self, url: str, host: str, data_script_paths: frozenset[str]) -> PageSession:
        # A fresh page per attempt: after a timed-out navigation the old page is still busy
        # with it, and a second goto on it is aborted.
        page = await self._ctx().new_page()
        session = PageSession(page, url, data_script_paths=data_script_paths)
        self._sessions[page] = session
        page.on("response", lambda resp: self._on_page_response(session, resp))
        page.on("requestfinished", self._request_done)
        page.on("requestfailed", self._request_done)
        try:
            await self.gate.wait_turn(host)
            self.stats.requests += 1
            try:
                resp = await page.goto(url, timeout=self.timeout_ms, wait_until="load")
            finally:
                self.gate.completed(host)
            if resp is None:  # same-document navigation; cannot happen on a fresh page
                raise _Retry("no response")
            self._check_status(url, resp.status, resp.headers.get("retry-after"))
        except BaseException:
            self._sessions.pop(page, None)
            await page.close()
            raise
        return session

    async def navigate(self, session: PageSession, url: str) -> None:
        """Load ``url`` in an open page (same politeness and retries as :meth:`page`): a site
        whose API is called from its own pages moves from page to page like a reader."""
        host = host_of(url)
        await self._robots_check(url)

        async def attempt() -> None:
            await self.gate.wait_turn(host)
            self.stats.requests += 1
            try:
                resp = await session.page.goto(url, timeout=self.timeout_ms, wait_until="load")
            finally:
                self.gate.completed(host)
            if resp is None:
                raise _Retry("no response")
            self._check_status(url, resp.status, resp.headers.get("retry-after"))
            session.url = url

        await self._with_retries(url, attempt)

    async def page_json(
        self, session: PageSession, url: str, headers: dict[str, str] | None = None
    ) -> Any:
        """Decoded JSON of a GET sent by the page itself (``fetch`` in its context): it carries
        the page's cookies, Referer and user agent, as the site's own web app does. The
        request passes the host gate like every request the page makes (``_route``); its
        status is counted (and a 429 holds the host) by the page's response listener."""
        await self._robots_check(url)

        async def attempt() -> Any:
            got = await session.page.evaluate(_PAGE_FETCH, [url, headers or {}, self.timeout_ms])
            if got.get("timedOut"):
                raise PlaywrightTimeoutError(f"fetch {url} timed out")
            status, ctype, body = got["status"], got["contentType"], got["body"]
            if status == 429:
                raise _Retry("HTTP 429", 0.0)  # the listener already holds the host
            if status == 403 or "html" in ctype.lower():
                # An API that answers 403 or a page (a WAF challenge) refuses this client:
                # retrying the same request changes nothing.
                raise Refused(url, status, ctype, body[:300])
            _raise_for_status(url, status)
            try:
                return json.loads(body)
            except json.JSONDecodeError as exc:
                self.stats.malformed += 1
                snippet = body[: self.cfg.snippet_chars]
                raise _MalformedAttempt(f"malformed JSON ({exc})", snippet) from exc

        return await self._with_retries(url, attempt)

    def _request_done(self, req: Request) -> None:
        """The end of a request `_route` let through (finished, failed, or its page closed);
        each is reported to the gate exactly once."""
        if req in self._in_flight:
            self._in_flight.discard(req)
            self.gate.completed(host_of(req.url))

    def _on_page_response(self, session: PageSession, resp: Response) -> None:
        """Statuses of the page's own data requests; a 429 there holds the host as well."""
        req = resp.request
        if req.is_navigation_request() or not is_data_request(
            req.resource_type, req.url, session.data_script_paths
        ):
            return
        session.data_statuses.append(resp.status)
        self.stats.statuses[resp.status] += 1
        host = host_of(resp.url)
        if 200 <= resp.status < 300:
            self._page_429s.pop(host, None)
        elif resp.status == 429:
            wait = parse_retry_after(resp.headers.get("retry-after"))
            # No Retry-After: a backoff that grows with the host's 429s in a row.
            backoff = self.backoff(self._page_429s[host])
            self._page_429s[host] += 1
            wait = backoff if wait is None else min(wait, self.cfg.retry_after_max_s)
            self._hold_off_429(resp.url, wait)

    async def _robots_check(self, url: str) -> None:
        """Raise RobotsDisallowed if robots.txt rules the URL out and the policy is "obey"."""
        check = await self.robots.check(url)
        if not check.fetch:
            raise RobotsDisallowed(url, check.reason)

    async def _fetch_robots(self, url: str) -> RobotsAnswer:
        """GET one robots.txt through the gate. Retried per config only under "obey", where
        an unreachable file stops the host; a 429 holds the host as anywhere else."""
        host = host_of(url)

        async def attempt() -> RobotsAnswer:
            async with self.gate.slot(host):
                await self.gate.wait_turn(host)
                self.stats.requests += 1
                try:
                    resp = await self._ctx().request.get(
                        url, timeout=self.timeout_ms, fail_on_status_code=False
                    )
                finally:
                    self.gate.completed(host)
                try:
                    if resp.status == 429 or resp.status >= 500:
                        self._check_status(url, resp.status, resp.headers.get("retry-after"))
                    body = (await resp.body()).decode("utf-8", "replace") if resp.ok else ""
                    return RobotsAnswer(resp.status, body)
                finally:
                    await resp.dispose()

        retries = self.cfg.retries if self.cfg.robots_txt == "obey" else 0
        try:
            return await self._with_retries(url, attempt, retries)
        except FetchError as exc:
            return RobotsAnswer(exc.status, error=str(exc).removeprefix(f"{url}: "))


def _raise_for_status(url: str, status: int) -> None:
    """Pass 2xx; raise _Retry for 5xx, FetchError for every other status (4xx but 429)."""
    if 200 <= status < 300:
        return
    if status >= 500:
        raise _Retry(f"HTTP {status}")
    raise FetchError(url, f"HTTP {status}", status)


# fetch() inside the page: the browser adds the page's cookies, Referer and user agent.
_PAGE_FETCH = """
async ([url, headers, timeoutMs]) => {
  try {
    const r = await fetch(url, {headers, credentials: 'same-origin',
                                signal: AbortSignal.timeout(timeoutMs)});
    return {status: r.status, contentType: r.headers.get('content-type') || '',
            body: await r.text()};
  } catch (e) {
    if (e.name === 'TimeoutError') return {timedOut: true};
    throw e;
  }
}
"""


async def browser_user_agent(browser: Browser) -> str:
    """The browser's own User-Agent as its headed self sends it: headless Chromium says
    ``HeadlessChrome/<version>``, which sites block on sight; the rest (platform, version) is
    kept as the launched browser reports it."""
    page = await browser.new_page()  # in a context of its own, closed with the page
    try:
        return normal_user_agent(await page.evaluate("navigator.userAgent"))
    finally:
        await page.close()


def normal_user_agent(user_agent: str) -> str:
    return user_agent.replace("HeadlessChrome/", "Chrome/")


class _MalformedAttempt(_Retry):
    def __init__(self, reason: str, snippet: str) -> None:
        super().__init__(reason)
        self.snippet = snippet
