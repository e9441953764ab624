"""Nightly-job benchmark (issues 9, 20): a full pipeline run over the real review pool, then an
incremental run after 1% new reviews arrive; wall time per stage for both, and the score
stage's phases (encode, terms, assign, full reclusters, keywords, aggregates).

Between the two runs, the clusters of every title are computed again the way the score stage
did before issue 20 (``recluster(reference=True)``: every title from scratch, keywords from the
texts analysed by kiwipiepy), in a child process on the same warehouse: the baseline of the
full run's clustering and keywords, in the same run and at the same precision.

    .venv/bin/python -m bench.nightly [--limit N | --titles N] [--new-share 0.01]
        [--precision auto|fp32|bf16|int8] [--keep]

The browser is skipped for these figures (the scrape stage does not run): the reviews are
written to ``raw/`` as a scraper would write them (bench/corpus.py), and each run is a real
``kreview run --from clean`` in a child process (clean -> score -> views -> export and the
stages after it) against a fresh temporary warehouse with the shipped default models.
Per-stage times come from the run ledger (``run_stages``), so they are the job's own figures.

The new reviews are a seeded random share of the pool held back from the first run, scraped
a day later. Scoring dominates on a CPU (the encoder); ``--limit`` runs a smaller corpus (the
pool's first N reviews: many titles, few reviews each), ``--titles`` one made of whole titles (N
seeded-random titles with all their reviews: per-title costs as in the full pool).
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


PHASES = (
    ("encode", "score_seconds", None),
    ("terms", "terms_seconds", "terms_extracted"),
    ("assign", "assign_seconds", "titles_assigned"),
    ("full reclusters", "full_cluster_seconds", "titles_full"),
    ("keywords", "keywords_seconds", None),
    ("cluster reads/writes", "cluster_io_seconds", None),
    ("aggregates", "aggregates_seconds", None),
)


def score_details(root: Path) -> dict:
    """The details the latest run's score stage recorded in the ledger."""
    import json

    con = duckdb.connect(str(Warehouse(root).catalog), read_only=True)
    try:
        row = con.execute(
            "SELECT s.details FROM run_stages s JOIN runs r USING (run_id)"
            " WHERE r.command = 'run' AND s.stage = 'score' ORDER BY r.started_at DESC LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    return json.loads(row[0]) if row and row[0] else {}


def reference_clusters(root: Path, precision: str) -> tuple[float, int]:
    """Seconds to recluster every title the pre-issue-20 way (a child process on ``root``)."""
    code = (
        "import json, sys, time\n"
        "from core.catalog import open_writer\n"
        "from core.warehouse import Warehouse\n"
        "from jobs.config import load_config\n"
        "from models.scoring.keywords import nouns\n"
        "from models.scoring.recluster import recluster\n"
        "cfg = load_config(overrides={'warehouse.root': sys.argv[1]})\n"
        "nouns(['영화 배우'])  # kiwipiepy loads once per process: not timed, as in the stage\n"
        "with open_writer(Warehouse(cfg.warehouse.root)) as con:\n"
        "    v = con.execute('SELECT DISTINCT similarity_version FROM embeddings')"
        ".fetchall()[0][0]\n"
        "    titles = [r[0] for r in con.execute('SELECT DISTINCT title_id FROM reviews"
        " ORDER BY 1').fetchall()]\n"
        "    t = time.perf_counter()\n"
        "    recluster(con, titles, v, cfg.scoring, 'bench-reference', reference=True)\n"
        "    print(json.dumps([time.perf_counter() - t, len(titles)]))\n"
    )
    import json

    proc = subprocess.run(
        [sys.executable, "-c", code, str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "KREVIEW_SCORING__PRECISION": precision},
    )
    if proc.returncode:
        raise SystemExit(f"the reference clustering failed:\n{proc.stderr}")
    out = proc.stdout
    seconds, titles = json.loads(out.strip().splitlines()[-1])
    return float(seconds), int(titles)


def print_phases(full: dict, incr: dict) -> None:
    print(
        f"\nscore stage phases   {'full s':>9} {'(n)':>8} {'incr s':>8} {'(n)':>8} {'incr/full':>9}"
    )
    for name, key, count in PHASES:
        f, i = full.get(key, 0.0) or 0.0, incr.get(key, 0.0) or 0.0
        fn = f"{full.get(count, 0):,}" if count else ""
        i_n = f"{incr.get(count, 0):,}" if count else ""
        print(
            f"  {name:<19}{f:>9.2f} {fn:>8} {i:>8.2f} {i_n:>8} {i / f if f else float('nan'):>9.3f}"
        )
    print(
        f"  titles touched: full {full.get('titles_reclustered', 0):,}, incremental "
        f"{incr.get('titles_reclustered', 0):,}; why full: {incr.get('why_full', {})}"
    )


def split_new(pool: pl.DataFrame, share: float, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(first run's reviews, the share that arrives later)."""
    mask = pl.Series("new", np.random.default_rng(seed).random(pool.height) < share)
    return pool.filter(~mask), pool.filter(mask)


def whole_titles(pool: pl.DataFrame, n: int, seed: int = 11) -> pl.DataFrame:
    """Every review of ``n`` seeded-random titles of ``pool``."""
    ids = pool["movie_id"].unique().sort()
    picked = ids.sample(min(n, len(ids)), seed=seed)
    return pool.filter(pl.col("movie_id").is_in(picked.implode()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--limit", type=int, default=None, help="first N reviews of the pool")
    size.add_argument("--titles", type=int, default=None, help="N random titles, all reviews")
    ap.add_argument("--new-share", type=float, default=0.01)
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16", "int8"], default="auto")
    ap.add_argument("--keep", action="store_true", help="keep the temporary warehouse")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="kreview-bench-nightly-"))
    env = {"KREVIEW_SCORING__PRECISION": args.precision}
    kreview(root, "init")
    kreview(root, "models", "bootstrap")  # base + shipped default models: not timed

    pool = read_pool(args.limit)
    if args.titles:
        pool = whole_titles(pool, args.titles)
    first, new = split_new(pool, args.new_share)
    write_raw(to_raw(first, "bench-full"), root / "raw", "bench-full")
    print(
        f"corpus: {pool.height:,} real reviews; full run {first.height:,}, then "
        f"{new.height:,} new ({args.new_share:.0%}); scrape skipped (no browser), "
        f"precision={args.precision}, {os.cpu_count()} CPUs, torch threads "
        f"{os.environ.get('OMP_NUM_THREADS', 'default')}"
    )

    full_s = kreview(root, "run", "--from", "clean", env=env)
    full = last_run_stages(root)
    full_phases = score_details(root)
    print(
        f"full run: {full_s:.1f} s; now the baseline clustering (pre-issue-20 path)...", flush=True
    )
    ref_s, ref_titles = reference_clusters(root, args.precision)
    later = SCRAPED_AT + timedelta(days=1)
    write_raw(to_raw(new, "bench-incr", scraped_at=later), root / "raw", "bench-incr", files=1)
    incr_s = kreview(root, "run", "--from", "clean", env=env)
    incr = {stage: (s, rin, rout) for stage, s, rin, rout in last_run_stages(root)}
    incr_phases = score_details(root)

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
    print_phases(full_phases, incr_phases)
    new_cluster = full_phases.get("cluster_seconds") or 0.0
    print(
        f"\nclustering and keywords of {ref_titles:,} titles, full run: {new_cluster:.1f} s now"
        f" against {ref_s:.1f} s the pre-issue-20 way (same warehouse, same run):"
        f" {new_cluster / ref_s:.3f}x (target <= 0.25)"
    )
    terms_s = full_phases.get("terms_seconds") or 0.0
    print(
        f"  with the terms extraction it moved into the score stage ({terms_s:.1f} s, once per"
        f" review): {(new_cluster + terms_s) / ref_s:.3f}x"
    )
    print(
        f"run after {args.new_share:.0%} new reviews / full run: {incr_s / full_s:.3f}"
        " (target <= 0.05)"
    )
    if args.keep:
        print(f"warehouse kept at {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
