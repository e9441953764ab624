"""Reclustering benchmark: the stale titles of a warehouse clustered and written, one
transaction per read batch of titles (what the score stage does) against one transaction per
title (the baseline: what it did before), in the same run, on copies of one warehouse.

The warehouse holds real reviews of ``--titles`` titles from ../shared/data/unlabeled (cleaned
by the real clean stage) and synthetic embeddings with cluster structure (a few centres per
title plus noise): no encoder runs here, so the figure is clustering, keywords and writes.

    .venv/bin/python -m bench.recluster [--titles 400] [--read-titles 256]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from bench.corpus import read_pool, to_raw, write_raw
from core.catalog import open_writer
from core.warehouse import Warehouse
from etl import clean
from jobs.config import load_config
from jobs.runner import Run
from models.scoring.recluster import recluster, stale_titles

VERSION = "bench-similarity"


def build(root: Path, n_titles: int, dim: int = 384, seed: int = 0) -> None:
    pool = read_pool(None)
    counts = pool.group_by("movie_id").len().filter(pl.col("len") >= 20).sort("movie_id")
    picked = counts.sample(min(n_titles, counts.height), seed=seed)["movie_id"]
    rows = pool.filter(pl.col("movie_id").is_in(picked.implode()))
    cfg = load_config(env={}, overrides={"warehouse.root": root})
    wh = Warehouse(root).ensure()
    write_raw(to_raw(rows, "bench-recluster"), wh.raw_dir, "bench-recluster")
    with Run(cfg, "clean", show_progress=False) as run:
        run.stage("clean", clean.run)
    rng = np.random.default_rng(seed)
    with open_writer(wh) as con:
        reviews = pl.from_arrow(
            con.sql("SELECT review_key, title_id FROM reviews ORDER BY ALL").to_arrow_table()
        )
        vectors = np.empty((reviews.height, dim), dtype=np.float16)
        for (_title,), idx in reviews.with_row_index().group_by("title_id", maintain_order=True):
            n = idx.height
            centres = rng.normal(size=(max(1, n // 8), dim))
            which = rng.integers(0, len(centres), n)
            v = centres[which] + rng.normal(scale=0.35, size=(n, dim))
            vectors[idx["index"].to_numpy()] = v / np.linalg.norm(v, axis=1, keepdims=True)
        emb = pl.DataFrame(
            {
                "review_key": reviews["review_key"],
                "similarity_version": VERSION,
                "dim": pl.Series([dim] * reviews.height, dtype=pl.Int16),
                "vector": [row.tobytes() for row in vectors],
                "run_id": "bench",
            }
        )
        con.register("emb", emb.to_arrow())
        con.execute("INSERT INTO embeddings BY NAME (SELECT * FROM emb)")
        con.unregister("emb")


def timed(root: Path, per_transaction: int | None, read_titles: int) -> tuple[float, int, int]:
    cfg = load_config(
        env={}, overrides={"warehouse.root": root, "scoring.cluster_read_titles": read_titles}
    )
    with open_writer(Warehouse(root)) as con:
        titles = stale_titles(con, VERSION)
        t = time.perf_counter()
        n = recluster(
            con, titles, VERSION, cfg.scoring, "bench", titles_per_transaction=per_transaction
        )
        return time.perf_counter() - t, len(titles), n


def stored(root: Path) -> tuple[list, list]:
    with open_writer(Warehouse(root)) as con:
        clusters = con.execute(
            "SELECT * EXCLUDE (computed_at, run_id) FROM clusters ORDER BY ALL"
        ).fetchall()
        members = con.execute("SELECT * FROM cluster_members ORDER BY ALL").fetchall()
    return clusters, members


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--titles", type=int, default=400)
    ap.add_argument("--read-titles", type=int, default=256, help="scoring.cluster_read_titles")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kreview-bench-recluster-"))
    try:
        build(work / "src", args.titles)
        shutil.copytree(work / "src", work / "per_title")
        shutil.copytree(work / "src", work / "batched")
        # kiwipiepy loads once per process (~1 s): warm it outside both timings
        from models.scoring.keywords import nouns

        nouns(["영화 배우 연기"])
        base_s, n_titles, base_n = timed(work / "per_title", 1, args.read_titles)
        new_s, _, new_n = timed(work / "batched", None, args.read_titles)
        tables = [stored(work / name) for name in ("per_title", "batched")]
        assert tables[0] == tables[1], "both ways must store the same clusters and members"
        reviews = len(tables[1][1])
        print(f"reclustering {n_titles:,} titles ({reviews:,} embedded reviews):")
        ms = base_s / n_titles * 1000
        print(f"  one transaction per title:  {base_s:.2f}s = {ms:.1f} ms a title")
        print(
            f"  one per {args.read_titles} titles read: {new_s:.2f}s = "
            f"{new_s / n_titles * 1000:.1f} ms a title  ({base_s / new_s:.1f}x)"
        )
        print(f"  clusters stored: {new_n:,}, identical both ways ({base_n:,})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
