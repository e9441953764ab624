"""Base resolution (folder, hub id, offline fallback to the bootstrapped copy), pooling, SDPA."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from models.base.encoder import (
    BaseUnavailable,
    load_backbone,
    mean_pool,
    registry_base_dir,
    resolve_base,
    resolve_recorded,
    weights_sha256,
)
from models.config import DEFAULT_BASE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_local_folder_is_used_as_is(tiny_base: Path, tmp_path: Path) -> None:
    base = resolve_base(str(tiny_base), tmp_path / "models")
    assert base.source == "folder" and base.path == tiny_base
    assert base.sha256 == weights_sha256(tiny_base) and len(base.sha256) == 64


def test_default_id_offline_uses_the_bootstrapped_copy(
    tiny_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    models = tmp_path / "models"
    copy = registry_base_dir(models, DEFAULT_BASE)
    shutil.copytree(tiny_base, copy)
    (copy / "provenance.json").write_text(json.dumps({"base": DEFAULT_BASE}))
    base = resolve_base(DEFAULT_BASE, models)
    assert base.source == "registry" and base.path == copy and base.base_id == DEFAULT_BASE
    # the recorded id + checksum finds the same copy without the hub
    assert resolve_recorded(DEFAULT_BASE, base.sha256, models).path == copy
    # a folder keeps the id it reproduces (provenance.json), not its path
    assert resolve_base(str(copy), models).base_id == DEFAULT_BASE


def test_default_id_without_copy_says_run_bootstrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BaseUnavailable, match="kreview models bootstrap"):
        resolve_base(DEFAULT_BASE, tmp_path / "models")


def test_other_hub_ids_offline_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BaseUnavailable, match="beomi/KcELECTRA-base-v2022 is not reachable"):
        resolve_base("beomi/KcELECTRA-base-v2022", tmp_path / "models")
    with pytest.raises(BaseUnavailable, match="neither a folder nor a hub id"):
        resolve_base("no-such-thing", tmp_path / "models")


def test_mean_pool_ignores_padding() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(mean_pool(hidden, mask), torch.tensor([[2.0, 3.0]]))


def test_backbone_uses_sdpa_and_padding_does_not_change_embeddings(
    tiny_base: Path, tmp_path: Path
) -> None:
    from models.base.encoder import Encoder

    model, tok = load_backbone(resolve_base(str(tiny_base), tmp_path), dropout=False)
    assert model.config._attn_implementation == "sdpa"
    enc = Encoder(model).eval()
    alone = tok(["좋아요"], return_tensors="pt")
    padded = tok(["좋아요", "별로 지루 최악 실망 노잼"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        a = enc(alone["input_ids"], alone["attention_mask"])
        b = enc(padded["input_ids"], padded["attention_mask"])[:1]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
