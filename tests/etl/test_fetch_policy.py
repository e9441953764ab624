"""The fetch layer's policy, without a browser: backoff, Retry-After, the per-host gate."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, datetime

import pytest

from etl.fetch import HostGate, backoff_delay, host_of, parse_retry_after


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_delay(a, 0.5, 3.0) for a in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


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
