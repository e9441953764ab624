"""Weight-space merges of two versions (models/training/merge.py, `kreview models merge`)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from typer.testing import CliRunner

import jobs.cli  # noqa: F401  (registers every command module)
from core.warehouse import Warehouse
from jobs.app import app
from models.adapters import AdapterConfig, LoRALinear
from models.base.bootstrap import write_checksums
from models.registry.bundle import load_version
from models.registry.store import Registry
from models.training.merge import (
    MergeError,
    check_mergeable,
    merge_adapters,
    merge_heads,
    merge_versions,
)
from models.training.workflow import run_training
from tests.models.tiny_tasks import fast_request, write_pool

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TEXTS = ["최고 명작 영화", "별로 지루 ㅠㅠ", "배우 연출 좋아요", "돈 아까운 영화"]
LORA = AdapterConfig("lora", 4, 8.0, 0.0, ("query", "value"), modules=("l.query", "l.value"))


# ------------------------------------------------------------------ the pure merge


def _lora_state(cfg: AdapterConfig, n_in: int, n_out: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for m in cfg.modules:
        out[f"{m}.lora_A"] = torch.randn(cfg.r, n_in, generator=g)
        out[f"{m}.lora_B"] = torch.randn(n_out, cfg.r, generator=g)
    return out


def _folded_delta(cfg: AdapterConfig, state: dict[str, torch.Tensor], module: str) -> torch.Tensor:
    """ΔW of one module as scoring folds it: merged Linear weight minus the base's."""
    n_out, n_in = state[f"{module}.lora_B"].shape[0], state[f"{module}.lora_A"].shape[1]
    base = nn.Linear(n_in, n_out)
    lora = LoRALinear(base, cfg.r, cfg.alpha, 0.0)
    with torch.no_grad():
        lora.lora_A.copy_(state[f"{module}.lora_A"])
        lora.lora_B.copy_(state[f"{module}.lora_B"])
    return (lora.merged().weight - base.weight).detach()


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_lora_merge_folds_to_the_interpolated_update(alpha: float) -> None:
    cfg_b = replace(LORA, r=2, alpha=4.0)  # another rank, the same scale (2.0)
    sa, sb = _lora_state(LORA, 12, 10, 0), _lora_state(cfg_b, 12, 10, 1)
    cfg, merged = merge_adapters(LORA, sa, cfg_b, sb, alpha)
    assert (cfg.r, cfg.alpha) == (6, 12.0)  # ranks concatenated, scale kept
    assert cfg.alpha / cfg.r == LORA.alpha / LORA.r
    assert set(merged) == set(sa)
    for m in LORA.modules:
        want = alpha * _folded_delta(LORA, sa, m) + (1 - alpha) * _folded_delta(cfg_b, sb, m)
        got = _folded_delta(cfg, merged, m)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    if 0 < alpha < 1:  # interpolating A and B separately is not this: the update is bilinear
        sc = _lora_state(LORA, 12, 10, 2)
        naive = {k: alpha * sa[k] + (1 - alpha) * sc[k] for k in sa}
        _, exact = merge_adapters(LORA, sa, LORA, sc, alpha)
        m = "l.query"
        want = alpha * _folded_delta(LORA, sa, m) + (1 - alpha) * _folded_delta(LORA, sc, m)
        torch.testing.assert_close(_folded_delta(replace(LORA, r=8, alpha=16.0), exact, m), want)
        assert not torch.allclose(_folded_delta(LORA, naive, m), want, atol=1e-2)


def test_full_adapters_and_heads_interpolate_linearly() -> None:
    full = AdapterConfig("full", frozen=("embeddings",))
    sa = {"encoder.w": torch.ones(3, 2)}
    sb = {"encoder.w": torch.zeros(3, 2)}
    cfg, merged = merge_adapters(full, sa, full, sb, 0.25)
    assert cfg == full
    torch.testing.assert_close(merged["encoder.w"], torch.full((3, 2), 0.25))

    ha = {"sentiment.proj.weight": torch.ones(2, 4), "sentiment.proj.bias": torch.ones(2)}
    hb = {
        "sentiment.proj.weight": torch.full((2, 4), 3.0),
        "sentiment.proj.bias": torch.zeros(2),
        "rating.proj.weight": torch.randn(10, 4),
        "rating.proj.bias": torch.randn(10),
    }
    heads, how = merge_heads(ha, hb, 0.25, ("a", "b"))
    torch.testing.assert_close(heads["sentiment.proj.weight"], torch.full((2, 4), 2.5))
    torch.testing.assert_close(heads["sentiment.proj.bias"], torch.full((2,), 0.25))
    assert torch.equal(heads["rating.proj.weight"], hb["rating.proj.weight"])
    assert how == {"rating": "copied from b", "sentiment": "interpolated"}


def test_mismatches_are_refused() -> None:
    sa, sb = _lora_state(LORA, 6, 6, 0), _lora_state(LORA, 6, 6, 1)
    with pytest.raises(MergeError, match="scale"):
        merge_adapters(LORA, sa, replace(LORA, alpha=16.0), sb, 0.5)
    with pytest.raises(MergeError, match=r"outside \[0, 1\]"):
        merge_adapters(LORA, sa, LORA, sb, 1.5)
    with pytest.raises(MergeError, match="different tensors"):
        merge_adapters(LORA, sa, LORA, {k: v for k, v in sb.items() if "value" not in k}, 0.5)
    with pytest.raises(MergeError, match="emotion heads differ in shape"):
        merge_heads(
            {"emotion.proj.bias": torch.zeros(5)}, {"emotion.proj.bias": torch.zeros(4)}, 0.5
        )

    config = {
        "kind": "joint",
        "base": {"id": "e5", "sha256": "a" * 64},
        "prefix": "query: ",
        "max_length": 64,
        "pooling": "mean",
        "normalized_text": True,
        "adapter": LORA.to_json(),
        "heads": {"emotion": {"type": "sigmoid", "labels": ["기쁨", "슬픔"]}},
    }
    check_mergeable(config, json.loads(json.dumps(config)), ("a", "b"))
    changes = {
        "the base model": {"base": {"id": "e5", "sha256": "b" * 64}},
        "prefix": {"prefix": "passage: "},
        "max_length": {"max_length": 128},
        "pooling": {"pooling": "cls"},
        "kind": {"kind": "emotion"},
        "adapter type": {"adapter": {**LORA.to_json(), "type": "full"}},
        "adapter targets": {"adapter": {**LORA.to_json(), "targets": ["query"]}},
        "adapter first_layer": {"adapter": {**LORA.to_json(), "first_layer": 1}},
        "adapter modules": {"adapter": {**LORA.to_json(), "modules": ["l.query"]}},
        r"LoRA scale \(alpha / r\)": {"adapter": {**LORA.to_json(), "r": 8}},
        "emotion heads differ": {"heads": {"emotion": {"type": "sigmoid", "labels": ["기쁨"]}}},
    }
    for what, change in changes.items():
        with pytest.raises(MergeError, match=f"cannot merge a and b: (their )?{what}"):
            check_mergeable(config, {**config, **change}, ("a", "b"))
    # another rank with the same scale is fine (the merge concatenates ranks)
    check_mergeable(
        config, {**config, "adapter": {**LORA.to_json(), "r": 8, "alpha": 16.0}}, ("a", "b")
    )


# ------------------------------------------------------------------ registered versions


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, tiny_data: dict, tiny_base: Path):  # type: ignore[no-untyped-def]
    """A: a tiny joint model (sentiment, emotion, similarity); B: trained on from A with a
    fourth task, rating (as the stars recipe continues the default). Registered once."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("merge_src")
        wh = Warehouse(root / "wh").ensure()
        data = {t: [str(tiny_data[t])] for t in ("sentiment", "emotion", "similarity")}
        a = run_training(fast_request("joint", data, tiny_base), wh).info.ref
        (root / "nsmc").mkdir()  # the pool reader drops NSMC-test rows: nsmc/ beside it
        shutil.copyfile(tiny_data["sentiment_test"], root / "nsmc" / "ratings_test.txt")
        pool = write_pool(root / "unlabeled" / "nsmc_raw_pool.tsv.gz", 120, 3)
        req = fast_request(
            "joint", {**data, "rating": [str(pool)]}, tiny_base, init_from=a, promote=False
        )
        b = run_training(req, wh).info.ref  # type: ignore[arg-type]
    finally:
        torch.set_num_threads(threads)
    return wh.models_dir, a, b


def _copy(sources: tuple[Path, str, str], root: Path) -> tuple[Warehouse, str, str]:
    models_dir, a, b = sources
    wh = Warehouse(root).ensure()
    shutil.copytree(models_dir, wh.models_dir, dirs_exist_ok=True)
    return wh, a, b


def _linears(model) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    return {
        n: m.weight.detach().clone()
        for n, m in model.encoder.backbone.named_modules()
        if isinstance(m, nn.Linear)
    }


def test_merged_version_folds_to_the_interpolated_weights(
    sources: tuple[Path, str, str], tmp_path: Path
) -> None:
    wh, a, b = _copy(sources, tmp_path / "wh")
    out = merge_versions(wh, a, b, 0.3, device="cpu", promote=False)
    registry = Registry(wh.models_dir)
    info = registry.verify(out.info.ref)
    ad = info.config["adapter"]
    src = registry.get(a).config["adapter"]
    assert (ad["r"], ad["alpha"]) == (2 * src["r"], 2 * src["alpha"])
    assert info.config["merge"]["from"] == [a, b] and info.config["merge"]["alpha"] == 0.3
    assert "refit" not in info.config
    assert set(info.tasks) == {"sentiment", "emotion", "similarity", "rating"}

    la, lb = (_linears(load_version(registry, r, device="cpu")) for r in (a, b))
    merged = load_version(registry, info.ref, device="cpu")
    lm = _linears(merged)
    wrapped = [n for n in lm if n in set(ad["modules"])]
    assert len(wrapped) == len(ad["modules"])
    for name, w in lm.items():  # the base's own layers are the same in all three
        torch.testing.assert_close(w, 0.3 * la[name] + 0.7 * lb[name], rtol=1e-5, atol=1e-6)
    heads = load_file(str(info.path / "heads.safetensors"))
    ha = load_file(str(registry.get(a).path / "heads.safetensors"))
    hb = load_file(str(registry.get(b).path / "heads.safetensors"))
    want = 0.3 * ha["sentiment.proj.weight"] + 0.7 * hb["sentiment.proj.weight"]
    torch.testing.assert_close(heads["sentiment.proj.weight"], want)
    assert torch.equal(heads["rating.proj.weight"], hb["rating.proj.weight"])
    # measured on the sources' held-out sets: the gate compares without re-evaluating
    for task in info.tasks:
        src_entry = registry.get(a).held_out(task) or registry.get(b).held_out(task)
        assert info.held_out(task)["eval_set"] == src_entry["eval_set"]  # type: ignore[index]
        assert info.held_out(task)["metrics"] == out.held_out[task]  # type: ignore[index]
    assert registry.current()["sentiment"]["ref"] == a  # --no-promote left it alone


@pytest.mark.parametrize("alpha", [1.0, 0.0])
def test_an_end_point_reproduces_its_source(
    sources: tuple[Path, str, str], tmp_path: Path, alpha: float
) -> None:
    wh, a, b = _copy(sources, tmp_path / "wh")
    out = merge_versions(wh, a, b, alpha, device="cpu", promote=False)
    registry = Registry(wh.models_dir)
    same = a if alpha == 1.0 else b
    want = load_version(registry, same, device="cpu").predict(TEXTS)
    got = load_version(registry, out.info.ref, device="cpu").predict(TEXTS)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5, err_msg=key)
    src = registry.get(same)
    for task in src.tasks:
        m, s = out.held_out[task], src.held_out(task)["metrics"]  # type: ignore[index]
        assert m[m["primary"]] == pytest.approx(s[s["primary"]], abs=1e-6), task


def _edited_copy(registry: Registry, ref: str, **changes: object) -> str:
    """A copy of a version with config.json entries changed (checksums rewritten)."""
    src = registry.get(ref)
    version = "20990101T000000Z-abcdef"
    dest = src.path.parent / version
    shutil.copytree(src.path, dest)
    config = {**src.config, **changes, "version": version}
    (dest / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (dest / "checksums.json").unlink()
    write_checksums(dest)
    return f"{src.kind}/{version}"


def test_merge_versions_refuses_other_layouts(
    sources: tuple[Path, str, str], tmp_path: Path
) -> None:
    wh, a, b = _copy(sources, tmp_path / "wh")
    registry = Registry(wh.models_dir)
    other = _edited_copy(registry, b, prefix="passage: ")
    with pytest.raises(MergeError, match="prefix differs"):
        merge_versions(wh, a, other, 0.5, device="cpu", promote=False)
    with pytest.raises(MergeError, match="with itself"):
        merge_versions(wh, a, a, 0.5, device="cpu", promote=False)
    assert len(registry.versions()) == 3  # nothing written


def test_cli_merge_writes_a_version_that_show_refit_and_promote_take(
    clean_env: None,
    sources: tuple[Path, str, str],
    tiny_data: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    runner = CliRunner()
    root = tmp_path / "wh"
    wh, a, b = _copy(sources, root)

    def kreview(*args: str) -> tuple[int, str]:
        res = runner.invoke(app, ["-q", "-w", str(root), "models", *args])
        return res.exit_code, res.output

    registry = Registry(wh.models_dir)
    other = _edited_copy(registry, b, max_length=16)
    code, text = kreview("merge", a, other)
    assert code == 2 and "max_length differs" in text and len(text.strip().splitlines()) == 1
    code, text = kreview("merge", a, b, "--alpha", "1.5")
    assert code == 2
    code, text = kreview("merge", a, "joint/20990101T000000Z-000000")
    assert code == 2 and "20990101T000000Z-000000" in text

    code, text = kreview("merge", a, b, "--alpha", "0.5", "--no-promote", "--device", "cpu")
    assert code == 0, text
    assert "merged joint/" in text and "Pearson" in text and "MAE" in text
    (merged,) = [v for v in Registry(wh.models_dir).versions() if "merge" in v.config]
    assert registry.current()["sentiment"]["ref"] == a
    card = (merged.path / "card.md").read_text(encoding="utf-8")
    assert "## Merge" in card and a in card and b in card and "α = 0.5" in card
    loaded = load_version(registry, merged.ref, device="cpu")
    assert loaded.predict(TEXTS)["rating"].shape == (len(TEXTS), 10)

    code, text = kreview("show", merged.ref)
    assert code == 0 and "checksums ok" in text
    code, text = kreview(
        "refit-head", merged.ref, "--data", f"emotion={tiny_data['emotion']}", "--epochs", "5",
        "--no-promote",
    )  # fmt: skip
    assert code == 0, text
    refit = [v for v in Registry(wh.models_dir).versions() if v.config.get("refit")]
    assert [v.config["refit"]["from"] for v in refit] == [merged.ref]
    card = (refit[0].path / "card.md").read_text(encoding="utf-8")
    assert "## Merge" in card and "## Head refit" in card and "α = 0.5" in card  # lineage kept
    code, text = kreview("promote", merged.ref)
    assert f"promotion of {merged.ref}" in text
    # Which way the gate goes depends on the tiny random models; its exit code, its line and
    # what serves afterwards must agree either way.
    serving = Registry(wh.models_dir).current()["sentiment"]["ref"]
    if code == 0:
        assert f"{merged.ref} is current" in text and serving == merged.ref, text
    else:
        assert code == 1 and "not promoted" in text and serving == a, text
    how = {c.task: c.how for c in registry.compare(registry.get(merged.ref))}
    assert how == {"sentiment": "same held-out set", "emotion": "same held-out set",
                   "similarity": "same held-out set", "rating": "no current model"}  # fmt: skip
