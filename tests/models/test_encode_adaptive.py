"""The scorer's out-of-memory back-off (models/scoring/batch.py ``_encode_adaptive``) on a CPU.

``_encode_adaptive`` takes accelerate's ``find_executable_batch_size`` path only for a model on
CUDA, and it reads that from ``model.device`` alone. Here a small real encoder runs on the CPU
behind a model whose ``device`` says cuda and whose ``encode_ids`` raises the error CUDA raises
(``torch.cuda.OutOfMemoryError``, "CUDA out of memory. ...") for a batch above a limit. Nothing
runs on a GPU: this checks the back-off and the order of the rows; tests/gpu forces a real
out-of-memory error on one.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
from torch import nn

from models.inference import encode_ids
from models.scoring.batch import _encode_adaptive

PAD = 0


class MeanEmbedding(nn.Module):
    """A small deterministic encoder: the masked mean of token embeddings."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(100, 16)

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).float()
        return (self.emb(input_ids) * m).sum(1) / m.sum(1)


class OomAbove:
    """What ``_encode_adaptive`` sees of a model: ``device`` and ``encode_ids``."""

    def __init__(self, device: str, fits: int, error: Exception | None = None) -> None:
        self.device = torch.device(device)
        self.fits = fits
        self.error = error
        self.encoder = MeanEmbedding()
        self.tried: list[int] = []

    def encode_ids(self, ids, *, batch_size: int) -> torch.Tensor:
        self.tried.append(batch_size)
        if batch_size > self.fits:
            raise self.error or torch.cuda.OutOfMemoryError(
                f"CUDA out of memory. Tried to allocate 2.00 GiB (batch {batch_size} > {self.fits})"
            )
        return encode_ids(self.encoder, ids, PAD, batch_size=batch_size, device=torch.device("cpu"))


def rows(n: int = 300, seed: int = 0) -> list[list[int]]:
    """Token rows of 1-30 ids (1-99; 0 pads), every row distinct."""
    rng = np.random.default_rng(seed)
    return [
        [*rng.integers(1, 100, int(rng.integers(1, 31))).tolist(), i % 99 + 1] for i in range(n)
    ]


def test_backs_off_on_cuda_oom_and_returns_every_row_in_order() -> None:
    ids = rows()
    model = OomAbove("cuda", fits=40)
    got = _encode_adaptive(model, ids, 64)
    sizes = model.tried
    assert sizes[0] == 64 and len(sizes) >= 2
    assert all(b < a for a, b in pairwise(sizes))
    assert all(s > 40 for s in sizes[:-1]) and sizes[-1] <= 40  # stops at the first that fits
    # every row, in input order: as a plain CPU pass in batches of 7 (other batches, other
    # padding) computes them, row by row
    want = encode_ids(model.encoder, ids, PAD, batch_size=7, device=torch.device("cpu"))
    assert got.shape == (len(ids), 16)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_on_cpu_the_batch_size_is_used_as_given() -> None:
    model = OomAbove("cpu", fits=1000)
    _encode_adaptive(model, rows(50), 64)
    assert model.tried == [64]


def test_other_errors_are_not_retried() -> None:
    model = OomAbove("cuda", fits=0, error=RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED"))
    with pytest.raises(RuntimeError, match="CUBLAS"):
        _encode_adaptive(model, rows(50), 64)
    assert model.tried == [64]
