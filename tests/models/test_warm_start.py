"""`kreview train --init-from`: a run that starts from a registered version's weights."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import jobs.cli  # noqa: F401  (registers every command module)
from jobs.app import app
from models.adapters import AdapterConfig
from models.config import DEFAULT_LORA_TARGETS
from models.registry.store import Registry
from models.training.warm_start import WarmStart, WarmStartError, check_compatible

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = [
    "--prefix", "", "--max-length", "32", "--epochs", "6", "--lr", "2e-2",
    "--batch-size", "8", "--eval-every", "0", "--seed", "0", "--lora-r", "4",
]  # fmt: skip


def _kreview(wh: Path, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["-q", "-w", str(wh), *args])
    return res.exit_code, res.output


def _weights(registry: Registry, ref: str) -> dict[str, torch.Tensor]:
    info = registry.get(ref)
    return {
        **load_file(str(info.path / "adapter.safetensors")),
        **load_file(str(info.path / "heads.safetensors")),
    }


def test_init_from_continues_the_source_model(
    clean_env: None, tiny_base: Path, tiny_data: dict, tmp_path: Path
) -> None:
    wh = tmp_path / "wh"
    train = ["train", "sentiment", "--data", str(tiny_data["sentiment"]), "--base", str(tiny_base)]
    code, out = _kreview(wh, *train, *FAST)
    assert code == 0, out
    registry = Registry(wh / "models")
    first = registry.versions()[0]
    acc = first.held_out("sentiment")["metrics"]["accuracy"]  # type: ignore[index]

    # Three steps at a vanishing rate from the trained weights: the same model, not a fresh one
    # (a fresh start from the seed after one step is at chance on this data). Validated after
    # each step with the same score, the best step stays the first; --keep last hands back
    # the third.
    code, out = _kreview(
        wh, *train, *FAST, "--init-from", first.ref, "--max-steps", "3", "--lr", "1e-12",
        "--head-lr", "1e-12", "--no-promote", "--eval-every", "1", "--keep", "last",
    )  # fmt: skip
    assert code == 0, out
    assert "started from" in out and first.ref in out
    second = next(v for v in Registry(wh / "models").versions() if v.ref != first.ref)
    assert second.config["training"]["init_from"] == first.ref
    assert (second.config["training"]["best_step"], second.config["training"]["kept_step"]) == (
        1,
        3,
    )
    assert "weights of step 3 kept (--keep last)" in (second.path / "card.md").read_text()
    assert f"started from the weights of `{first.ref}`" in (second.path / "card.md").read_text()
    assert second.held_out("sentiment")["metrics"]["accuracy"] == pytest.approx(acc)  # type: ignore[index]
    a, b = _weights(registry, first.ref), _weights(registry, second.ref)
    assert set(a) == set(b)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)

    # "current" resolves to the version serving the task; a real rate moves the weights; the
    # order offset reaches the run and its record
    code, out = _kreview(
        wh, *train, *FAST, "--init-from", "current", "--max-steps", "3", "--order-offset", "1"
    )
    assert code == 0, out
    # the one new version (not the newest name: versions made within one second sort by
    # their random suffix)
    (third,) = [
        v for v in Registry(wh / "models").versions() if v.ref not in {first.ref, second.ref}
    ]
    assert third.config["training"]["init_from"] == first.ref
    assert third.config["training"]["order_offset"] == 1
    assert second.config["training"]["order_offset"] == 0
    c = _weights(registry, third.ref)
    assert any(not torch.allclose(a[k], c[k]) for k in a if k.endswith("lora_B"))


def test_init_from_refuses_what_would_not_fit(
    clean_env: None, tiny_base: Path, tiny_data: dict, tmp_path: Path
) -> None:
    wh = tmp_path / "wh"
    train = ["train", "sentiment", "--data", str(tiny_data["sentiment"]), "--base", str(tiny_base)]
    code, out = _kreview(wh, *train, *FAST, "--max-steps", "2")
    assert code == 0, out
    ref = Registry(wh / "models").versions()[0].ref

    code, out = _kreview(wh, *train, *FAST, "--init-from", ref, "--lora-r", "8")
    assert code == 2 and "adapter r = 4" in out and "asks for 8" in out
    code, out = _kreview(wh, *train, *FAST, "--init-from", ref, "--lora-first-layer", "1")
    assert code == 2 and "first_layer" in out
    code, out = _kreview(wh, *train, *FAST, "--init-from", ref, "--trials", "2")
    assert code == 2 and "--trials" in out
    code, out = _kreview(wh, *train, *FAST, "--init-from", "sentiment/20990101T000000Z-000000")
    assert code == 2 and "20990101T000000Z-000000" in out  # an unknown ref: a usage error
    assert len(Registry(wh / "models").versions()) == 1  # nothing half-written


LORA = AdapterConfig("lora", 4, 8.0, 0.0, DEFAULT_LORA_TARGETS, first_layer=0)
SOURCE = WarmStart(
    ref="emotion/x",
    base_sha256="a" * 64,
    adapter=LORA,
    labels={"emotion": ["기쁨", "슬픔"]},
    adapter_state={},
    heads_state={},
    fingerprint="f",
)


def test_check_compatible_names_the_difference() -> None:
    check_compatible(SOURCE, "a" * 64, replace(LORA, dropout=0.3), {"emotion": ["기쁨", "슬픔"]})
    with pytest.raises(WarmStartError, match="base weights aaaaaaaaaaaa"):
        check_compatible(SOURCE, "b" * 64, LORA, {})
    with pytest.raises(WarmStartError, match="alpha"):
        check_compatible(SOURCE, "a" * 64, replace(LORA, alpha=16.0), {})
    with pytest.raises(WarmStartError, match="targets"):
        check_compatible(SOURCE, "a" * 64, replace(LORA, targets=("query",)), {})
    with pytest.raises(WarmStartError, match="emotion labels"):
        check_compatible(SOURCE, "a" * 64, LORA, {"emotion": ["슬픔", "기쁨"]})
    # a task the source has no head for is fine: its head starts fresh
    check_compatible(SOURCE, "a" * 64, LORA, {"sentiment": []})
