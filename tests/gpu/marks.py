"""The marks every test module here carries: ``gpu``, and a skip with a reason where torch sees
no CUDA device (a plain ``pytest tests/gpu`` on a CPU machine reports skips, not errors)."""

from __future__ import annotations

import pytest
import torch


def no_cuda_reason() -> str | None:
    """Why the gpu tests cannot run here (None: they can)."""
    if torch.cuda.is_available():
        return None
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
    return (
        f"no CUDA device (torch {torch.__version__}, {build}): "
        "these run on a GPU machine (make gpu-check)"
    )


GPU = [
    pytest.mark.gpu,
    pytest.mark.skipif(no_cuda_reason() is not None, reason=no_cuda_reason() or ""),
]
