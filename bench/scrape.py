"""Scrape benchmark (issue 3): crawl 200 titles × 150 reviews from the replay site.

The replay site runs in its own process (so its CPU and memory are not the scraper's), with
~50 ms of latency added to every response. The real scrape stage crawls it in headless
Chromium, both sources at once, politeness on. Printed: reviews/s, pages/s, peak memory of
the scraper's process tree (Python + Playwright driver + Chromium), and the smallest gap the
*server* saw between two requests to one host, against the configured interval.

The interval: the default (1 s per host) would make this crawl take about an hour (≈3,200
Naver and ≈1,800 Watcha requests, one at a time per host), so the bench runs with a smaller,
stated interval; the projection for the default is printed too.

    .venv/bin/python -m bench.scrape [--titles 200] [--reviews 150] [--latency-ms 50]
                                     [--interval 0.05] [--jitter 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from etl import scrape
from etl.replay.corpus import film_names
from etl.replay.faults import min_gap
from jobs.config import load_config
from jobs.runner import Run

PAGE = os.sysconf("SC_PAGE_SIZE")


def _pss(pid: int) -> int:
    """Proportional set size: shared pages (Chromium's processes share a lot) are split
    between their users, so a sum over processes is not inflated. Falls back to RSS."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm", encoding="utf-8") as fh:
            return int(fh.read().split()[1]) * PAGE
    except OSError:  # the process ended meanwhile
        return 0


def _tree_pss(root: int, exclude: set[int]) -> int:
    """Memory of ``root`` and all its descendants (from /proc), minus ``exclude`` subtrees."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        if pid in exclude:
            continue
        total += _pss(pid)
        stack.extend(children.get(pid, []))
    return total


class PeakSampler(threading.Thread):
    """Samples the process tree's memory (PSS) every ``every_s`` and keeps the peak."""

    def __init__(self, exclude: set[int], every_s: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.exclude, self.every_s = exclude, every_s
        self.peak = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, _tree_pss(os.getpid(), self.exclude))
            self._done.wait(self.every_s)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [
        sys.executable,
        "-m",
        "etl.replay",
        "serve",
        "--titles",
        str(args.titles),
        # A few more than the cap, so paging has to stop at the cap, not at the end.
        "--reviews-per-title",
        str(args.reviews + 10),
        "--latency-ms",
        str(args.latency_ms),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def server_log(base_url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{base_url}/__replay/requests", timeout=30) as resp:
        return json.loads(resp.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--titles", type=int, default=200)
    parser.add_argument("--reviews", type=int, default=150)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--interval", type=float, default=0.05, help="scrape.min_interval_s")
    parser.add_argument("--jitter", type=float, default=0.0, help="scrape.jitter_s")
    parser.add_argument("--concurrency", type=int, default=2, help="pages per host")
    parser.add_argument("--keep", type=Path, default=None, help="warehouse dir to keep")
    args = parser.parse_args()

    server, urls = start_server(args)
    workdir = Path(tempfile.mkdtemp(prefix="kreview-bench-scrape-"))
    root = args.keep or workdir / "wh"
    titles = workdir / "titles.txt"
    titles.write_text(
        "".join(f"{n}\t{y}\n" for n, y, _ in film_names(args.titles)), encoding="utf-8"
    )
    overrides = {
        "warehouse.root": root,
        "scrape.titles_file": titles,
        "scrape.max_per_title": args.reviews,
        "scrape.min_per_title": min(30, args.reviews),
        "scrape.min_interval_s": args.interval,
        "scrape.jitter_s": args.jitter,
        "scrape.max_concurrency_per_host": args.concurrency,
        "sources.watcha.api_base_url": urls["watcha"],
        "sources.watcha.web_base_url": urls["watcha"],
        "sources.naver.base_url": urls["naver"],
    }
    cfg = load_config(env={}, overrides=overrides)
    sampler = PeakSampler(exclude={server.pid})
    try:
        sampler.start()
        started = time.monotonic()
        with Run(cfg, "scrape", show_progress=sys.stderr.isatty()) as run:
            result = run.stage("scrape", scrape.run)
        wall = time.monotonic() - started
        peak_tree = sampler.stop()
        # Both sites share one log; keep each site's own requests.
        logs = {
            site: [r for r in server_log(urls[site]) if r["site"] == site]
            for site in ("watcha", "naver")
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
    py_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024

    d = result.details
    pages = sum(s["pages"] for s in d["sources"].values())
    print(
        f"scrape bench: {args.titles} titles × {args.reviews} reviews, 2 sources, "
        f"{args.latency_ms:g} ms latency per response, interval {args.interval:g} s "
        f"+ jitter ≤{args.jitter:g} s, {args.concurrency} pages per host"
    )
    print(f"  wall {wall:.1f} s (stage {d['seconds']} s), {os.cpu_count()} CPUs")
    print(f"  reviews   {result.rows_out:,} written  → {result.rows_out / wall:.1f} reviews/s")
    print(f"  pages     {pages:,} (payloads + page loads + scroll loads) → {pages / wall:.1f}/s")
    print(f"  requests  {d['requests']:,}, retries {d['retries']}, statuses {d['statuses']}")
    for source, s in d["sources"].items():
        print(
            f"  {source:<7} ok {s['ok']}, too_few {s['too_few']}, failed {s['failed']}, "
            f"not_found {s['not_found']}, reviews {s['collected']:,}, pages {s['pages']:,}"
        )
    print(
        f"  peak memory: process tree {peak_tree / 2**20:.0f} MiB PSS (sampled every 0.25 s); "
        f"Python {py_peak / 2**20:.0f} MiB RSS; largest child {child_peak / 2**20:.0f} MiB RSS"
    )
    for site, rows in logs.items():
        arrivals = [r["t"] for r in rows]
        gap = min_gap(arrivals)
        held = gap is not None and gap >= args.interval
        per_req = len(arrivals) and (arrivals[-1] - arrivals[0]) / max(1, len(arrivals) - 1)
        print(
            f"  {site:<7} server saw {len(arrivals):,} requests, min gap "
            f"{gap if gap is None else round(gap, 4)} s vs {args.interval:g} s configured: "
            f"{'HELD' if held else 'NOT HELD'}; mean {per_req:.3f} s/request"
        )
    projected = max(len(rows) * (1.0 + 0.3 / 2 + args.latency_ms / 1000) for rows in logs.values())
    print(
        f"  at the default 1 s + ≤0.3 s jitter the busiest host alone needs "
        f"≈{projected / 60:.0f} min"
    )
    if args.keep is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
