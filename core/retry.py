"""Retrying with a capped exponential backoff: the policy every retry loop in kreview follows.

A loop tries; after each failure it asks its :class:`Backoff` how long to wait before the next
try, and ``None`` means give up (out of tries, or out of time). The loop keeps what differs:
what a try is, which errors are worth another, sync or async sleep, what giving up raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def backoff_delay(attempt: int, base_s: float, max_s: float) -> float:
    """Delay before retry number ``attempt`` (0-based): base·2^attempt, capped."""
    return min(max_s, base_s * (2**attempt))


class Backoff:
    """Failures counted against a budget of ``tries`` (all tries, the first included) or of
    ``within_s`` seconds since it was made (or last reset), whichever ends first."""

    def __init__(
        self,
        base_s: float,
        max_s: float,
        *,
        tries: int | None = None,
        within_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if tries is None and within_s is None:
            raise ValueError("a Backoff needs tries or within_s: it would never give up")
        self.base_s, self.max_s = base_s, max_s
        self.tries, self.within_s = tries, within_s
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        """The work moved on: the next failure is a first one again."""
        self.failures = 0
        self._start = self._clock()

    def next_delay(self) -> float | None:
        """Count a failure; the seconds to wait before the next try, or None: give up."""
        self.failures += 1
        if self.tries is not None and self.failures >= self.tries:
            return None
        if self.within_s is not None and self._clock() - self._start >= self.within_s:
            return None
        return backoff_delay(self.failures - 1, self.base_s, self.max_s)
