"""CUDA scores agree with CPU fp32 scores (issue 20, part 6).

The shipped default model scores 1,000 NSMC test texts twice: on the CPU in fp32, and on CUDA
under the autocast models/inference.py applies there (bf16; fp16 on a GPU without bf16). Both
runs go through the scorer's per-batch step (models/scoring/batch.py score_texts).

Tolerances: the same sentiment label on >= 99% of the texts; every one of the 44 emotion
intensities of every text within 0.02 (the max absolute difference, not the mean), and the mean
difference a tenth of that; embedding cosine >= 0.999 on average and >= 0.995 for the worst
text. For scale: bf16 autocast on a CPU (issue 20 part 5) agreed on 99.95% of the labels with
a mean emotion difference of 0.0009 and a mean cosine of 0.99997.
"""

from __future__ import annotations

import numpy as np
import torch

from models.registry.bundle import LoadedModels
from models.scoring.batch import score_texts
from tests.gpu.compare import agreement
from tests.gpu.marks import GPU

pytestmark = GPU

MIN_LABEL_AGREEMENT = 0.99
MAX_EMOTION_DIFF = 0.02
MAX_MEAN_EMOTION_DIFF = 0.002
MIN_MEAN_COSINE = 0.999
MIN_COSINE = 0.995


def autocast_dtype() -> str:
    """What models/inference.py autocasts to on this GPU."""
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def test_cuda_scores_agree_with_cpu_fp32(
    cpu_fp32_models: LoadedModels,
    cuda_models: LoadedModels,
    nsmc_sample: tuple[list[str], np.ndarray],
) -> None:
    texts, labels = nsmc_sample
    ref = score_texts(cpu_fp32_models, texts, 64)
    got = score_texts(cuda_models, texts, 64)
    a = agreement(ref, got)
    acc_cpu = float(((ref.p_positive >= 0.5) == labels).mean())
    acc_cuda = float(((got.p_positive >= 0.5) == labels).mean())
    print(
        f"gpu-check: CUDA {autocast_dtype()} autocast vs CPU fp32, shipped default"
        f" {cuda_models.versions['sentiment']}: {a.line()}; NSMC accuracy"
        f" {acc_cpu:.4f} (CPU fp32) / {acc_cuda:.4f} (CUDA)"
    )
    assert a.labels >= MIN_LABEL_AGREEMENT
    assert a.max_emotion <= MAX_EMOTION_DIFF
    assert a.mean_emotion <= MAX_MEAN_EMOTION_DIFF
    assert a.mean_cosine >= MIN_MEAN_COSINE
    assert a.min_cosine >= MIN_COSINE
