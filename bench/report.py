"""Report benchmark: the nightly run's `report` stage on a warehouse of N titles.

The warehouse holds real reviews: every review of N titles drawn (seed 0) from the 493,882
Naver reviews in ../shared/data/unlabeled (14,103 titles; ``--titles 0`` takes them all). They
go straight into ``reviews`` (text_norm = text, not the clean stage: its cost is not what is
measured here). Scores are NOT from a model: a fixed random seed (numpy, seed 0) gives every
review a sentiment, p_positive and 44 emotion intensities, and each title gets up to three
similarity clusters, so that the views the report reads have realistic volume. What is timed
is the report stage, run as the pipeline runs it (ledger row included).

The baseline is the report before pages were bounded: a page for every title. It is not run
(hours at ~1 s per page); the line estimates it from this run's own time per page, and the
old matplotlib page cost is given as measured on the same machine (0.93 s per page).

    .venv/bin/python -m bench.report [--titles 5000] [--max-pages 100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from bench.corpus import read_pool, to_raw
from core.catalog import create_views, open_reader, open_writer, refresh_aggregates
from core.warehouse import Warehouse
from etl.report import build
from jobs.config import load_config
from jobs.runner import Run
from models.config import REQUIRED_TASKS

MATPLOTLIB_PAGE_S = 0.93  # one title page with the old matplotlib charts, this machine
VERSION = "bench-random"


def pick_titles(pool: pl.DataFrame, n: int, seed: int = 0) -> pl.DataFrame:
    """Every review of ``n`` titles drawn at random (all titles when n is 0 or too big)."""
    ids = pool.get_column("movie_id").unique().sort().to_numpy()
    if 0 < n < len(ids):
        ids = np.random.default_rng(seed).choice(ids, n, replace=False)
    return pool.filter(pl.col("movie_id").is_in(ids.tolist()))


def random_scores(keys: list[str], labels: list[str], seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = len(keys)
    p = rng.beta(2, 1.2, n).astype(np.float32)
    emotions = rng.beta(0.6, 3, (n, 44)).astype(np.float32)
    order = np.argsort(-emotions, axis=1)
    top2 = np.take_along_axis(emotions, order[:, :2], axis=1)
    now = datetime.now(UTC)
    return pa.table(
        {
            "review_key": keys,
            "sentiment_version": [VERSION] * n,
            "emotion_version": [VERSION] * n,
            "sentiment": (p >= 0.5).astype(np.int8),
            "p_positive": p,
            "emotions": pa.FixedSizeListArray.from_arrays(pa.array(emotions.ravel()), 44),
            "top_emotions": [[labels[j] for j in row] for row in order[:, :3]],
            "emotion_point": top2.mean(axis=1),
            "scored_at": [now] * n,
            "run_id": ["bench"] * n,
        }
    )


INSERT_REVIEWS = """
INSERT INTO reviews
SELECT review_key, source, review_id, title_id, title, source_title_id, rating, text, text,
       0, 0, 0, [], NULL, 1.0, length(text), false, author_hash, written_at, likes, spoiler,
       url, scraped_at, 'bench', 'bench'
FROM raw
"""
# Up to three clusters per title, its first reviews as representatives (sizes split evenly).
INSERT_CLUSTERS = """
INSERT INTO clusters
SELECT title_id, ?, rn - 1, greatest(n // 3, 1), review_key, ['연기', '감동', '스토리'], now(),
       'bench'
FROM (
    SELECT title_id, review_key,
           row_number() OVER (PARTITION BY title_id ORDER BY review_key) AS rn,
           count(*) OVER (PARTITION BY title_id) AS n
    FROM reviews
)
WHERE rn <= 3
"""


def build_warehouse(root: Path, n_titles: int) -> tuple[int, int]:
    """Fill a fresh warehouse at ``root``; returns (reviews, titles)."""
    wh = Warehouse(root).ensure()
    raw = to_raw(pick_titles(read_pool(), n_titles), "bench-report").unique("review_key")
    with open_writer(wh) as con:
        con.register("raw", raw.to_arrow())
        con.execute(INSERT_REVIEWS)
        con.unregister("raw")
        keys = [r[0] for r in con.execute("SELECT review_key FROM reviews").fetchall()]
        labels = [
            r[0] for r in con.execute("SELECT label FROM emotion_labels ORDER BY idx").fetchall()
        ]
        con.register("s", random_scores(keys, labels))
        con.execute("INSERT INTO scores SELECT * FROM s")
        con.unregister("s")
        for task in REQUIRED_TASKS:
            con.execute(
                "INSERT INTO model_versions (task, version, kind, path, metrics, created_at,"
                " is_current) VALUES (?, ?, ?, ?, '{}', now(), true)",
                [task, VERSION, task, f"{task}/{VERSION}"],
            )
        con.execute(INSERT_CLUSTERS, [VERSION])
        create_views(con)
        refresh_aggregates(con)
        titles = con.execute("SELECT count(DISTINCT title_id) FROM reviews").fetchone()
    return len(keys), int(titles[0]) if titles else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--titles", type=int, default=5000, help="titles drawn; 0 = all 14,103")
    ap.add_argument("--max-pages", type=int, default=None, help="report.max_title_pages")
    ap.add_argument("--keep", type=Path, default=None, help="build the warehouse here and keep it")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="kreview-bench-report-"))
    overrides: dict[str, object] = {"warehouse.root": root}
    if args.max_pages is not None:
        overrides["report.max_title_pages"] = args.max_pages
    cfg = load_config(env={}, overrides=overrides)
    wh = Warehouse(root)
    t = time.perf_counter()
    if wh.catalog.exists():
        with open_reader(wh) as con:
            row = con.execute(
                "SELECT count(*), count(DISTINCT title_id) FROM reviews"
            ).fetchone() or (0, 0)
        n_reviews, n_titles = int(row[0]), int(row[1])
    else:
        n_reviews, n_titles = build_warehouse(root, args.titles)
    built_s = time.perf_counter() - t

    with Run(cfg, "run", show_progress=False) as run:
        res = run.stage("report", build.run)
    d = res.details
    page_titles = d["pages"] - 2
    per_page = d["pages_s"] / max(page_titles, 1)
    print(f"warehouse: {n_reviews:,} reviews, {n_titles:,} titles (ready in {built_s:.1f}s)")
    print("scores: fixed random seed 0 (not a model)")
    print(
        f"report stage: {d['seconds']:.1f}s  (read views {d['read_s']:.1f}s, index "
        f"{d['index_s']:.2f}s, {page_titles} title pages {d['pages_s']:.1f}s = "
        f"{per_page * 1000:.0f} ms/page, write+swap {d['write_s']:.1f}s)"
    )
    index = Path(d["path"])
    print(
        f"written: {d['pages']} pages, {d['bytes'] / 1e6:.1f} MB in all, "
        f"index.html {index.stat().st_size / 1e6:.1f} MB listing {d['titles']:,} titles"
    )
    print(
        f"baseline, a page for every title: ~{n_titles * per_page:.0f}s with these charts, "
        f"~{n_titles * MATPLOTLIB_PAGE_S / 60:.0f} min with the old matplotlib ones "
        f"({MATPLOTLIB_PAGE_S} s/page)"
    )
    if args.keep:
        print(f"warehouse kept at {root}")
    else:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
