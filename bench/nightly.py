"""Nightly-job benchmark (issue 9): a full pipeline run over the real review pool, then an
incremental run after 1% new reviews arrive; wall time per stage for both.

    .venv/bin/python -m bench.nightly [--limit N] [--new-share 0.01] [--quantize none|int8]

The browser is skipped for these figures (the scrape stage does not run): the reviews are
written to ``raw/`` as a scraper would write them (bench/corpus.py), and each run is a real
``kreview run --from clean`` in a child process (clean -> score -> views -> export and the
stages after it) against a fresh temporary warehouse with the shipped default models.
Per-stage times come from the run ledger (``run_stages``), so they are the job's own figures.

The new reviews are a seeded random share of the pool held back from the first run, scraped
a day later. Scoring dominates on a CPU (the encoder); ``--limit`` runs a smaller corpus.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from bench.corpus import SCRAPED_AT, read_pool, to_raw, write_raw
from core.warehouse import Warehouse


def kreview(root: Path, *args: str, env: dict[str, str] | None = None) -> float:
    """Run ``kreview ARGS`` on the warehouse at ``root``; returns its wall time."""
    full_env = {**os.environ, "KREVIEW_WAREHOUSE__ROOT": str(root), **(env or {})}
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "jobs.cli", "--quiet", *args],
        check=True,
        env=full_env,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


def last_run_stages(root: Path) -> list[tuple[str, float, int | None, int | None]]:
    """(stage, seconds, rows_in, rows_out) of the latest `kreview run`, from the ledger."""
    con = duckdb.connect(str(Warehouse(root).catalog), read_only=True)
    try:
        run_id = con.execute(
            "SELECT run_id FROM runs WHERE command = 'run' ORDER BY started_at DESC LIMIT 1"
        ).fetchone()[0]  # type: ignore[index]
        return con.execute(
            "SELECT stage, epoch(finished_at) - epoch(started_at), rows_in, rows_out"
            " FROM run_stages WHERE run_id = ? ORDER BY started_at",
            [run_id],
        ).fetchall()
    finally:
        con.close()


def split_new(pool: pl.DataFrame, share: float, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(first run's reviews, the share that arrives later)."""
    mask = pl.Series("new", np.random.default_rng(seed).random(pool.height) < share)
    return pool.filter(~mask), pool.filter(mask)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="reviews of the pool (default all)")
    ap.add_argument("--new-share", type=float, default=0.01)
    ap.add_argument("--quantize", choices=["none", "int8"], default="none")
    ap.add_argument("--keep", action="store_true", help="keep the temporary warehouse")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="kreview-bench-nightly-"))
    env = {"KREVIEW_SCORING__QUANTIZE": args.quantize}
    kreview(root, "init")
    kreview(root, "models", "bootstrap")  # base + shipped default models: not timed

    pool = read_pool(args.limit)
    first, new = split_new(pool, args.new_share)
    write_raw(to_raw(first, "bench-full"), root / "raw", "bench-full")
    print(
        f"corpus: {pool.height:,} real reviews; full run {first.height:,}, then "
        f"{new.height:,} new ({args.new_share:.0%}); scrape skipped (no browser), "
        f"quantize={args.quantize}, {os.cpu_count()} CPUs, torch threads "
        f"{os.environ.get('OMP_NUM_THREADS', 'default')}"
    )

    full_s = kreview(root, "run", "--from", "clean", env=env)
    full = last_run_stages(root)
    later = SCRAPED_AT + timedelta(days=1)
    write_raw(to_raw(new, "bench-incr", scraped_at=later), root / "raw", "bench-incr", files=1)
    incr_s = kreview(root, "run", "--from", "clean", env=env)
    incr = {stage: (s, rin, rout) for stage, s, rin, rout in last_run_stages(root)}

    print(
        f"\n{'stage':<8} {'full s':>9} {'rows in':>9} {'incr s':>8} {'rows in':>8} {'incr/full':>9}"
    )
    for stage, s, rin, _ in full:
        i_s, i_in, _ = incr.get(stage, (float("nan"), None, None))
        print(
            f"{stage:<8} {s:>9.2f} {rin or 0:>9,} {i_s:>8.2f} {i_in or 0:>8,} "
            f"{i_s / s if s else float('nan'):>9.3f}"
        )
    print(
        f"{'total':<8} {full_s:>9.2f} {'':>9} {incr_s:>8.2f} {'':>8} {incr_s / full_s:>9.3f}"
        "   (process wall time, incl. start-up)"
    )
    if args.keep:
        print(f"warehouse kept at {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
