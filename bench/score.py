"""Scoring benchmark (issue 7) with the current (default) models.

1. Throughput on NSMC test texts: the scorer's way (one encoder pass shared by all heads,
   length-sorted batches of 64, inference_mode), fp32 and int8-dynamic, against, in the same
   run, the naive way earlier projects used: one review at a time, three separate model
   passes (one per task), every input padded to 512 tokens.
2. int8's accuracy cost: agreement with fp32 and NSMC accuracy on the same texts.
3. Memory: peak RSS while the real score stage streams over warehouses of 100k and 400k
   reviews from ../shared/data/unlabeled, stopped after the same number of chunks (the
   pending set is streamed, so memory should not grow with the corpus).

    .venv/bin/python -m bench.score [--texts 5000] [--naive 30] [--chunks 4]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.corpus import read_nsmc_test
from jobs.config import load_config
from jobs.warehouse import Warehouse
from models.config import ScoringConfig
from models.predict import normalize_many
from models.score import load_models, quantize_int8, score_texts


def naive(models, texts: list[str]) -> float:
    """Seconds for: per review, three passes (one per task), each padded to 512 tokens."""
    m = models.passes[0].model
    tok = m.text.tokenizer
    start = time.perf_counter()
    with torch.inference_mode():
        for text in texts:
            for task in ("sentiment", "emotion", "similarity"):
                enc = tok(
                    m.text.prefix + text,
                    padding="max_length",
                    max_length=512,
                    truncation=True,
                    return_tensors="pt",
                )
                pooled = m.encoder(enc["input_ids"], enc["attention_mask"])
                if task == "similarity":
                    m.embed(pooled)
                else:
                    getattr(m, task)(pooled)
    return time.perf_counter() - start


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_probe(n: int, chunks: int, models_dir: Path) -> None:
    """Child process: a warehouse of ``n`` reviews, score ``chunks`` chunks, print peak RSS."""
    from bench.corpus import read_pool, to_raw, write_raw
    from etl import clean
    from jobs.catalog import open_writer
    from jobs.runner import Run
    from models import score

    root = Path(tempfile.mkdtemp(prefix=f"kreview-bench-score-{n}-"))
    (root / "models").symlink_to(models_dir.resolve())
    cfg = load_config(env={}, overrides={"warehouse.root": root, "scoring.device": "cpu"})
    wh = Warehouse(root).ensure()
    write_raw(to_raw(read_pool(n), "bench"), wh.raw_dir, "bench")
    with Run(cfg, "clean", show_progress=False) as run:
        run.stage("clean", clean.run)
    models = score.load_models(wh.models_dir, cfg.scoring)
    before = rss_mb()
    seen = {"n": 0}

    class Stop(Exception):
        pass

    def on_chunk(k: int) -> None:
        seen["n"] += 1
        if seen["n"] >= chunks:
            raise Stop

    # Stopping after `chunks` chunks is the point of the probe.
    with open_writer(wh) as con, contextlib.suppress(Stop):
        score.score_pending(con, models, cfg.scoring, "bench", on_chunk)
    print(f"{n} {before:.0f} {rss_mb():.0f} {seen['n'] * cfg.scoring.chunk_rows}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=5000)
    ap.add_argument("--naive", type=int, default=30)
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--warehouse", type=Path, default=Path("warehouse"))
    ap.add_argument("--probe", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    models_dir = Warehouse(args.warehouse).models_dir
    if args.probe:
        memory_probe(args.probe, args.chunks, models_dir)
        return
    df = read_nsmc_test().filter(~__import__("polars").col("document").is_null())
    df = df.sample(args.texts, seed=0)
    texts = normalize_many(df["document"].to_list())
    labels = df["label"].to_numpy()
    cfg = ScoringConfig(device="cpu")
    models = load_models(models_dir, cfg)
    print(f"models: {models.versions}, encoder passes per review: {len(models.passes)}")
    print(f"torch threads: {torch.get_num_threads()}, device: cpu")

    t = time.perf_counter()
    fp32 = score_texts(models, texts, 64)
    fp32_rate = len(texts) / (time.perf_counter() - t)
    naive_n = texts[: args.naive]
    naive_rate = len(naive_n) / naive(models, naive_n)
    quantize_int8(models)
    t = time.perf_counter()
    int8 = score_texts(models, texts, 64)
    int8_rate = len(texts) / (time.perf_counter() - t)

    acc32 = float(((fp32.p_positive >= 0.5) == labels).mean())
    acc8 = float(((int8.p_positive >= 0.5) == labels).mean())
    agree = float(((fp32.p_positive >= 0.5) == (int8.p_positive >= 0.5)).mean())
    emo_diff = float(np.abs(fp32.emotions - int8.emotions).mean())
    cos = float((fp32.embedding * int8.embedding).sum(axis=1).mean())
    print(f"\nall three scores, {len(texts):,} NSMC test texts:")
    print(f"  scorer fp32 (one pass, sorted batches of 64): {fp32_rate:8.1f} reviews/s")
    print(f"  scorer int8 dynamic:                          {int8_rate:8.1f} reviews/s")
    print(
        f"  naive (1 at a time, 3 passes, pad 512), {len(naive_n)} texts:"
        f" {naive_rate:8.2f} reviews/s"
    )
    print(
        f"  speed-up vs naive: fp32 {fp32_rate / naive_rate:.0f}x,"
        f" int8 {int8_rate / naive_rate:.0f}x"
    )
    print(
        f"int8 vs fp32: sentiment agreement {agree:.4f}, NSMC acc {acc32:.4f} -> {acc8:.4f},"
        f" mean |d emotion| {emo_diff:.4f}, mean embedding cosine {cos:.4f}"
    )
    print("\npeak memory of the score stage streaming over a warehouse (same number of chunks):")
    for n in (100_000, 400_000):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.score",
                "--probe",
                str(n),
                "--chunks",
                str(args.chunks),
                "--warehouse",
                str(args.warehouse),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        print(
            f"  {int(out[0]):>7,} reviews: RSS after loading models {out[1]} MB,"
            f" peak after scoring {out[3]} reviews: {out[2]} MB"
        )


if __name__ == "__main__":
    main()
