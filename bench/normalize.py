"""Benchmark: ``normalize_frame`` (Polars, whole columns) vs the per-row Python reference on the
493,882 real Naver reviews, and a parity check between the two on the same rows.

    .venv/bin/python -m bench.normalize [--limit N] [--reference-limit N] [--max-chars N]

The reference is slow, so by default it runs on the first 100,000 rows (its rate is per row,
so it does not depend much on how many); pass ``--reference-limit 0`` to run it on every row.
Wall-clock figures depend on what else runs on the machine; the CPU seconds less so.
"""

from __future__ import annotations

import argparse
import time

import polars as pl

from bench.corpus import POOL
from etl.normalize import FEATURE_COLUMNS, features_reference, normalize_frame


def read_texts(limit: int | None) -> pl.DataFrame:
    df = pl.read_csv(
        POOL,
        separator="\t",
        quote_char=None,
        schema_overrides={"date": pl.Utf8, "document": pl.Utf8},
        columns=["document"],
    )
    df = df.select(text_raw=pl.col("document").fill_null(""))
    return df.head(limit) if limit else df


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="rows of the pool (default: all)")
    ap.add_argument("--reference-limit", type=int, default=100_000, help="0 = all rows")
    ap.add_argument("--max-chars", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="Polars runs; the best one counts")
    args = ap.parse_args(argv)

    df = read_texts(args.limit)
    n = df.height
    best, best_cpu = float("inf"), float("inf")
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = normalize_frame(df, "text_raw", max_chars=args.max_chars)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    polars_rate = n / best

    ref_rows = df.head(args.reference_limit or n)["text_raw"].to_list()
    t0 = time.perf_counter()
    ref = [features_reference(s, max_chars=args.max_chars) for s in ref_rows]
    ref_s = time.perf_counter() - t0
    ref_rate = len(ref_rows) / ref_s

    cols = ["text_norm", "truncated", *FEATURE_COLUMNS]
    got = out.head(len(ref_rows)).select(cols).to_dicts()
    mismatches = [(i, g, r) for i, (g, r) in enumerate(zip(got, ref, strict=True)) if g != r]

    print(f"rows                    {n:>12,}")
    runs = f"best of {args.repeat}; {best_cpu:.2f} s CPU"
    print(f"polars normalize_frame  {polars_rate:>12,.0f} reviews/s  ({best:.2f} s, {runs})")
    on = f"on {len(ref_rows):,} rows"
    print(f"python reference        {ref_rate:>12,.0f} reviews/s  ({ref_s:.2f} s {on})")
    print(f"ratio                   {polars_rate / ref_rate:>12.1f}x")
    print(f"parity mismatches       {len(mismatches):>12,} of {len(ref_rows):,}")
    for i, g, r in mismatches[:5]:
        diff = {k: (g[k], r[k]) for k in cols if g[k] != r[k]}
        print(f"  row {i}: {diff}")
    changed = out.filter(pl.col("text_norm") != pl.col("text_raw")).height
    print(f"texts changed           {changed:>12,} ({changed / n:.1%})")


if __name__ == "__main__":
    main()
