"""A bounded load test on loopback: 16 concurrent clients for 15 s against one server with
the tiny model. No errors; prints p50/p99 latency and texts/s (figures depend on the machine;
clients and server share one process and its GIL here, so they are a floor)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest

from core.warehouse import Warehouse
from tests.serve.conftest import running

pytestmark = pytest.mark.slow

CLIENTS, SECONDS = 16, 15.0
TEXTS = ["영화 좋아요 ㅋㅋ", "진짜 별로 지루 ㅠㅠ", "감동 최고 명작", "스토리 배우 연출 실망"]


@dataclass
class Answer:
    texts: list[str]  # sent to /v1/predict; empty for a read of /v1/titles/t1
    status: int
    body: Any
    seconds: float


def test_sixteen_clients_for_fifteen_seconds_without_errors(
    models: Any, views_wh: Warehouse
) -> None:
    answers: list[Answer] = []
    sent = [0] * CLIENTS  # requests each client sent
    crashed: list[str] = []  # a client's exception (a timeout, a closed connection)
    lock = threading.Lock()
    with running(models, views_wh) as api:
        stop_at = time.monotonic() + SECONDS

        def client(k: int) -> None:
            with httpx.Client(base_url=api.url, timeout=30.0) as c:
                i = 0
                while time.monotonic() < stop_at:
                    n = 1 + (k + i) % 4
                    # every text unique, so that an answer can only match its own request
                    texts = [f"{TEXTS[(k + j) % 4]} {k}-{i}-{j}" for j in range(n)]
                    sent[k] += 1
                    t0 = time.perf_counter()
                    try:
                        if (k + i) % 8 == 7:  # one request in eight reads the views
                            texts = []
                            r = c.get("/v1/titles/t1")
                        else:
                            r = c.post("/v1/predict", json={"texts": texts})
                        body = r.json() if r.status_code == 200 else r.text[:200]
                    except Exception as exc:
                        with lock:
                            crashed.append(f"client {k}, request {i}: {exc!r}")
                        return
                    dt = time.perf_counter() - t0
                    with lock:
                        answers.append(Answer(texts, r.status_code, body, dt))
                    i += 1

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 60)
        elapsed = time.perf_counter() - started
        stats = api.batcher().stats
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert not crashed, crashed[:5]
    # every request sent was answered, and answered 200; every client got through many
    assert len(answers) == sum(sent) and min(sent) > 1
    failures = [f"{a.status} {str(a.body)[:200]}" for a in answers if a.status != 200]
    assert not failures, failures[:5]
    # each answer is its own request's: one record per text, in order (micro-batching mixes
    # concurrent requests into one pass and must hand every request back its own slice)
    predicts = [a for a in answers if a.texts]
    reads = [a for a in answers if not a.texts]
    assert predicts and reads
    for a in predicts:
        assert [rec["text"] for rec in a.body["results"]] == a.texts
    assert all(a.body["title_id"] == "t1" for a in reads)
    # the batcher scored every text exactly once, each request as one job
    texts_done = sum(len(a.texts) for a in predicts)
    assert (stats.jobs, stats.items) == (len(predicts), texts_done)
    assert stats.items / stats.batches > 1.5  # concurrent requests did share passes
    lat = np.array([a.seconds for a in answers]) * 1000
    p50, p99 = np.percentile(lat, [50, 99])
    print(
        f"\nload: {CLIENTS} clients x {elapsed:.1f}s: {len(lat)} requests, 0 errors, "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"{texts_done / elapsed:.0f} texts/s, "
        f"mean batch {stats.items / max(stats.batches, 1):.1f} texts"
    )
    assert 0 < lat.min() <= p50 <= p99 <= lat.max() < 30_000  # within the client's timeout
