"""Fault injection for the replay site, and its request log.

A :class:`Fault` matches requests by site, endpoint and film, and applies to the first
``times`` of them (``None``: to all), after letting ``after`` of them through. Kinds:

``error``           answer ``status`` (default 500) instead of the content
``slow``            sleep ``delay_s`` before answering (past the client's timeout)
``malformed_json``  a JSON endpoint answers a truncated body
``markup_changed``  Naver moves the card's id and rating; Watcha renames the text field
``rate_limit``      429 with ``Retry-After: retry_after_s`` (0: without the header, as Watcha)
``waf``             403 with an HTML challenge page (a WAF in front of an API)
``bad_items``       a few unparseable reviews mixed into the page (bad rating, no text, no id)

Endpoints: Watcha ``page`` (the web app's pages), ``search`` and ``comments``; Naver ``page``
(the search-result page) and ``more`` (the list the page's script loads as it scrolls).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal[
    "error", "slow", "malformed_json", "markup_changed", "rate_limit", "bad_items", "waf"
]
KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]
ENDPOINTS = {"watcha": ("page", "search", "comments"), "naver": ("page", "more")}


@dataclass
class Fault:
    kind: FaultKind
    site: str | None = None  # "watcha" | "naver" | None (both)
    endpoint: str | None = None  # see ENDPOINTS; None: every endpoint
    title: str | None = None  # film name; None: every film
    times: int | None = None  # the first K matching requests; None: all of them
    after: int = 0  # let this many matching requests through untouched first
    status: int = 500
    delay_s: float = 0.0
    retry_after_s: int = 1
    hits: int = field(default=0, compare=False)
    seen: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.site is not None and self.site not in ENDPOINTS:
            raise ValueError(f"unknown site {self.site!r}")
        if (
            self.endpoint is not None
            and self.site is not None
            and self.endpoint not in ENDPOINTS[self.site]
        ):
            raise ValueError(f"site {self.site} has no endpoint {self.endpoint!r}")

    def matches(self, site: str, endpoint: str, title: str | None) -> bool:
        return (
            (self.site is None or self.site == site)
            and (self.endpoint is None or self.endpoint == endpoint)
            and (self.title is None or self.title == title)
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        allowed = set(cls.__dataclass_fields__) - {"hits", "seen"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultBook:
    """The active faults; thread-safe (the server answers on many threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, site: str, endpoint: str, title: str | None) -> list[Fault]:
        """The faults that apply to this request (each counted as hit)."""
        with self._lock:
            hit = []
            for f in self._faults:
                if not f.matches(site, endpoint, title):
                    continue
                f.seen += 1
                if f.seen > f.after and (f.times is None or f.hits < f.times):
                    f.hits += 1
                    hit.append(f)
            return hit

    def snapshot(self) -> list[Fault]:
        with self._lock:
            return [Fault(**asdict(f)) for f in self._faults]


@dataclass
class LoggedRequest:
    t: float  # time.monotonic() when the request arrived
    site: str
    endpoint: str
    path: str
    title: str | None
    status: int = 0  # filled in when answered; 0 if the client left first


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def add(self, entry: LoggedRequest) -> LoggedRequest:
        with self._lock:
            self._entries.append(entry)
        return entry

    def entries(self, site: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [e for e in self._entries if site is None or e.site == site]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def min_gap(times: list[float]) -> float | None:
    """Smallest gap between consecutive arrivals (None with fewer than two)."""
    ordered = sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    return min(gaps) if gaps else None
