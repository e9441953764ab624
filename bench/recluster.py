"""Reclustering benchmark: every title of a warehouse clustered from scratch the reference way
(keywords from the texts analysed by kiwipiepy: the score stage before issue 20) and the way
the stage does it now (keywords in SQL from terms stored once per review), in the same run on
copies of one warehouse; then 1% of the reviews come back new and are assigned incrementally.

The warehouse holds real reviews of ``--titles`` titles from ../shared/data/unlabeled (cleaned
by the real clean stage) and synthetic embeddings with cluster structure (a few centres per
title plus noise): no encoder runs here, so the figure is clustering, keywords and writes.

    .venv/bin/python -m bench.recluster [--titles 400] [--read-titles N] [--read-reviews N]

The reference reads 256 titles per query, as the stage did; the stage now reads batches bounded
by ``scoring.cluster_read_titles`` and ``scoring.cluster_read_reviews`` (config defaults unless
given).
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
from models.scoring.terms import extract_pending

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


def timed(root: Path, reads: dict[str, int], reference: bool) -> tuple[float, dict]:
    cfg = load_config(env={}, overrides={"warehouse.root": root, **reads})
    with open_writer(Warehouse(root)) as con:
        titles = stale_titles(con, VERSION)
        t = time.perf_counter()
        stats = recluster(con, titles, VERSION, cfg.scoring, "bench", reference=reference)
        return time.perf_counter() - t, stats.as_details()


def terms(root: Path) -> float:
    """Extract every review's terms (what the score stage does before clustering)."""
    with open_writer(Warehouse(root)) as con:
        t = time.perf_counter()
        extract_pending(con, 8192)
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--titles", type=int, default=400)
    ap.add_argument("--read-titles", type=int, help="scoring.cluster_read_titles")
    ap.add_argument("--read-reviews", type=int, help="scoring.cluster_read_reviews")
    args = ap.parse_args()
    reads = {
        f"scoring.cluster_read_{k}": v
        for k, v in (("titles", args.read_titles), ("reviews", args.read_reviews))
        if v is not None
    }
    work = Path(tempfile.mkdtemp(prefix="kreview-bench-recluster-"))
    try:
        build(work / "src", args.titles)
        shutil.copytree(work / "src", work / "reference")
        # kiwipiepy loads once per process (~1 s): warm it outside the timings
        from models.scoring.keywords import nouns

        nouns(["영화 배우 연기"])
        ref_s, ref = timed(work / "reference", reads, reference=True)
        terms_s = terms(work / "src")
        new_s, new = timed(work / "src", reads, reference=False)
        print(
            f"clustering {ref['titles_reclustered']:,} titles from scratch (synthetic embeddings):"
        )
        print(f"  the reference (keywords from the texts, kiwipiepy): {ref_s:.2f}s")
        print(
            f"  stored terms (keywords in SQL): {new_s:.2f}s = {new_s / ref_s:.3f}x"
            f" (full {new['full_cluster_seconds']}s, keywords {new['keywords_seconds']}s,"
            f" reads/writes {new['cluster_io_seconds']}s); terms once per review {terms_s:.2f}s"
        )
        with open_writer(Warehouse(work / "src")) as con:
            con.execute("DELETE FROM cluster_members WHERE hash(review_key) % 100 = 0")
        again_s, again = timed(work / "src", reads, reference=False)
        print(
            f"  after 1% of the reviews come back new: {again_s:.2f}s for"
            f" {again['titles_reclustered']:,} titles ({again['titles_assigned']:,} assigned,"
            f" {again['titles_full']:,} from scratch) = {again_s / new_s:.3f}x of the full"
        )
        print(f"  clusters: {ref['clusters']:,} (reference), {new['clusters']:,} (stored terms)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
