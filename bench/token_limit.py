"""What a version's token limit costs and buys (issue 22): the scorer's encoder pass over the
same NSMC test reviews at each ``--limits`` value, in the same run.

The current models are loaded once the scorer's way (models.scoring.batch.load_models: one
pass shared by the heads, the configured CPU precision) and only the limit is changed between
passes; the passes alternate (``--repeats`` rounds, the order flipped each round) so the
machine's drift falls on every limit alike. Printed per limit: tokens per review, reviews/s
(the median round), the ratio to the first limit, and the sentiment accuracy on these
reviews, with how many reviews were cut at that limit.

    .venv/bin/python -m bench.token_limit [--texts 10000] [--limits 64 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.corpus import read_nsmc_test
from core.warehouse import Warehouse
from models.config import ScoringConfig
from models.scoring.batch import load_models, score_texts
from models.scoring.predict import normalize_many


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=10_000)
    ap.add_argument("--limits", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warehouse", type=Path, default=Path("warehouse"))
    args = ap.parse_args()

    df = read_nsmc_test().drop_nulls("document")
    rows = np.random.default_rng(args.seed).permutation(df.height)[: args.texts]
    sample = df[np.sort(rows)]
    texts = normalize_many(sample["document"].to_list())
    gold = sample["label"].to_numpy()
    models = load_models(Warehouse(args.warehouse).models_dir, ScoringConfig(device="cpu"))
    model = models.passes[0].model
    print(
        f"{model.ref} (shipped at {model.text.max_length} tokens), {len(texts):,} NSMC test "
        f"reviews, precision {models.precision}, {args.repeats} rounds"
    )

    full = np.array([len(r) for r in _ids(model, texts)])
    seconds: dict[int, list[float]] = {limit: [] for limit in args.limits}
    accuracy: dict[int, float] = {}
    for rnd in range(args.repeats):
        order = args.limits if rnd % 2 == 0 else args.limits[::-1]
        for limit in order:
            for p in models.passes:
                p.model.text = replace(p.model.text, max_length=limit)
            start = time.perf_counter()
            scored = score_texts(models, texts)
            seconds[limit].append(time.perf_counter() - start)
            accuracy[limit] = float(((scored.p_positive >= 0.5) == gold).mean())

    base = float(np.median(seconds[args.limits[0]]))
    print("limit  tokens/review  cut  reviews/s  time ratio  sentiment accuracy")
    for limit in args.limits:
        s = float(np.median(seconds[limit]))
        tokens = float(np.minimum(full, limit).mean())
        cut = float((full > limit).mean())
        print(
            f"{limit:5d}  {tokens:13.2f}  {cut:4.1%}  {len(texts) / s:9.1f}  {s / base:10.3f}"
            f"  {accuracy[limit]:.4f}"
        )


def _ids(model, texts: list[str]) -> list[list[int]]:  # type: ignore[no-untyped-def]
    """Token ids of each text read whole (up to the base's 512)."""
    limit = model.text.max_length
    model.text = replace(model.text, max_length=512)
    try:
        return model.tokenize(texts)
    finally:
        model.text = replace(model.text, max_length=limit)


if __name__ == "__main__":
    main()
