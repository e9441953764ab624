"""Tokenize once, then build length-bucketed batches padded only to their own longest row.

Padding is wasted compute: reviews run from 3 to 140 characters, so a random batch padded to
its longest member is mostly padding. Training sorts texts by length inside pools of
``batch_size * pool`` shuffled rows (the pools keep batch order random, as HF's
LengthGroupedSampler does); inference sorts all texts by length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def tokenize(
    tokenizer: Any, texts: Sequence[str], *, prefix: str, max_length: int, chunk: int = 4096
) -> list[list[int]]:
    """Token ids per text (with the base's special tokens), truncated, unpadded."""
    out: list[list[int]] = []
    for start in range(0, len(texts), chunk):
        part = [prefix + t for t in texts[start : start + chunk]]
        enc = tokenizer(
            part, truncation=True, max_length=max_length, padding=False, return_attention_mask=False
        )
        out.extend(enc["input_ids"])
    return out


def pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) right-padded to the longest row of this batch."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):  # per row: copying ragged lists has no vector form
        ids[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, pool: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of similar-length rows; every row exactly once."""
    order = rng.permutation(len(lengths))
    pool_rows = batch_size * pool
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool_rows):
        chunk = order[start : start + pool_rows]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Inference order: all rows by length, cut into batches (callers restore input order)."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
