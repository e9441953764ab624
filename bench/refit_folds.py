"""How much the emotion refit's result moves with its validation split, and what k-fold
changes (issue 22: the promotion gate refused two candidates on KOTE by 0.0001 and 0.0016).

A version's encoder reads KOTE val (the refit's training file) and KOTE test (the held-out
set) once, at the version's token limit, exactly as `kreview models refit-head` does; then for
each seed the emotion head is fitted both ways on the same vectors:

- single: the 10% validation split (the seed draws it) picks the epoch and the threshold;
- k-fold: ``--folds`` heads, the epoch and threshold chosen on every row's out-of-fold
  prediction, the head their mean (models/training/refit.py fit_head_kfold).

Printed: KOTE test macro F1, micro F1 and macro AUROC per seed and way, then the mean and the
spread (max - min) of each way. Both ways see the same vectors and the same seeds.

    .venv/bin/python -m bench.refit_folds [--ref current] [--seeds 5] [--folds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from bench.corpus import DATA
from core.warehouse import Warehouse
from models.data import concat
from models.inference import encode_texts, metrics_for
from models.registry.bundle import load_version
from models.registry.store import Registry, resolve_ref
from models.training.refit import RefitSettings, fit_head, fit_head_kfold, linear_outputs
from models.training.workflow import prepare_data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="current", help="a version, 'current' or 'latest'")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--data", type=Path, default=DATA / "kote" / "val.tsv")
    ap.add_argument("--warehouse", type=Path, default=Path("warehouse"))
    args = ap.parse_args()

    wh = Warehouse(args.warehouse)
    registry = Registry(wh.models_dir)
    ref = resolve_ref(registry, args.ref, ["emotion"])
    model = load_version(registry, ref, device="cpu")
    normalize = bool(registry.get(ref).config.get("normalized_text", True))
    start = time.perf_counter()
    seeds = range(args.seeds)
    prepared = {
        s: prepare_data("emotion", [str(args.data)], wh, normalize=normalize, seed=s) for s in seeds
    }
    first = prepared[0]
    every = concat([first.split.train, first.split.val])
    vectors = dict(
        zip(every.texts, encode_texts(model.encoder, model.text, every.texts), strict=True)
    )
    held = first.held_out
    x_held = encode_texts(model.encoder, model.text, held.texts)
    print(
        f"{ref} at {model.text.max_length} tokens: {len(every):,} KOTE rows to fit on, "
        f"{len(held):,} held out; encoded in {time.perf_counter() - start:.0f} s"
    )

    def rows(texts: tuple[str, ...]) -> torch.Tensor:
        return torch.stack([vectors[t] for t in texts])

    head = model.heads["emotion"]
    figures: dict[str, list[tuple[float, float, float]]] = {"single": [], f"{args.folds}-fold": []}
    for seed in seeds:
        split = prepared[seed].split
        settings = RefitSettings(seed=seed)
        fits = {
            "single": fit_head(
                head,
                rows(split.train.texts),
                split.train,
                rows(split.val.texts),
                split.val,
                settings,
            ),
            f"{args.folds}-fold": fit_head_kfold(
                head,
                rows(split.train.texts + split.val.texts),
                concat([split.train, split.val]),
                replace(settings, folds=args.folds),
            ),
        }
        for way, fit in fits.items():
            m = metrics_for(
                linear_outputs("emotion", head, fit.weight, fit.bias, x_held), held, fit.threshold
            )
            figures[way].append((m["macro_f1"], m["micro_f1"], m["macro_auroc"]))
            print(
                f"seed {seed} {way:>7}: epoch {fit.best_epoch:>2}, threshold {fit.threshold:.3f}, "
                f"macro F1 {m['macro_f1']:.4f}, micro F1 {m['micro_f1']:.4f}, "
                f"AUROC {m['macro_auroc']:.4f}"
            )
    for way, got in figures.items():
        cols = list(zip(*got, strict=True))
        summary = ", ".join(
            f"{name} mean {statistics.fmean(c):.4f} (spread {max(c) - min(c):.4f})"
            for name, c in zip(("macro F1", "micro F1", "AUROC"), cols, strict=True)
        )
        print(f"{way}: {summary}")


if __name__ == "__main__":
    main()
