"""A bounded load test on loopback: 16 concurrent clients for 15 s against one server with
the tiny model. No errors; prints p50/p99 latency and texts/s (figures depend on the machine;
clients and server share one process and its GIL here, so they are a floor)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import numpy as np
import pytest

from jobs.warehouse import Warehouse
from tests.serve.conftest import running

pytestmark = pytest.mark.slow

CLIENTS, SECONDS = 16, 15.0
TEXTS = ["영화 좋아요 ㅋㅋ", "진짜 별로 지루 ㅠㅠ", "감동 최고 명작", "스토리 배우 연출 실망"]


def test_sixteen_clients_for_fifteen_seconds_without_errors(
    models: Any, views_wh: Warehouse
) -> None:
    latencies: list[float] = []
    failures: list[str] = []
    texts_done = [0]
    lock = threading.Lock()
    with running(models, views_wh) as api:
        stop_at = time.monotonic() + SECONDS

        def client(k: int) -> None:
            with httpx.Client(base_url=api.url, timeout=30.0) as c:
                i = 0
                while time.monotonic() < stop_at:
                    n = 1 + (k + i) % 4
                    body = {"texts": [f"{TEXTS[(k + j) % 4]} {i}" for j in range(n)]}
                    t0 = time.perf_counter()
                    if (k + i) % 8 == 7:  # one request in eight reads the views
                        r = c.get("/v1/titles/t1")
                        n = 0
                    else:
                        r = c.post("/v1/predict", json=body)
                    dt = time.perf_counter() - t0
                    with lock:
                        if r.status_code != 200:
                            failures.append(f"{r.status_code} {r.text[:200]}")
                        latencies.append(dt)
                        texts_done[0] += n
                    i += 1

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 60)
        elapsed = time.perf_counter() - started
        stats = api.batcher().stats
    assert not failures, failures[:5]
    lat = np.array(latencies) * 1000
    print(
        f"\nload: {CLIENTS} clients x {elapsed:.1f}s: {len(lat)} requests, 0 errors, "
        f"p50 {np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms, "
        f"{texts_done[0] / elapsed:.0f} texts/s, "
        f"mean batch {stats.items / max(stats.batches, 1):.1f} texts"
    )
    assert len(lat) > CLIENTS  # every client got through more than one request
    assert stats.items / stats.batches > 1.5  # concurrent requests did share passes
