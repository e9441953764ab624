"""Scoring precision: bf16 autocast by default where the CPU has native bf16, fp32 and int8
as options; the old `quantize` key still means what it meant."""

from __future__ import annotations

import pytest
import torch

from models import precision
from models.config import ScoringConfig


def test_auto_is_bf16_only_on_a_cpu_with_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert precision.scoring_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    assert precision.scoring_precision("auto", cpu) == "fp32"
    assert precision.scoring_precision("int8", cpu) == "int8"
    assert precision.scoring_precision("fp32", cpu) == "fp32"
    assert precision.scoring_precision("int8", torch.device("cuda")) == "cuda-autocast"


def test_bf16_autocast_runs_the_cpu_matmul_in_bf16() -> None:
    a = torch.randn(4, 8)
    with precision.cpu_autocast("bf16", torch.device("cpu")):
        assert (a @ a.T).dtype == torch.bfloat16
    with precision.cpu_autocast("fp32", torch.device("cpu")):
        assert (a @ a.T).dtype == torch.float32


def test_the_old_quantize_key_maps_to_precision() -> None:
    assert ScoringConfig().precision == "auto"
    assert ScoringConfig.model_validate({"quantize": "int8"}).precision == "int8"
    assert ScoringConfig.model_validate({"quantize": "none"}).precision == "auto"
    assert (
        ScoringConfig.model_validate({"quantize": "none", "precision": "fp32"}).precision == "fp32"
    )
    with pytest.raises(ValueError, match="quantize must be none or int8"):
        ScoringConfig.model_validate({"quantize": "fp16"})


def test_bf16_scores_agree_with_fp32(trained) -> None:
    from models.scoring.batch import load_models, score_texts
    from tests.models.test_score import texts

    sample = texts(40, seed=3)
    fp32 = load_models(trained, ScoringConfig(device="cpu", precision="fp32"))
    bf16 = load_models(trained, ScoringConfig(device="cpu", precision="bf16"))
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    a, b = score_texts(fp32, sample), score_texts(bf16, sample)
    assert not (a.p_positive == b.p_positive).all()  # bf16 really ran
    assert abs(a.p_positive - b.p_positive).max() < 0.05
    assert (a.embedding * b.embedding).sum(axis=1).min() > 0.99
