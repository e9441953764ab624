"""HTTP serving benchmark (issue 11): texts/s through ``POST /v1/predict`` with 1, 8 and 32
concurrent clients, against, in the same run, the offline rate of ``predict_records`` (what
``kreview predict`` runs) on the same texts with the same current models.

The server is the real ``kreview serve`` in a child process (its own interpreter, so client
threads here do not share its GIL), on 127.0.0.1 with a free port, over a temporary warehouse
whose ``models/`` links to ``warehouse/models`` (loaded read-only; nothing is written there).
Each client sends small requests (``--per-request`` texts, default 1) back to back; the
server's micro-batcher is what lets concurrent small requests share encoder passes.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m bench.serve [--texts 2000] [--per-request 1]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch

from bench.corpus import read_pool
from models.scoring.predict import predict_records

REPO = Path(__file__).resolve().parents[1]


def corpus(n: int) -> list[str]:
    """``n`` distinct non-blank review texts from the unlabelled Naver pool (real lengths)."""
    df = read_pool(n * 2)
    texts = [t for t in df["document"].drop_nulls().unique(maintain_order=True) if t.strip()]
    return texts[:n]


def offline(models_dir: Path, texts: list[str], batch_size: int) -> tuple[float, list[dict]]:
    from models.registry.bundle import load_current

    models = load_current(models_dir, device="cpu")
    list(predict_records(models, texts[:64], batch_size=batch_size))  # warm-up
    start = time.perf_counter()
    records = list(predict_records(models, texts, batch_size=batch_size))
    return time.perf_counter() - start, records


def start_server(models_dir: Path, root: Path) -> tuple[subprocess.Popen, str]:
    (root / "models").symlink_to(models_dir.resolve())
    env = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    env.update(
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        KREVIEW_SCORING__DEVICE="cpu",
        KREVIEW_SERVE__ACCESS_LOG="false",
        KREVIEW_SERVE__QUEUE_TEXTS="4096",
    )
    cmd = [sys.executable, "-m", "jobs.cli", "-q", "-w", str(root), "serve", "--port", "0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if m := re.search(r"running on (http://127\.0\.0\.1:\d+)", line):
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep it drained
            return proc, m.group(1)
    raise RuntimeError("the server did not start:\n" + "".join(seen))


def through_http(
    url: str, texts: list[str], clients: int, per_request: int
) -> tuple[float, list[dict], float, float]:
    """Seconds for ``clients`` threads to push every text through /v1/predict, the records in
    input order, and the p50 / p99 request latency in ms."""
    chunks = [texts[i : i + per_request] for i in range(0, len(texts), per_request)]
    results: list[list[dict] | None] = [None] * len(chunks)
    latencies: list[float] = []
    errors: list[str] = []
    next_chunk = iter(range(len(chunks)))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=300.0) as c:
            while True:
                with lock:
                    i = next(next_chunk, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                r = c.post("/v1/predict", json={"texts": chunks[i]})
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    if r.status_code == 200:
                        results[i] = r.json()["results"]
                    else:
                        errors.append(f"{r.status_code} {r.text[:200]}")

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    records = [rec for chunk in results for rec in (chunk or [])]
    lat = np.array(latencies) * 1000
    return elapsed, records, float(np.percentile(lat, 50)), float(np.percentile(lat, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--per-request", type=int, default=1)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--models", type=Path, default=REPO / "warehouse" / "models")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    texts = corpus(args.texts)
    chars = np.array([len(t) for t in texts])
    print(
        f"{len(texts)} texts from the unlabelled Naver pool, {chars.mean():.0f} chars on average "
        f"(max {chars.max()}); models {args.models}; torch threads {torch.get_num_threads()}"
    )
    secs, reference = offline(args.models, texts, args.batch_size)
    base_rate = len(texts) / secs
    print(f"offline predict_records (batch {args.batch_size}): {base_rate:.1f} texts/s")

    with tempfile.TemporaryDirectory(prefix="kreview-bench-serve-") as tmp:
        proc, url = start_server(args.models, Path(tmp))
        try:
            through_http(url, texts[:32], 4, args.per_request)  # warm-up
            print(f"\nserver {url}, {args.per_request} text(s) per request")
            print("clients  texts/s  vs offline  p50 ms  p99 ms  max |Δp_positive|  same label")
            for n in args.clients:
                secs, records, p50, p99 = through_http(url, texts, n, args.per_request)
                rate = len(texts) / secs
                p_http = np.array([r["p_positive"] for r in records])
                p_off = np.array([r["p_positive"] for r in reference])
                pairs = zip(records, reference, strict=True)
                same = np.mean([a["sentiment"] == b["sentiment"] for a, b in pairs])
                print(
                    f"{n:>7}  {rate:>7.1f}  {rate / base_rate:>9.2f}x  {p50:>6.0f}  {p99:>6.0f}"
                    f"  {np.abs(p_http - p_off).max():>17.2e}  {same:>10.4f}"
                )
        finally:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
