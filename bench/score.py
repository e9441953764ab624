"""Scoring benchmark (issue 7) with the current (default) models.

1. Throughput on NSMC test texts: the scorer's way (one encoder pass shared by all heads,
   length-sorted batches of 64, inference_mode) at each CPU precision (fp32, bf16 autocast,
   int8 dynamic), against, in the same run, the naive way earlier projects used: one review at
   a time, three separate model passes (one per task), every input padded to 512 tokens.
2. What each precision costs: sentiment agreement with fp32, NSMC accuracy, emotion and
   embedding differences on the same texts.
3. Memory: peak RSS of the score stage streaming over warehouses of ``--sizes`` reviews from
   ../shared/data/unlabeled, stopped after the same number of chunks (the pending set is
   streamed, so memory should not grow with the corpus). Each warehouse is built (raw ->
   clean) in one child process and scored in another, fresh one; the peak is that scoring
   child's own ``ru_maxrss`` (``os.wait4``), so building the corpus never counts. The child
   also reports its RSS after loading the models and after scoring.
4. ``--ray N``: the whole score stage on one warehouse of N reviews with the local engine and
   with the Ray engine (two copies of it, each engine in a fresh child process): reviews/s,
   the ratio, and the largest score difference between the two.
5. ``--cuda-sweep`` (issue 20 part 6, run by bench/gpu_check.py): on CUDA only, ``--texts`` NSMC
   test texts at batch sizes 64-1024, fp16 and bf16 autocast, with and without length sorting:
   reviews/s, peak GPU memory, and agreement with an fp32 pass on the same GPU.

    .venv/bin/python -m bench.score [--texts 5000] [--naive 30] [--sizes 100000 400000]
        [--chunks 4] [--chunk-rows 8192] [--ray 0] [--ray-actors 0] [--cuda-sweep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.corpus import read_nsmc_test
from core.warehouse import Warehouse
from jobs.config import AppConfig, load_config
from models.config import REQUIRED_TASKS, ScoringConfig
from models.precision import SCORING_PRECISIONS, cpu_has_bf16
from models.scoring.batch import load_models, score_texts
from models.scoring.predict import normalize_many


def naive(models, texts: list[str]) -> float:
    """Seconds for: per review, three passes (one per task), each padded to 512 tokens."""
    m = models.passes[0].model
    tok = m.text.tokenizer
    start = time.perf_counter()
    with torch.inference_mode():
        for text in texts:
            for task in REQUIRED_TASKS:
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
    """Peak RSS of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """RSS of this process now (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_cfg(root: Path, chunk_rows: int, **overrides: Any) -> AppConfig:
    return load_config(
        env={},
        overrides={
            "warehouse.root": root,
            "scoring.device": "cpu",
            "scoring.chunk_rows": chunk_rows,
            **overrides,
        },
    )


# --- child processes -------------------------------------------------------------------


def build_warehouse(n: int, root: Path, models_dir: Path) -> None:
    """Child: a warehouse of ``n`` cleaned pool reviews at ``root`` (models: a symlink)."""
    from bench.corpus import read_pool, to_raw, write_raw
    from etl import clean
    from jobs.runner import Run

    root.mkdir(parents=True, exist_ok=True)
    (root / "models").symlink_to(models_dir.resolve())
    cfg = bench_cfg(root, 8192)
    wh = Warehouse(root).ensure()
    write_raw(to_raw(read_pool(n), "bench"), wh.raw_dir, "bench")
    with Run(cfg, "clean", show_progress=False) as run:
        run.stage("clean", clean.run)


def probe_chunks(root: Path, chunks: int, chunk_rows: int) -> None:
    """Child: score ``chunks`` chunks of the warehouse at ``root``; print JSON (RSS after
    loading the models, reviews scored). The parent reads this process's peak RSS."""
    from core.catalog import open_writer
    from models.scoring import batch, local_engine

    cfg = bench_cfg(root, chunk_rows)
    wh = Warehouse(root)
    models = batch.load_models(wh.models_dir, cfg.scoring)
    after_models = current_rss_mb()
    load_peak = rss_mb()  # loading (and merging) the weights peaks above what scoring needs
    seen = {"n": 0, "rows": 0}

    class Stop(Exception):
        pass

    def on_chunk(k: int) -> None:
        seen["n"] += 1
        seen["rows"] += k
        if seen["n"] >= chunks:
            raise Stop

    # Stopping after `chunks` chunks is the point of the probe.
    with open_writer(wh) as con, contextlib.suppress(Stop):
        local_engine.score_pending(con, models, cfg.scoring, "bench", on_chunk)
    print(
        json.dumps(
            {
                "after_models_mb": round(after_models),
                "load_peak_mb": round(load_peak),
                "after_scoring_mb": round(current_rss_mb()),
                "scored": seen["rows"],
            }
        )
    )


def run_stage(root: Path, engine: str, chunk_rows: int, ray_actors: int) -> None:
    """Child: the whole score stage with ``engine``; print JSON of its result."""
    from jobs.runner import Run
    from models.scoring import score

    cfg = bench_cfg(
        root,
        chunk_rows,
        **{
            "scoring.engine": engine,
            "scoring.ray.actors": ray_actors,
            "scoring.ray.local_cpus": os.cpu_count() or 1,
        },
    )
    t = time.perf_counter()
    with Run(cfg, "score", show_progress=False) as run:
        res = run.stage("score", score.run)
    wall = time.perf_counter() - t
    out = {"rows": res.rows_out, "wall_s": round(wall, 2), "threads": torch.get_num_threads()}
    print(json.dumps({**out, **res.details}))


def child(*args: str) -> tuple[str, float]:
    """Run ``python -m bench.score ARGS`` to completion: (stdout, its own peak RSS in MB)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.score", *args], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    # wait4, not wait: the rusage of this one child, not the largest of all children so far
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"bench child {' '.join(args)} failed with exit code {proc.returncode}")
    return out, usage.ru_maxrss / 1024


# --- parent ----------------------------------------------------------------------------


def _timed(models, texts: list[str]) -> tuple[Any, float]:
    t = time.perf_counter()
    scored = score_texts(models, texts, 64)
    return scored, len(texts) / (time.perf_counter() - t)


def throughput(args: argparse.Namespace, models_dir: Path) -> None:
    """All three scores at each precision the scorer offers on CPU, against fp32 (agreement,
    NSMC accuracy, emotion and embedding differences) and against the naive way."""
    df = read_nsmc_test().filter(~__import__("polars").col("document").is_null())
    df = df.sample(args.texts, seed=0)
    texts = normalize_many(df["document"].to_list())
    labels = df["label"].to_numpy()
    print(f"torch threads: {torch.get_num_threads()}, device: cpu, native bf16: {cpu_has_bf16()}")
    runs = {}
    for precision in SCORING_PRECISIONS:  # fp32 first: the baseline of the others
        models = load_models(models_dir, ScoringConfig(device="cpu", precision=precision))
        runs[precision] = _timed(models, texts)
        if precision == "fp32":
            print(f"models: {models.versions}, encoder passes per review: {len(models.passes)}")
            naive_n = texts[: args.naive]
            naive_rate = len(naive_n) / naive(models, naive_n)
        del models
    auto = ScoringConfig(device="cpu").precision
    print(f"\nall three scores, {len(texts):,} NSMC test texts (scoring.precision={auto!r} ->")
    print(f"  {'bf16' if cpu_has_bf16() else 'fp32'} on this CPU):")
    fp32, fp32_rate = runs["fp32"]
    for precision, (scored, rate) in runs.items():
        acc = float(((scored.p_positive >= 0.5) == labels).mean())
        agree = float(((fp32.p_positive >= 0.5) == (scored.p_positive >= 0.5)).mean())
        emo = float(np.abs(fp32.emotions - scored.emotions).mean())
        cos = float((fp32.embedding * scored.embedding).sum(axis=1).mean())
        print(
            f"  {precision:>4}: {rate:7.1f} reviews/s ({rate / fp32_rate:.2f}x fp32,"
            f" {rate / naive_rate:.0f}x naive) | NSMC acc {acc:.4f} | sentiment agrees with"
            f" fp32 {agree:.4f} | mean |d emotion| {emo:.4f} | embedding cosine {cos:.5f}"
        )
    print(
        f"  naive (1 at a time, 3 passes, pad 512, fp32), {len(naive_n)} texts:"
        f" {naive_rate:.2f} reviews/s"
    )


def memory(args: argparse.Namespace, models_dir: Path, tmp: Path) -> None:
    print(
        f"\npeak memory of the score stage (fresh process) streaming over a warehouse,"
        f" {args.chunks} chunks of {args.chunk_rows:,}:"
    )
    for n in args.sizes:
        root = tmp / f"mem-{n}"
        child("--build", str(n), str(root), "--warehouse", str(args.warehouse))
        out, peak = child(
            "--probe",
            str(root),
            "--chunks",
            str(args.chunks),
            "--chunk-rows",
            str(args.chunk_rows),
        )
        res = json.loads(out)
        print(
            f"  {n:>9,} reviews: RSS after loading models {res['after_models_mb']} MB"
            f" (peak while loading {res['load_peak_mb']} MB), after scoring"
            f" {res['scored']:,} reviews {res['after_scoring_mb']} MB; process peak {peak:.0f} MB"
        )
        shutil.rmtree(root, ignore_errors=True)


def max_diff(a: Path, b: Path) -> dict[str, float]:
    """Largest |difference| of p_positive and of the emotions between two warehouses."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{a / 'kreview.duckdb'}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{b / 'kreview.duckdb'}' AS b (READ_ONLY)")
    rows = con.execute(
        "SELECT x.p_positive, y.p_positive, x.emotions, y.emotions"
        " FROM a.scores x JOIN b.scores y USING (review_key)"
    ).fetchall()
    con.close()
    p = np.array([(r[0], r[1]) for r in rows], dtype=np.float64).reshape(-1, 2)
    emo_a = np.array([r[2] for r in rows], dtype=np.float64)
    emo_b = np.array([r[3] for r in rows], dtype=np.float64)
    return {
        "joined": len(rows),
        "p_positive": float(np.abs(p[:, 0] - p[:, 1]).max()) if rows else 0.0,
        "emotions": float(np.abs(emo_a - emo_b).max()) if rows else 0.0,
    }


def engines(args: argparse.Namespace, tmp: Path) -> None:
    root = tmp / f"engines-{args.ray}"
    child("--build", str(args.ray), str(root / "local"), "--warehouse", str(args.warehouse))
    shutil.copytree(root / "local", root / "ray", symlinks=True)  # the same texts
    results = {}
    for engine in ("local", "ray"):
        out, peak = child(
            "--stage",
            str(root / engine),
            "--engine",
            engine,
            "--chunk-rows",
            str(args.chunk_rows),
            "--ray-actors",
            str(args.ray_actors),
        )
        results[engine] = {**json.loads(out), "peak_mb": peak}
    diff = max_diff(root / "local", root / "ray")
    loc, ray = results["local"], results["ray"]
    print(f"\nthe whole score stage on {args.ray:,} pool reviews, local engine vs Ray engine:")
    print(
        f"  local: {loc['rows']:,} reviews in {loc['score_seconds']:.1f} s ="
        f" {loc['reviews_per_s']} reviews/s ({loc['threads']} torch thread(s)),"
        f" stage wall {loc['wall_s']} s, peak RSS {loc['peak_mb']:.0f} MB"
    )
    print(
        f"  ray:   {ray['rows']:,} reviews in {ray['score_seconds']:.1f} s ="
        f" {ray['reviews_per_s']} reviews/s ({ray['ray_actors']} actor(s), first rows after"
        f" {ray.get('ray_first_rows_seconds')} s), stage wall {ray['wall_s']} s,"
        f" peak RSS {ray['peak_mb']:.0f} MB (largest of driver, raylet and actors)"
    )
    print(
        f"  ray / local: {ray['reviews_per_s'] / loc['reviews_per_s']:.2f}x;"
        f" {diff['joined']:,} reviews in both, max |d p_positive| {diff['p_positive']:.2e},"
        f" max |d emotion| {diff['emotions']:.2e}"
    )
    shutil.rmtree(root, ignore_errors=True)


# --- CUDA sweep (issue 20 part 6) ------------------------------------------------------

SWEEP_BATCH_SIZES = (64, 128, 256, 512, 1024)


def _encode_cuda(m, ids: list[list[int]], batch_size: int, dtype, sort: bool) -> torch.Tensor:
    """models.inference.encode_ids with the autocast dtype (None: fp32) and the batching chosen:
    ``sort`` batches rows by length as the scorer does; otherwise batches are cut in input order,
    each padded to its own longest row (a bench-only variant: the scorer always sorts)."""
    from models.batching import pad, sorted_batches

    n = len(ids)
    if sort:
        batches = sorted_batches(np.array([len(r) for r in ids]), batch_size)
    else:
        batches = [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    out: torch.Tensor | None = None
    cast = torch.autocast("cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext()
    with torch.inference_mode(), cast:
        for rows in batches:
            input_ids, mask = pad([ids[i] for i in rows], m.text.pad_id)
            pooled = m.encoder(input_ids.to(m.device), mask.to(m.device)).float().cpu()
            if out is None:
                out = torch.empty((n, pooled.shape[1]), dtype=torch.float32)
            out[torch.from_numpy(rows)] = pooled
    assert out is not None
    return out


def _sweep_run(m, ids: list[list[int]], batch_size: int, dtype, sort: bool) -> dict[str, Any]:
    """One configuration: warm-up on two batches, then all rows and all three scores timed."""
    _encode_cuda(m, ids[: 2 * batch_size], batch_size, dtype, sort)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    pooled = _encode_cuda(m, ids, batch_size, dtype, sort)
    p, _emotions, emb = m.sentiment(pooled), m.emotion(pooled), m.embed(pooled)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    return {
        "rate": len(ids) / seconds,
        "peak": torch.cuda.max_memory_allocated(),
        "p": p,
        "emb": emb,
    }


def cuda_sweep(args: argparse.Namespace, models_dir: Path) -> None:
    """Throughput and peak GPU memory of the shipped/current models on CUDA, per batch size,
    autocast dtype and batching (sorted by length or in input order), printed as Markdown."""
    import datetime

    import polars as pl

    from models.batching import tokenize

    if not torch.cuda.is_available():
        raise SystemExit("bench.score --cuda-sweep: no CUDA device is available here")
    models = load_models(models_dir, ScoringConfig(device="cuda"))
    m = models.passes[0].model
    df = read_nsmc_test().filter(pl.col("document").is_not_null())
    texts = normalize_many(df.sample(min(args.texts, df.height), seed=0)["document"].to_list())
    t = time.perf_counter()
    ids = tokenize(m.text.tokenizer, texts, prefix=m.text.prefix, max_length=m.text.max_length)
    tok_rate = len(texts) / (time.perf_counter() - t)
    lengths = np.array([len(r) for r in ids])
    torch.cuda.synchronize()
    weights = torch.cuda.memory_allocated()
    props = torch.cuda.get_device_properties(0)
    print(
        f"CUDA sweep, {datetime.date.today().isoformat()}: {props.name}"
        f" (sm_{props.major}{props.minor}, {props.total_memory / 2**30:.1f} GiB), torch"
        f" {torch.__version__}, CUDA {torch.version.cuda}; models {models.versions}"
        f" ({len(models.passes)} encoder pass(es), the first swept); {len(texts):,} NSMC test"
        f" texts, {lengths.mean():.1f} tokens on average (max {lengths.max()}); tokenization"
        f" (CPU, once, not in the rates) {tok_rate:,.0f} texts/s; weights on the GPU"
        f" {weights / 2**20:,.0f} MiB. Rates: encoder + the three heads, inputs already"
        f" tokenized; peak: torch.cuda.max_memory_allocated (weights included), reset per row."
    )
    ref = _sweep_run(m, ids, 256, None, True)
    dtypes = [("bf16", torch.bfloat16), ("fp16", torch.float16)]
    if not torch.cuda.is_bf16_supported():
        print("  (no bf16 on this GPU: fp16 only)")
        dtypes = dtypes[1:]
    print(
        "\n| autocast | batches | batch size | reviews/s | peak GPU memory (MiB) |"
        " labels agree with fp32 | min embedding cosine to fp32 |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| none (fp32) | sorted | 256 | {ref['rate']:,.0f} | {ref['peak'] / 2**20:,.0f} | 1 | 1 |"
    )
    for name, dtype in dtypes:
        for sort in (True, False):
            for bs in SWEEP_BATCH_SIZES:
                r = _sweep_run(m, ids, bs, dtype, sort)
                agree = float(((r["p"] >= 0.5) == (ref["p"] >= 0.5)).mean())
                cos = float((r["emb"] * ref["emb"]).sum(axis=1).min())
                print(
                    f"| {name} | {'sorted' if sort else 'input order'} | {bs} |"
                    f" {r['rate']:,.0f} | {r['peak'] / 2**20:,.0f} | {agree:.4f} | {cos:.5f} |"
                )
    # the scorer as it runs in `kreview score`: tokenization included, its own autocast
    score_texts(models, texts[: 2 * 64], 64)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    score_texts(models, texts, 64)
    rate = len(texts) / (time.perf_counter() - t)
    print(
        f"\nthe scorer as `kreview score --device cuda` runs it (score_texts: tokenization"
        f" included, {'bf16' if torch.cuda.is_bf16_supported() else 'fp16'} autocast, sorted,"
        f" batches of 64): {rate:,.0f} reviews/s, peak GPU memory"
        f" {torch.cuda.max_memory_allocated() / 2**20:,.0f} MiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=5000)
    ap.add_argument("--naive", type=int, default=30)
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 400_000])
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--chunk-rows", type=int, default=ScoringConfig().chunk_rows)
    ap.add_argument("--ray", type=int, default=0, help="also compare engines on N reviews")
    ap.add_argument("--ray-actors", type=int, default=0, help="0 = one per CPU slot")
    ap.add_argument("--warehouse", type=Path, default=Path("warehouse"))
    ap.add_argument("--cuda-sweep", action="store_true", help="only the CUDA sweep (item 5)")
    # child roles (see the functions above)
    ap.add_argument("--build", nargs=2, metavar=("N", "DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--stage", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--engine", default="local", help=argparse.SUPPRESS)
    args = ap.parse_args()
    models_dir = Warehouse(args.warehouse).models_dir
    if args.build:
        build_warehouse(int(args.build[0]), Path(args.build[1]), models_dir)
        return
    if args.probe:
        probe_chunks(args.probe, args.chunks, args.chunk_rows)
        return
    if args.stage:
        run_stage(args.stage, args.engine, args.chunk_rows, args.ray_actors)
        return
    if args.cuda_sweep:
        cuda_sweep(args, models_dir)
        return
    if args.texts:
        throughput(args, models_dir)
    with tempfile.TemporaryDirectory(prefix="kreview-bench-score-") as tmp:
        if args.sizes:
            memory(args, models_dir, Path(tmp))
        if args.ray:
            engines(args, Path(tmp))


if __name__ == "__main__":
    main()
