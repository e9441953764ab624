"""The replay site: Watcha's API and Naver's search page, each on its own loopback port
(two hosts, as in reality, so per-host politeness is exercised), served from threads.

    with ReplaySite(Corpus(seed=7)) as site:
        cfg = load_config(overrides=site.overrides())
        site.faults.add(Fault("error", site="watcha", endpoint="comments", times=2))

Admin endpoints on both ports (not logged, not faulted): ``GET /__replay/requests`` (the
request log), ``GET|POST|DELETE /__replay/faults`` (list, add a JSON list of faults, clear).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from etl.replay import render
from etl.replay.corpus import Corpus, Film
from etl.replay.faults import Fault, FaultBook, LoggedRequest, RequestLog

# "영화 올드보이 2003 관람평" → name, year (the scraper's query templates, read back).
JSON_TYPE = "application/vnd.frograms+json"
_NAVER_QUERY = re.compile(r"^\s*영화\s+(.+?)(?:\s+(\d{4}))?\s+관람평\s*$")
_JS_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")  # a JSONP callback: one identifier
_COMMENTS = re.compile(r"^/api/contents/([^/]+)/comments$")
_CONTENT_PAGE = re.compile(r"^/ko/contents/([^/]+)$")
DEVICE_COOKIE = "_c_pdi"
# What the API checks before it answers (docs/sources/watcha.md): the web app's client
# headers and a `web-` device id.
WATCHA_CLIENT_HEADERS = {
    "x-frograms-app-code": "Galaxy",
    "x-frograms-client": "Galaxy-Web-App",
}


class _Answer(Exception):
    """Raised by a route to answer with a status and body."""

    def __init__(self, status: int, body: str, ctype: str, headers: dict[str, str] | None = None):
        self.status, self.body, self.ctype, self.headers = status, body, ctype, headers or {}
        super().__init__(status)


class ReplayState:
    """What both sites' handlers share."""

    def __init__(self, corpus: Corpus, latency_s: float, naver_page_size: int) -> None:
        self.corpus = corpus
        self.latency_s = latency_s
        self.naver_page_size = naver_page_size
        self.faults = FaultBook()
        self.log = RequestLog()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    site: ClassVar[str]
    state: ClassVar[ReplayState]
    robots: ClassVar[str]

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request log replaces stderr lines

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/__replay/"):
            self._send(self._admin(method, url.path))
            return
        query = parse_qs(url.query)
        if url.path == "/robots.txt":
            self._send(_Answer(200, self.robots, "text/plain"))
            return
        endpoint, film = self._classify(url.path, query)
        entry = self.state.log.add(
            LoggedRequest(time.monotonic(), self.site, endpoint, self.path, film and film.name)
        )
        faults = self.state.faults.take(self.site, endpoint, film.name if film else None)
        if self.state.latency_s:
            time.sleep(self.state.latency_s)
        answer = self._apply_faults(faults) or self._route(endpoint, film, query, faults)
        entry.status = answer.status
        self._send(answer)

    def _classify(self, path: str, query: dict[str, list[str]]) -> tuple[str, Film | None]:
        raise NotImplementedError

    def _route(
        self, endpoint: str, film: Film | None, query: dict[str, list[str]], faults: list[Fault]
    ) -> _Answer:
        raise NotImplementedError

    def _cookies(self) -> dict[str, str]:
        jar = SimpleCookie()
        jar.load(self.headers.get("Cookie") or "")
        return {k: m.value for k, m in jar.items()}

    def _apply_faults(self, faults: list[Fault]) -> _Answer | None:
        for fault in faults:
            if fault.kind == "slow":
                time.sleep(fault.delay_s)
            elif fault.kind == "error":
                return _Answer(fault.status, f"HTTP {fault.status} (replay fault)", "text/plain")
            elif fault.kind == "rate_limit":
                # Watcha's 429s carry no Retry-After (docs/sources/watcha.md).
                headers = {"Retry-After": str(fault.retry_after_s)} if fault.retry_after_s else {}
                return _Answer(429, "Too Many Requests", "text/plain", headers)
            elif fault.kind == "waf":
                return _Answer(403, render.WAF_CHALLENGE, "text/html")
        return None

    def _admin(self, method: str, path: str) -> _Answer:
        if path == "/__replay/requests" and method == "GET":
            rows = [e.__dict__ for e in self.state.log.entries()]
            return _Answer(200, json.dumps(rows, ensure_ascii=False), "application/json")
        if path == "/__replay/faults":
            if method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    data = json.loads(self.rfile.read(length) or b"[]")
                    self.state.faults.add(*(Fault.from_json(d) for d in data))
                except (ValueError, TypeError) as exc:
                    return _Answer(400, f"bad faults: {exc}", "text/plain")
            elif method == "DELETE":
                self.state.faults.clear()
            rows = [f.to_json() for f in self.state.faults.snapshot()]
            return _Answer(200, json.dumps(rows, ensure_ascii=False), "application/json")
        return _Answer(404, "no such admin endpoint", "text/plain")

    def _send(self, answer: _Answer) -> None:
        body = answer.body.encode()
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", f"{answer.ctype}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (a `slow` fault past its timeout): nothing to answer.
            self.close_connection = True


def _one(query: dict[str, list[str]], key: str, default: str = "") -> str:
    return query.get(key, [default])[0]


def _int(query: dict[str, list[str]], key: str, default: int) -> int:
    try:
        return int(_one(query, key, str(default)))
    except ValueError:
        raise _Answer(400, f"bad {key}", "text/plain") from None


def _kinds(faults: list[Fault]) -> set[str]:
    return {f.kind for f in faults}


class _WatchaHandler(_Handler):
    site = "watcha"
    robots = render.WATCHA_ROBOTS

    def _classify(self, path: str, query: dict[str, list[str]]) -> tuple[str, Film | None]:
        if path == "/api/searches":
            hits = self.state.corpus.search(_one(query, "query"))
            return "search", hits[0] if hits else None
        if m := _COMMENTS.match(path):
            return "comments", self._film(m.group(1))
        if path == "/ko":
            return "page", None
        if m := _CONTENT_PAGE.match(path):
            return "page", self._film(m.group(1))
        return "other", None

    def _film(self, code: str) -> Film | None:
        return next((f for f in self.state.corpus.films if f.watcha_code == code), None)

    def _refused(self) -> str | None:
        """Why the API refuses this client, or None: the web app's client headers and a
        device identifier."""
        for key, value in WATCHA_CLIENT_HEADERS.items():
            if self.headers.get(key) != value:
                return f"{key} is {self.headers.get(key)!r}"
        # Whether the server compares the id with the cookie is unknown (clients that send a
        # random `web-` id are reported to work): only its presence and form are checked.
        if not (self.headers.get("x-frograms-device-identifier") or "").startswith("web-"):
            return "no web- device identifier"
        return None

    def _route(
        self, endpoint: str, film: Film | None, query: dict[str, list[str]], faults: list[Fault]
    ) -> _Answer:
        kinds = _kinds(faults)
        if endpoint == "page":
            return self._page(film)
        if endpoint in ("search", "comments") and self._refused():
            return _Answer(403, json.dumps(render.NOT_ALLOWED, ensure_ascii=False), JSON_TYPE)
        try:
            if endpoint == "search":
                payload = render.watcha_search(self.state.corpus.search(_one(query, "query")))
            elif endpoint == "comments" and film is not None:
                payload = render.watcha_comments(
                    film,
                    self.state.corpus.reviews("watcha", film),
                    order=_one(query, "order", "popular"),
                    page=max(1, _int(query, "page", 1)),
                    size=min(100, max(1, _int(query, "size", 20))),
                    changed="markup_changed" in kinds,
                    bad_items="bad_items" in kinds,
                )
            else:
                return _Answer(404, '{"message": "not found"}', JSON_TYPE)
        except _Answer as answer:
            return answer
        body = json.dumps(payload, ensure_ascii=False)
        if "malformed_json" in kinds:
            body = body[: max(1, len(body) // 2)]  # cut off mid-payload
        return _Answer(200, body, JSON_TYPE)

    def _page(self, film: Film | None) -> _Answer:
        """The web app's pages: they set the device cookie a first visit lacks."""
        path = urlsplit(self.path).path
        if path != "/ko" and film is None:
            return _Answer(404, render.watcha_page("404"), "text/html")
        headers = {}
        if not self._cookies().get(DEVICE_COOKIE):
            device = "web-" + secrets.token_hex(12)
            headers["Set-Cookie"] = f"{DEVICE_COOKIE}={device}; Path=/; Max-Age=31536000"
        title = film.name if film is not None else "왓챠피디아"
        return _Answer(200, render.watcha_page(title), "text/html", headers)


class _NaverHandler(_Handler):
    site = "naver"
    robots = render.NAVER_ROBOTS

    def _classify(self, path: str, query: dict[str, list[str]]) -> tuple[str, Film | None]:
        if path == "/search.naver":
            return "page", self._film_for_query(_one(query, "query"))
        if path == render.LIST_PATH:
            code = _one(query, "u1")
            films = self.state.corpus.films
            return "more", next((f for f in films if render.naver_code(f) == code), None)
        return "other", None

    def _film_for_query(self, q: str) -> Film | None:
        m = _NAVER_QUERY.match(q)
        if not m:
            return None
        name, year = m.group(1).strip(), m.group(2)
        for film in self.state.corpus.films:
            if film.name == name and (year is None or film.year == int(year)):
                return film
        return None

    def _route(
        self, endpoint: str, film: Film | None, query: dict[str, list[str]], faults: list[Fault]
    ) -> _Answer:
        kinds = _kinds(faults)
        size = self.state.naver_page_size
        try:
            if endpoint == "page":
                q = _one(query, "query")
                if film is None:
                    return _Answer(200, render.naver_not_found(q), "text/html")
                reviews = render.naver_order(self.state.corpus.reviews("naver", film), "sympathy")
                html = render.naver_page(
                    film,
                    q,
                    reviews[:size],
                    len(reviews),
                    changed="markup_changed" in kinds,
                    bad_items="bad_items" in kinds,
                )
                return _Answer(200, html, "text/html")
            if endpoint == "more" and film is not None and _one(query, "u5") == "true":
                reviews = render.naver_order(
                    self.state.corpus.reviews("naver", film), _one(query, "u3", "sympathyScore")
                )
                body = render.naver_list(
                    reviews,
                    film,
                    max(1, _int(query, "u2", 1)),
                    size=size,
                    bad_items="bad_items" in kinds,
                )
                callback = _one(query, "_callback", "")
                if callback:
                    # The site's own calls carry a JSONP `_callback` (N7); without one the
                    # body is plain JSON (N6, N7).
                    if not _JS_NAME.fullmatch(callback):
                        return _Answer(400, "bad _callback", "text/plain")
                    body = f"{callback}({body});"
                if "malformed_json" in kinds:
                    body = body[: max(1, len(body) // 2)]
                ctype = "text/javascript; charset=utf-8" if callback else "application/json"
                return _Answer(200, body, ctype)
        except _Answer as answer:
            return answer
        return _Answer(404, "not found", "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many short connections from two browsers' worth of pages at once.
    request_queue_size = 128


class ReplaySite:
    """Both replayed sites on 127.0.0.1, each on a port the OS picks (or the ones given)."""

    def __init__(
        self,
        corpus: Corpus | None = None,
        *,
        latency_s: float = 0.0,
        naver_page_size: int = 10,
        host: str = "127.0.0.1",
        ports: tuple[int, int] = (0, 0),
    ) -> None:
        self.state = ReplayState(corpus or Corpus(), latency_s, naver_page_size)
        self.host = host
        self._ports = ports
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []

    @property
    def corpus(self) -> Corpus:
        return self.state.corpus

    @property
    def faults(self) -> FaultBook:
        return self.state.faults

    @property
    def log(self) -> RequestLog:
        return self.state.log

    def start(self) -> ReplaySite:
        if self._servers:
            return self  # already serving (`with start_replay() as site:`)
        for (site, base), port in zip(
            (("watcha", _WatchaHandler), ("naver", _NaverHandler)), self._ports, strict=True
        ):
            handler = type(f"{base.__name__}Bound", (base,), {"state": self.state})
            server = _Server((self.host, port), handler)
            thread = threading.Thread(
                target=server.serve_forever, name=f"replay-{site}", daemon=True
            )
            thread.start()
            self._servers[site] = server
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> ReplaySite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def url(self, site: str) -> str:
        host, port = self._servers[site].server_address[:2]
        return f"http://{host}:{port}"

    @property
    def watcha_url(self) -> str:
        return self.url("watcha")

    @property
    def naver_url(self) -> str:
        return self.url("naver")

    def overrides(self) -> dict[str, str]:
        """Dotted config overrides pointing both sources at this replay."""
        return {
            "sources.watcha.api_base_url": self.watcha_url,
            "sources.watcha.web_base_url": self.watcha_url,
            "sources.naver.base_url": self.naver_url,
        }

    def env(self) -> dict[str, str]:
        """The same as ``KREVIEW_*`` environment variables (for a `kreview` subprocess)."""
        return {
            "KREVIEW_" + key.upper().replace(".", "__"): value
            for key, value in self.overrides().items()
        }


def start_replay(
    seed: int = 7,
    *,
    n_titles: int | None = None,
    reviews_per_title: int | None = None,
    latency_s: float = 0.0,
    naver_page_size: int = 10,
    ports: tuple[int, int] = (0, 0),
) -> ReplaySite:
    """Start the replay site (remember to ``stop()`` it); base URLs via ``.overrides()``."""
    corpus = Corpus(seed, n_titles, reviews_per_title)
    return ReplaySite(
        corpus, latency_s=latency_s, naver_page_size=naver_page_size, ports=ports
    ).start()
