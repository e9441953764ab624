"""Views benchmark (issue 8): a warehouse of the 493,882 real reviews, then time the views.

Reviews go through the real clean stage. Scores are NOT from a model for this figure: they come
from a fixed random seed (numpy, seed 0) so that the views have realistic volume; what is timed
is the SQL, which does not care where the numbers came from.

    .venv/bin/python -m bench.views [--limit N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench.corpus import read_pool, to_raw, write_raw
from core.catalog import open_reader, open_writer
from core.warehouse import Warehouse
from etl import clean
from etl.views import create_views, refresh_aggregates
from jobs.config import load_config
from jobs.runner import Run
from models.config import REQUIRED_TASKS


def random_scores(keys: list[str], seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = len(keys)
    p = rng.beta(2, 1.2, n).astype(np.float32)
    emotions = rng.beta(0.6, 3, (n, 44)).astype(np.float32)
    top2 = -np.sort(-emotions, axis=1)[:, :2]
    labels = [f"e{i}" for i in range(44)]
    top_idx = np.argsort(-emotions, axis=1)[:, :3]
    now = datetime.now(UTC)
    return pa.table(
        {
            "review_key": keys,
            "sentiment_version": ["bench-random"] * n,
            "emotion_version": ["bench-random"] * n,
            "sentiment": (p >= 0.5).astype(np.int8),
            "p_positive": p,
            "emotions": pa.FixedSizeListArray.from_arrays(pa.array(emotions.ravel()), 44),
            "top_emotions": [[labels[j] for j in row] for row in top_idx],
            "emotion_point": top2.mean(axis=1),
            "scored_at": [now] * n,
            "run_id": ["bench"] * n,
        }
    )


def timed(con, sql: str, params: list | None = None, repeat: int = 5) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        rows = len(con.execute(sql, params or []).fetchall())
        times.append(time.perf_counter() - t)
    return statistics.median(times), rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="build the warehouse here and keep it")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="kreview-bench-views-"))
    cfg = load_config(env={}, overrides={"warehouse.root": root})
    wh = Warehouse(root).ensure()
    t0 = time.perf_counter()
    write_raw(to_raw(read_pool(args.limit), "bench-full"), wh.raw_dir, "bench-full")
    with Run(cfg, "clean", show_progress=False) as run:
        res = run.stage("clean", clean.run)
    with open_writer(wh) as con:
        keys = [r[0] for r in con.execute("SELECT review_key FROM reviews").fetchall()]
        con.register("s", random_scores(keys))
        con.execute("INSERT INTO scores SELECT * FROM s")
        for task in REQUIRED_TASKS:
            con.execute(
                "INSERT INTO model_versions (task, version, kind, path, metrics, created_at,"
                " is_current) VALUES (?, 'bench-random', ?, '-', '{}', now(), true)",
                [task, task],
            )
        create_views(con)
        t_agg = time.perf_counter()
        refresh_aggregates(con)
        agg_s = time.perf_counter() - t_agg
    build_s = time.perf_counter() - t0
    with open_reader(wh) as con:
        n_titles = con.execute("SELECT count(DISTINCT title_id) FROM reviews").fetchone()[0]
        big = con.execute(
            "SELECT title_id FROM reviews GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
        full_s, full_rows = timed(con, "SELECT * FROM title_scores")
        one_s, _ = timed(con, "SELECT * FROM title_scores WHERE title_id = ?", [big])
        emo_s, _ = timed(con, "SELECT * FROM title_emotions WHERE title_id = ?", [big])
        trend_s, _ = timed(con, "SELECT * FROM daily_title_trend WHERE title_id = ?", [big])
        cmp_s, _ = timed(con, "SELECT * FROM source_comparison")
    print(f"warehouse: {res.rows_out:,} reviews, {n_titles:,} titles (built in {build_s:.1f}s)")
    print("scores: fixed random seed 0 (not a model); timings are median of 5")
    print(f"refresh of the per-title aggregates (title_stats): {agg_s * 1000:.0f} ms")
    print(
        f"SELECT * FROM title_scores            {full_s * 1000:8.1f} ms  ({full_rows:,} rows)"
        f"  goal < 500 ms"
    )
    print(f"title_scores, one title (largest)     {one_s * 1000:8.1f} ms  goal < 50 ms")
    print(f"title_emotions, one title             {emo_s * 1000:8.1f} ms")
    print(f"daily_title_trend, one title          {trend_s * 1000:8.1f} ms")
    print(f"SELECT * FROM source_comparison       {cmp_s * 1000:8.1f} ms")
    print(f"warehouse kept at {root}" if args.keep else "")


if __name__ == "__main__":
    main()
