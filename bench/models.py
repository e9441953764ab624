"""Held-out quality of the current (default) models on the FULL evaluation sets (issue 6):
NSMC test (50,000; 3 empty documents dropped), KOTE test (5,000), KLUE-STS dev (519).

Thresholds (emotion, similarity) are the ones stored with the model (tuned on its validation
split during training), never tuned on these sets.

    .venv/bin/python -m bench.models [--warehouse warehouse] [--limit N] [--quantize int8]
        [--tasks sentiment emotion similarity]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.corpus import DATA
from core.warehouse import Warehouse
from models.data import read_klue_sts, read_kote, read_nsmc
from models.inference import metrics_for, predict_examples
from models.registry.bundle import load_current
from models.registry.store import Registry
from models.scoring.batch import quantize_int8

SETS = {
    "sentiment": (read_nsmc, DATA / "nsmc" / "ratings_test.txt.gz"),
    "emotion": (read_kote, DATA / "kote" / "test.tsv"),
    "similarity": (read_klue_sts, DATA / "klue-sts" / "klue-sts-v1.1_dev.json"),
}
TARGETS = {
    "sentiment": "accuracy >= 0.88",
    "emotion": "macro F1 >= 0.50, macro AUROC >= 0.85",
    "similarity": "Pearson >= 0.84",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", type=Path, default=Path("warehouse"))
    ap.add_argument("--limit", type=int, default=None, help="first N rows per set (default all)")
    ap.add_argument("--quantize", choices=("none", "int8"), default="none")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--tasks", nargs="+", choices=tuple(SETS), default=list(SETS))
    args = ap.parse_args()
    registry = Registry(Warehouse(args.warehouse).models_dir)
    models = load_current(registry, device="cpu")
    if args.quantize == "int8":
        quantize_int8(models)
    out = {}
    for task in args.tasks:
        reader, path = SETS[task]
        ex = reader(path)
        if args.limit:
            ex = ex.subset(range(min(args.limit, len(ex))))
        m = models.by_task[task]
        t = time.perf_counter()
        preds = predict_examples(m.encoder, m.heads, m.text, ex, batch_size=64)
        seconds = time.perf_counter() - t
        metrics = metrics_for(preds, ex, m.thresholds.get(task))
        out[task] = {"n": len(ex), "model": m.ref, "seconds": round(seconds, 1), **metrics}
        shown = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
        print(f"{task:10s} n={len(ex):,} model={m.ref} ({seconds:.0f}s) target: {TARGETS[task]}")
        print("  " + ", ".join(f"{k}={v:.4f}" for k, v in shown.items()))
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=2, default=str))


if __name__ == "__main__":
    main()
