"""LoRA wrapping, freezing, state round trip and merging; full fine-tuning's frozen parts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from models.adapters import (
    AdapterConfig,
    AdapterError,
    LoRALinear,
    adapter_state,
    apply_adapter,
    load_adapter_state,
    merge_lora,
    trainable_parameters,
)
from models.base.encoder import Encoder, load_backbone, resolve_base
from models.config import DEFAULT_LORA_TARGETS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LORA = AdapterConfig("lora", 4, 8.0, 0.0, DEFAULT_LORA_TARGETS)


def _encoder(tiny_base: Path) -> tuple[torch.nn.Module, object]:
    base = resolve_base(str(tiny_base), tiny_base.parent / "models")
    return load_backbone(base, dropout=False)


def _batch(tok: object) -> dict[str, torch.Tensor]:
    enc = tok(["좋아요 영화", "별로 지루 최악 ㅠㅠ"], padding=True, return_tensors="pt")  # type: ignore[operator]
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def test_lora_starts_as_the_base_and_trains_only_adapters(tiny_base: Path) -> None:
    backbone, tok = _encoder(tiny_base)
    backbone.eval()
    batch = _batch(tok)
    before = Encoder(backbone)(**batch).detach()
    applied = apply_adapter(backbone, LORA)
    # 2 layers × 6 targets; "output.dense" also names the attention output, counted once
    assert len(applied.modules) == 12
    assert all(isinstance(backbone.get_submodule(m), LoRALinear) for m in applied.modules)
    after = Encoder(backbone)(**batch).detach()
    torch.testing.assert_close(after, before)  # B = 0: training starts from the base
    names = [n for n, _ in trainable_parameters(backbone)]
    assert names and all(n.endswith(("lora_A", "lora_B")) for n in names)


def test_state_round_trip_and_merge_keep_outputs(tiny_base: Path) -> None:
    backbone, tok = _encoder(tiny_base)
    applied = apply_adapter(backbone, LORA)
    torch.manual_seed(1)
    with torch.no_grad():
        for name in applied.modules:
            backbone.get_submodule(name).lora_B.normal_(0, 0.2)  # a "trained" adapter
    backbone.eval()
    batch = _batch(tok)
    trained = Encoder(backbone)(**batch).detach()
    state = adapter_state(backbone, applied)

    fresh, _ = _encoder(tiny_base)
    apply_adapter(fresh, LORA)
    load_adapter_state(fresh, applied, state)
    fresh.eval()
    torch.testing.assert_close(Encoder(fresh)(**batch).detach(), trained)

    assert merge_lora(fresh) == 12
    assert not any(isinstance(m, LoRALinear) for m in fresh.modules())
    torch.testing.assert_close(Encoder(fresh)(**batch).detach(), trained, atol=1e-5, rtol=1e-5)
    assert trained.abs().sum() > 0


def test_adapter_state_must_match(tiny_base: Path) -> None:
    backbone, _ = _encoder(tiny_base)
    applied = apply_adapter(backbone, LORA)
    state = adapter_state(backbone, applied)
    state.pop(next(iter(state)))
    with pytest.raises(AdapterError, match="missing"):
        load_adapter_state(backbone, applied, state)


def test_targets_that_match_nothing_are_an_error(tiny_base: Path) -> None:
    backbone, _ = _encoder(tiny_base)
    with pytest.raises(AdapterError, match="match no linear layer"):
        apply_adapter(backbone, AdapterConfig("lora", 4, 8.0, 0.0, ("q_lin",)))


def test_full_finetuning_freezes_only_the_embeddings(tiny_base: Path) -> None:
    backbone, _ = _encoder(tiny_base)
    applied = apply_adapter(backbone, AdapterConfig("full", frozen=("embeddings.",)))
    trainable = {n for n, _ in trainable_parameters(backbone)}
    assert not any(n.startswith("embeddings.") for n in trainable)
    assert "encoder.layer.0.attention.self.query.weight" in trainable
    assert set(adapter_state(backbone, applied)) == trainable


def test_first_layer_adapts_only_the_upper_layers(tiny_base: Path) -> None:
    backbone, tok = _encoder(tiny_base)
    applied = apply_adapter(backbone, replace(LORA, first_layer=1))
    assert len(applied.modules) == 6 and all(".layer.1." in m for m in applied.modules)
    assert not any(isinstance(m, LoRALinear) for m in backbone.encoder.layer[0].modules())
    with torch.no_grad():
        for name in applied.modules:
            backbone.get_submodule(name).lora_B.normal_(0, 0.2)
    Encoder(backbone)(**_batch(tok)).sum().backward()
    grads = {n for n, p in backbone.named_parameters() if p.grad is not None}
    assert grads and all(".layer.1." in n for n in grads)
    # the setting travels with the artifact's config; configs written before it mean "all"
    assert AdapterConfig.from_json(applied.to_json()) == applied
    old = {k: v for k, v in applied.to_json().items() if k != "first_layer"}
    assert AdapterConfig.from_json(old).first_layer == 0


def test_first_layer_past_the_last_layer_is_an_error(tiny_base: Path) -> None:
    backbone, _ = _encoder(tiny_base)
    with pytest.raises(AdapterError, match="past the encoder's last layer"):
        apply_adapter(backbone, replace(LORA, first_layer=2))
