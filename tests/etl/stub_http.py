"""A tiny loopback HTTP server for the fetch-layer tests: scripted answers per path, and a log
of what it saw (time, path, User-Agent). Not the replay site: these tests need exact control
of robots.txt, statuses and headers on one endpoint."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: str = '{"ok": true}'
    ctype: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    t: float
    path: str
    user_agent: str
    sec_ch_ua: str | None


class StubSite:
    """``routes`` maps a path (query stripped) to its answers: a list is served in turn, the
    last one repeated; an unknown path is a 404."""

    def __init__(self, routes: dict[str, list[Answer]]) -> None:
        self.routes = routes
        self.seen: list[Seen] = []
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self.base = ""

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    def times(self, path: str) -> list[float]:
        return [s.t for s in self.seen if s.path == path]

    def _answer(self, path: str) -> Answer:
        with self._lock:
            answers = self.routes.get(path)
            if not answers:
                return Answer(404, "not found", "text/plain")
            i = self._served.get(path, 0)
            self._served[path] = i + 1
            return answers[min(i, len(answers) - 1)]

    @contextmanager
    def serving(self) -> Iterator[StubSite]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                site.seen.append(
                    Seen(
                        time.monotonic(),
                        path,
                        self.headers.get("user-agent", ""),
                        self.headers.get("sec-ch-ua"),
                    )
                )
                answer = site._answer(path)
                body = answer.body.encode()
                self.send_response(answer.status)
                self.send_header("content-type", answer.ctype)
                self.send_header("content-length", str(len(body)))
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.base = f"http://127.0.0.1:{server.server_port}"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


PAGE = Answer(body="<!doctype html><title>stub</title><p>stub", ctype="text/html")
