"""Micro-batching: many small concurrent requests share one encoder pass.

An encoder pass over 64 texts costs far less than 64 passes over one text (padding aside, the
matrix multiplications amortize), so requests are not scored one by one. Each request's items
go into a queue as one job; a single worker takes jobs until it holds ``max_batch`` items or
``max_wait_s`` has passed since it took the first, runs the model once over all of them in the
model thread (never on the event loop), and hands every job its slice of the results. A job is
never split across batches, so one request is one slice of one pass.

The queue is bounded by a count of items (texts), not of requests: items accepted and not yet
answered — waiting or in the encoder — never exceed ``max_queued``; beyond it ``submit`` raises
:class:`QueueFull` at once (the API answers 503 with Retry-After) instead of letting latency
grow without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("kreview.serve")


class QueueFull(RuntimeError):
    """Accepting these items would exceed the queue bound; try again later."""

    def __init__(self, queued: int, asked: int, limit: int) -> None:
        super().__init__(
            f"server busy: {queued} texts queued, {asked} more would exceed the limit of {limit}"
        )
        self.queued, self.asked, self.limit = queued, asked, limit


class BatcherClosed(RuntimeError):
    """The batcher is not running (the server is starting or stopping)."""


@dataclass
class _Job(Generic[T, R]):
    items: Sequence[T]
    future: asyncio.Future[list[R]]


@dataclass
class BatchStats:
    """Counters for tests, benchmarks and /readyz."""

    batches: int = 0
    items: int = 0
    jobs: int = 0
    rejected: int = 0
    largest_batch: int = 0
    sizes: list[int] = field(default_factory=list)

    def record(self, n_items: int, n_jobs: int) -> None:
        self.batches += 1
        self.items += n_items
        self.jobs += n_jobs
        self.largest_batch = max(self.largest_batch, n_items)
        if len(self.sizes) < 10_000:  # bounded: a long-running server keeps only the first
            self.sizes.append(n_items)


def take_batch(pending: deque[_Job[T, R]], max_batch: int) -> list[_Job[T, R]]:
    """Pop whole jobs from the front while they fit in ``max_batch`` items (always at least
    one job, even one larger than ``max_batch``: a request is never split)."""
    batch = [pending.popleft()]
    n = len(batch[0].items)
    while pending and n + len(pending[0].items) <= max_batch:
        job = pending.popleft()
        batch.append(job)
        n += len(job.items)
    return batch


class MicroBatcher(Generic[T, R]):
    """Collects concurrent ``submit`` calls into batches for ``run`` (see the module doc).

    ``run(items) -> results`` must return one result per item, in order. It is called in
    ``executor`` (give every batcher of one model the same single-thread executor, so the
    model never runs twice at once). Start and stop it inside the running event loop.
    """

    def __init__(
        self,
        run: Callable[[list[T]], list[R]],
        executor: Executor,
        *,
        max_batch: int,
        max_wait_s: float,
        max_queued: int,
        name: str = "batcher",
    ) -> None:
        self._run = run
        self._executor = executor
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queued = max_queued
        self.name = name
        self.stats = BatchStats()
        self._pending: deque[_Job[T, R]] = deque()
        self._queued = 0  # items accepted and not yet answered
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._worker = asyncio.get_running_loop().create_task(self._work(), name=self.name)

    async def stop(self) -> None:
        if self._worker is None:
            return
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None
        while self._pending:
            job = self._pending.popleft()
            if not job.future.done():
                job.future.set_exception(BatcherClosed("the server is stopping"))

    async def submit(self, items: Sequence[T]) -> list[R]:
        """Results for ``items`` (in order), computed in some batch with other requests'."""
        if not self.running or self._wakeup is None:
            raise BatcherClosed(f"{self.name} is not running")
        if not items:
            return []
        if self._queued + len(items) > self.max_queued:
            self.stats.rejected += 1
            raise QueueFull(self._queued, len(items), self.max_queued)
        job: _Job[T, R] = _Job(items, asyncio.get_running_loop().create_future())
        self._queued += len(items)
        self._pending.append(job)
        self._wakeup.set()
        # A client that disconnects cancels this await and so the job's future: the worker
        # skips the job if it has not started it, and drops its results if it has.
        return await job.future

    async def _gather(self) -> list[_Job[T, R]]:
        """Wait for a first job, then up to ``max_wait_s`` for the batch to fill."""
        assert self._wakeup is not None
        while not self._pending:
            self._wakeup.clear()
            await self._wakeup.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while sum(len(j.items) for j in self._pending) < self.max_batch:
            left = deadline - loop.time()
            if left <= 0:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), left)
            except TimeoutError:
                break
        return take_batch(self._pending, self.max_batch)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            live = [j for j in batch if not j.future.done()]  # skip abandoned requests
            items = [item for job in live for item in job.items]
            try:
                if items:
                    results = await loop.run_in_executor(self._executor, self._run, items)
                    if len(results) != len(items):
                        raise RuntimeError(f"{len(results)} results for {len(items)} items")
                    self.stats.record(len(items), len(live))
                    start = 0
                    for job in live:
                        end = start + len(job.items)
                        if not job.future.done():
                            job.future.set_result(results[start:end])
                        start = end
            except asyncio.CancelledError:
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(BatcherClosed("the server is stopping"))
                raise
            except Exception as exc:  # any failure of the model: handed to every waiting request
                log.exception("%s: batch of %d items failed", self.name, len(items))
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(exc)
            finally:
                self._queued -= sum(len(j.items) for j in batch)
