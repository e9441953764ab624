"""core.retry: the backoff schedule and when a Backoff gives up."""

from __future__ import annotations

import pytest

from core.retry import Backoff, backoff_delay


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_delay(a, 0.5, 3.0) for a in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_tries_counts_every_try_and_reset_starts_again() -> None:
    backoff = Backoff(0.5, 3.0, tries=4)
    assert [backoff.next_delay() for _ in range(4)] == [0.5, 1.0, 2.0, None]
    assert backoff.failures == 4
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_within_s_gives_up_once_the_time_is_spent() -> None:
    now = [100.0]
    backoff = Backoff(0.05, 0.5, within_s=1.0, clock=lambda: now[0])
    delays = []
    while (delay := backoff.next_delay()) is not None:
        delays.append(delay)
        now[0] += delay
    # tries at 0, 0.05, 0.15, 0.35, 0.75 and 1.25 s: the sixth fails past the second
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.5]
    assert Backoff(0.05, 0.5, within_s=0).next_delay() is None  # no wait at all


def test_a_backoff_must_end() -> None:
    with pytest.raises(ValueError, match="never give up"):
        Backoff(1.0, 2.0)
