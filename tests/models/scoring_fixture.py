"""A warehouse with a tiny joint model (sentiment + 44 KOTE emotions + similarity + rating)
current in its registry, trained in seconds from a random tiny BERT: for the scorer's tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from core.warehouse import Warehouse
from jobs.config import AppConfig
from tests.models.tiny_tasks import (
    FILLER,
    NEGATIVE,
    POSITIVE,
    fast_request,
    write_nsmc,
    write_pool,
    write_sts,
    write_tiny_base,
)


def write_kote44(path: Path, n: int, seed: int) -> Path:
    """KOTE rows using the real 44-label index space (no labels.tsv: the built-in list)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        labels = [2, 28, 42] if positive else [0, 22, 10]
        words = list(rng.choice(POSITIVE if positive else NEGATIVE, 2)) + list(
            rng.choice(FILLER, 2)
        )
        rows.append(f"{7000 + i}\t{' '.join(words)}\t{','.join(map(str, labels))}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(rows), encoding="utf-8")
    return path


def train_joint(
    cfg: AppConfig, data_root: Path, device: str | None = None, *, rating: bool = True
) -> str:
    """Train and register a tiny joint model in ``cfg``'s warehouse; returns its version.
    ``device``: train there whatever the machine has (None: the recipe's default).
    ``rating=False``: a model from before the rating head (three tasks)."""
    from models.training.workflow import run_training

    base = write_tiny_base(data_root / "tiny-bert")
    (data_root / "nsmc").mkdir(parents=True, exist_ok=True)
    (data_root / "klue-sts").mkdir(parents=True, exist_ok=True)
    data = {
        "sentiment": [str(write_nsmc(data_root / "nsmc" / "ratings_train.txt", 48, 0))],
        "emotion": [str(write_kote44(data_root / "kote" / "val.tsv", 48, 1))],
        "similarity": [str(write_sts(data_root / "klue-sts" / "klue-sts-v1.1_train.json", 48, 2))],
    }
    if rating:
        pool = write_pool(data_root / "unlabeled" / "nsmc_raw_pool.tsv.gz", 120, 3)
        data["rating"] = [str(pool)]
    write_nsmc(data_root / "nsmc" / "ratings_test.txt", 16, 100)
    write_kote44(data_root / "kote" / "test.tsv", 16, 101)
    write_sts(data_root / "klue-sts" / "klue-sts-v1.1_dev.json", 16, 102)
    req = fast_request("joint", data, base)
    if device is not None:
        req = replace(req, loop=replace(req.loop, device=device))  # type: ignore[arg-type]
    outcome = run_training(req, Warehouse(cfg.warehouse.root).ensure())  # type: ignore[arg-type]
    return outcome.info.version
