"""The scorer backs off on a real CUDA out-of-memory error and still returns every row, in order
(issue 20, part 6: models/scoring/batch.py ``_encode_adaptive``, accelerate's
``find_executable_batch_size``).

The out-of-memory error is real, and forced the same way on any GPU size: after a normal run
(batches of 256), ballast blocks fill the GPU until HEADROOM is left free, and the scorer's
per-batch step then starts with one batch of all N_ROWS texts. Most of them run past the
model's 64 tokens, so that batch is 64 tokens wide and needs several times the headroom (one
fp32 hidden state alone is 16,384 x 64 x 384 x 4 bytes = 1.5 GiB; the feed-forward layer's bf16
activations 3 GiB more), while a batch of a few hundred fits. A spy on the model's
``encode_ids`` records each attempted batch size and whether it ran out of memory.

Asserted: the first attempt used the starting size and ran out of memory; each retry used a
smaller size; only the last attempt succeeded; and the rows equal those of the normal run, text
by text (same label except at the edge of 0.5, p_positive and emotions within 0.02, embedding
cosine >= 0.995: the two runs differ only in how rows share batches and padding).

How much smaller each retry is is accelerate's rule, not asserted here: older accelerate halved
the size; recent releases (1.16 here) multiply it by 0.9 unless the caller passes
``reduce_batch_size_fn``. The printed line shows the sizes tried.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise

import numpy as np
import polars as pl
import pytest
import torch

from models.registry.bundle import LoadedModels
from models.scoring.batch import score_texts
from tests.gpu.compare import agreement
from tests.gpu.marks import GPU

pytestmark = GPU

N_ROWS = 16_384
HEADROOM = 2 << 30  # bytes left free on the GPU while the big batch is tried
P_TOL = 0.02
EMOTION_TOL = 0.02
MIN_COSINE = 0.995


def long_texts(pool: list[str], n: int, seed: int = 0) -> list[str]:
    """``n`` distinct texts of 1-8 joined NSMC reviews each (most past 64 tokens)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        picks = rng.choice(len(pool), size=int(rng.integers(1, 9)), replace=False)
        out.append(f"{i}번 " + " ".join(pool[j] for j in picks))
    return out


@contextmanager
def gpu_ballast(leave: int) -> Iterator[int]:
    """Hold GPU memory until about ``leave`` bytes are free; yields the bytes left free."""
    torch.cuda.synchronize()
    torch.cuda.empty_cache()  # cached blocks back to the driver, so they are counted as free
    blocks: list[torch.Tensor] = []
    try:
        for chunk in (1 << 30, 1 << 26):
            while torch.cuda.mem_get_info()[0] - chunk >= leave:
                try:
                    blocks.append(torch.empty(chunk, dtype=torch.uint8, device="cuda"))
                except torch.cuda.OutOfMemoryError:
                    break
        yield torch.cuda.mem_get_info()[0]
    finally:
        blocks.clear()
        torch.cuda.empty_cache()


def test_out_of_memory_backs_off_and_returns_every_row_in_order(
    cuda_models: LoadedModels, nsmc_test: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.scoring.predict import normalize_many

    (encoder_pass,) = cuda_models.passes  # the shipped default is one joint model
    model = encoder_pass.model
    texts = long_texts(normalize_many(nsmc_test["document"].to_list()), N_ROWS)
    # the first attempt is one batch of every row, padded to the model's limit
    assert max(len(r) for r in model.tokenize(texts)) == model.text.max_length
    normal = score_texts(cuda_models, texts, 256)

    tried: list[tuple[int, str]] = []
    real = model.encode_ids

    def spy(ids, *, batch_size: int) -> torch.Tensor:
        try:
            out = real(ids, batch_size=batch_size)
        except torch.cuda.OutOfMemoryError:
            tried.append((batch_size, "oom"))
            raise
        tried.append((batch_size, "ok"))
        return out

    monkeypatch.setattr(model, "encode_ids", spy)
    with gpu_ballast(HEADROOM) as free:
        adaptive = score_texts(cuda_models, texts, N_ROWS)
    sizes = [s for s, _ in tried]
    print(
        f"gpu-check: out-of-memory back-off with {free / 2**30:.2f} GiB free, {N_ROWS:,} texts"
        f" of up to {model.text.max_length} tokens: {len(tried) - 1} out-of-memory errors,"
        f" batch sizes tried {' > '.join(map(str, sizes))}; every row back:"
        f" {agreement(normal, adaptive).line()} against batches of 256"
    )
    assert len(tried) >= 2 and tried[0] == (N_ROWS, "oom")
    assert [o for _, o in tried] == ["oom"] * (len(tried) - 1) + ["ok"]
    assert all(b < a for a, b in pairwise(sizes))

    assert adaptive.p_positive.shape == (N_ROWS,) and adaptive.emotions.shape[0] == N_ROWS
    assert adaptive.embedding.shape == normal.embedding.shape
    a = agreement(normal, adaptive)
    near_half = np.abs(normal.p_positive - 0.5) <= P_TOL
    flipped = (normal.p_positive >= 0.5) != (adaptive.p_positive >= 0.5)
    assert not (flipped & ~near_half).any()
    assert a.max_p <= P_TOL and a.max_emotion <= EMOTION_TOL
    assert a.min_cosine >= MIN_COSINE
