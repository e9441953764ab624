"""Clean-stage benchmark (issue 4): the 493,882 real reviews as raw Parquet -> ``reviews`` and
``quarantine`` through the real stage (read, normalize, judge, upsert, spam pass, commit).

In the same run, the baseline: the very same stage with normalization done per row in plain
Python (``etl.normalize.features_reference``, the same rules), everything else unchanged.

    .venv/bin/python -m bench.clean [--limit N] [--baseline-limit N] [--repeat N]

The vectorized stage runs ``--repeat`` times (3), each into a fresh warehouse; the median and
the range are reported (the machine is shared, so single runs wobble by ~10%). The baseline runs
once, over the same reviews unless ``--baseline-limit`` cuts it (~25 s for all 494k).

A second pair of figures isolates normalization (text_norm and the features, nothing written):
``normalize_frame`` as the stage runs it against ``features_reference`` row by row, on the first
``--norm-sample`` reviews.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import polars as pl

from bench.corpus import read_pool, to_raw, write_raw
from core.catalog import open_writer
from core.warehouse import Warehouse
from etl import clean, normalize
from jobs.config import load_config
from jobs.runner import Run


def per_row_normalize_frame(df: pl.DataFrame, text_col: str = "text_raw", *, max_chars=None):
    """Baseline: the same rules and features, one Python call per row."""
    lazy = isinstance(df, pl.LazyFrame)
    frame = df.collect() if lazy else df
    texts = frame[text_col].to_list()
    rows = [normalize.features_reference(t, max_chars=max_chars) for t in texts]
    feats = pl.DataFrame(
        rows, schema_overrides={"emojis": pl.List(pl.Utf8)}, infer_schema_length=None
    )
    out = pl.concat([frame, feats], how="horizontal")
    return out.lazy() if lazy else out


def run_stage(
    rows: pl.DataFrame, per_row: bool, chunk_rows: int | None = None
) -> tuple[float, int, dict]:
    root = Path(tempfile.mkdtemp(prefix="kreview-bench-clean-"))
    overrides: dict = {"warehouse.root": root}
    if chunk_rows:
        overrides["clean.chunk_rows"] = chunk_rows
    cfg = load_config(env={}, overrides=overrides)
    wh = Warehouse(root).ensure()
    write_raw(rows, wh.raw_dir, "bench-full")
    with open_writer(wh):  # create the catalog and apply migrations outside the timing
        pass
    original = clean.normalize_frame
    if per_row:
        clean.normalize_frame = per_row_normalize_frame  # type: ignore[assignment]
    try:
        t = time.perf_counter()
        with Run(cfg, "clean", show_progress=False) as run:
            res = run.stage("clean", clean.run)
        elapsed = time.perf_counter() - t
    finally:
        clean.normalize_frame = original  # type: ignore[assignment]
    return (
        elapsed,
        res.rows_in,
        {
            "out": res.rows_out,
            "rejected": res.rows_rejected,
            "reasons": res.details.get("rejected_by_reason"),
            "phases": res.details.get("phases_s"),
        },
    )


def normalization_only(raw: pl.DataFrame, n: int) -> tuple[float, float]:
    """Seconds to normalize the first ``n`` reviews: vectorized (as the stage does), per row."""
    sample = raw.head(n).rename({"text": "text_raw"}).select("text_raw")
    t = time.perf_counter()
    normalize.normalize_frame(sample.lazy(), "text_raw").collect(engine="streaming")
    fast = time.perf_counter() - t
    t = time.perf_counter()
    per_row_normalize_frame(sample)
    return fast, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--baseline-limit", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--norm-sample", type=int, default=100_000)
    ap.add_argument("--chunk-rows", type=int, default=None, help="clean.chunk_rows")
    args = ap.parse_args()
    raw = to_raw(read_pool(args.limit), "bench-full")
    runs = [run_stage(raw, per_row=False, chunk_rows=args.chunk_rows) for _ in range(args.repeat)]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    runs.sort(key=lambda r: r[0])
    times = [r[0] for r in runs]
    fast_s, n, info = runs[len(runs) // 2]
    base_rows = raw.head(args.baseline_limit) if args.baseline_limit else raw
    slow_s, n_slow, _ = run_stage(base_rows, per_row=True)
    fast_rate, slow_rate = n / fast_s, n_slow / slow_s
    print(
        f"clean stage, vectorized (Polars + DuckDB): {n:,} reviews in {fast_s:.2f}s "
        f"(median of {len(runs)}: {', '.join(f'{t:.2f}' for t in times)}) "
        f"= {fast_rate:,.0f} reviews/s  (goal >= 200,000/s)"
    )
    print(f"  kept {info['out']:,}, quarantined {info['rejected']:,}: {info['reasons']}")
    print(f"  seconds per phase: {info['phases']}")
    print(f"  peak RSS of the process after the vectorized runs: {peak_mb:,.0f} MB")
    print(
        f"clean stage, per-row Python normalization: {n_slow:,} reviews in {slow_s:.2f}s "
        f"= {slow_rate:,.0f} reviews/s"
    )
    print(f"ratio vectorized / per-row, whole stage: {fast_rate / slow_rate:.1f}x  (goal >= 10x)")
    sample = min(args.norm_sample, raw.height)
    norm_fast, norm_slow = normalization_only(raw, sample)
    print(
        f"normalization alone, {sample:,} reviews: vectorized {norm_fast:.2f}s "
        f"= {sample / norm_fast:,.0f}/s, per row {norm_slow:.2f}s = {sample / norm_slow:,.0f}/s, "
        f"ratio {norm_slow / norm_fast:.1f}x"
    )


if __name__ == "__main__":
    main()
