"""The micro-batcher on its own: batches fill, requests are never split, the queue bound
holds, failures reach every request of the batch, abandoned requests are skipped."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from jobs.serve.batcher import BatcherClosed, MicroBatcher, QueueFull, _Job, take_batch


def make(run: Any, pool: ThreadPoolExecutor, **kw: Any) -> MicroBatcher:
    settings = {"max_batch": 8, "max_wait_s": 0.05, "max_queued": 32, **kw}
    return MicroBatcher(run, pool, **settings)


def test_take_batch_takes_whole_jobs_up_to_the_limit() -> None:
    jobs = deque(_Job(list(range(n)), None) for n in (3, 4, 2, 5))  # type: ignore[arg-type]
    assert [len(j.items) for j in take_batch(jobs, 8)] == [3, 4]  # 3 + 4 + 2 > 8
    assert [len(j.items) for j in take_batch(jobs, 8)] == [2, 5]
    big = deque([_Job(list(range(20)), None)])  # type: ignore[arg-type]
    assert [len(j.items) for j in take_batch(big, 8)] == [20]  # never split, even if larger


def test_concurrent_submits_share_one_run_and_get_their_own_slices() -> None:
    calls: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        calls.append(list(items))
        return [x * 10 for x in items]

    async def main() -> list[list[int]]:
        with ThreadPoolExecutor(1) as pool:
            b = make(run, pool)
            b.start()
            got = await asyncio.gather(*(b.submit([i, i + 100]) for i in range(4)))
            assert b.queued == 0
            await b.stop()
            return got

    got = asyncio.run(main())
    assert got == [[i * 10, (i + 100) * 10] for i in range(4)]
    assert len(calls) == 1 and sorted(calls[0]) == sorted([0, 100, 1, 101, 2, 102, 3, 103])


def test_batches_never_exceed_max_batch_unless_one_request_does() -> None:
    sizes: list[int] = []

    def run(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            b = make(run, pool, max_batch=5)
            b.start()
            await asyncio.gather(*(b.submit([1, 2, 3]) for _ in range(6)), b.submit(list(range(9))))
            await b.stop()

    asyncio.run(main())
    assert sum(sizes) == 27
    assert all(s <= 5 or s == 9 for s in sizes) and 9 in sizes


def test_queue_bound_counts_texts_and_frees_them_when_answered() -> None:
    gate = threading.Event()

    def run(items: list[int]) -> list[int]:
        gate.wait(10)
        return items

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            b = make(run, pool, max_queued=6)
            b.start()
            first = asyncio.ensure_future(b.submit([1, 2, 3, 4]))
            await asyncio.sleep(0.1)  # taken by the worker, blocked in run: still counted
            assert b.queued == 4
            with pytest.raises(QueueFull, match="4 texts queued, 3 more would exceed"):
                await b.submit([5, 6, 7])
            second = asyncio.ensure_future(b.submit([5, 6]))  # 4 + 2 fits
            await asyncio.sleep(0.01)
            assert b.queued == 6
            gate.set()
            assert await first == [1, 2, 3, 4] and await second == [5, 6]
            assert b.queued == 0 and b.stats.rejected == 1
            await b.stop()

    asyncio.run(main())


def test_a_failing_batch_fails_each_of_its_requests_and_the_next_batch_works() -> None:
    def run(items: list[int]) -> list[int]:
        if -1 in items:
            raise ValueError("bad batch")
        return items

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            b = make(run, pool)
            b.start()
            results = await asyncio.gather(b.submit([1]), b.submit([-1]), return_exceptions=True)
            assert all(isinstance(r, ValueError) for r in results)
            assert await b.submit([2]) == [2] and b.queued == 0
            await b.stop()

    asyncio.run(main())


def test_abandoned_requests_are_skipped_and_stop_fails_the_rest() -> None:
    seen: list[list[int]] = []
    gate = threading.Event()

    def run(items: list[int]) -> list[int]:
        gate.wait(10)
        seen.append(list(items))
        return items

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            b = make(run, pool, max_batch=1, max_wait_s=0.0)
            b.start()
            busy = asyncio.ensure_future(b.submit([1]))
            await asyncio.sleep(0.05)
            gone = asyncio.ensure_future(b.submit([2]))
            await asyncio.sleep(0.01)
            gone.cancel()  # the client went away while queued
            kept = asyncio.ensure_future(b.submit([3]))
            await asyncio.sleep(0.01)
            gate.set()
            assert await busy == [1] and await kept == [3]
            assert seen == [[1], [3]] and b.queued == 0
            gate.clear()
            blocked = asyncio.ensure_future(b.submit([4]))
            waiting = asyncio.ensure_future(b.submit([5]))
            await asyncio.sleep(0.05)
            stop = asyncio.ensure_future(b.stop())
            await asyncio.sleep(0.05)
            gate.set()
            await stop
            for fut in (blocked, waiting):
                with pytest.raises(BatcherClosed):
                    await fut
            with pytest.raises(BatcherClosed):
                await b.submit([6])

    asyncio.run(main())
