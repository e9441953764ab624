"""Registry: artifacts, reload-and-predict, the promotion gate, safety checks, catalog mirror."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from core.catalog import open_reader
from core.warehouse import Warehouse
from jobs.config import AppConfig
from models.base.encoder import BaseMismatch, UnsafeWeights, resolve_base, weights_sha256
from models.config import KINDS
from models.data import read_klue_sts, read_kote, read_nsmc
from models.inference import predict_examples
from models.registry.bundle import load_current, load_version
from models.registry.store import ArtifactCorrupt, Registry, UnsafeArtifact
from models.training.workflow import run_training
from tests.models.tiny_tasks import fast_request, write_tiny_base

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def wh(cfg: AppConfig) -> Warehouse:
    return Warehouse(cfg.warehouse.root)


def _sentiment(tiny_data: dict, tiny_base: Path, **kw: object):  # type: ignore[no-untyped-def]
    return fast_request("sentiment", {"sentiment": [str(tiny_data["sentiment"])]}, tiny_base, **kw)


def test_artifact_layout_and_identical_predictions_after_reload(
    tiny_data: dict, tiny_base: Path, wh: Warehouse
) -> None:
    out = run_training(_sentiment(tiny_data, tiny_base), wh)
    folder = out.info.path
    names = {p.name for p in folder.iterdir()}
    assert {
        "config.json",
        "metrics.json",
        "card.md",
        "adapter.safetensors",
        "heads.safetensors",
        "checksums.json",
        "learning_curves.png",
        "confusion_sentiment.png",
    } <= names
    assert not any(n.endswith((".bin", ".pt", ".pth", ".pkl")) for n in names)
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["base"]["sha256"] == weights_sha256(tiny_base)
    assert cfg["adapter"]["type"] == "lora" and cfg["tasks"] == ["sentiment"]
    metrics = json.loads((folder / "metrics.json").read_text())
    held = metrics["held_out"]["sentiment"]
    assert held["eval_set"]["rows"] == 32 and held["eval_set"]["source"].endswith(
        "ratings_test.txt"
    )
    assert held["metrics"]["accuracy"] == out.held_out["sentiment"]["accuracy"]
    # LoRA is a few KB here; the base is never copied into the artifact
    assert (folder / "adapter.safetensors").stat().st_size < (
        tiny_base / "model.safetensors"
    ).stat().st_size

    test = read_nsmc(tiny_data["sentiment_test"])
    net = out.result.network
    expected = predict_examples(net.encoder, net.heads, _text(out), test)
    registry = Registry(wh.models_dir)
    for merge in (False, True):
        loaded = load_version(registry, out.info.ref, device="cpu", merge=merge)
        got = predict_examples(loaded.encoder, loaded.heads, loaded.text, test)
        np.testing.assert_allclose(got, expected, atol=1e-5)
    assert out.decision is not None and out.decision.promoted  # first model: nothing to beat
    assert registry.current()["sentiment"]["ref"] == out.info.ref


def _text(out):  # type: ignore[no-untyped-def]
    from models.inference import TextInput

    return TextInput(out.result.tokenizer, "", 32)


def test_gate_refuses_a_worse_model_and_force_accepts(
    tiny_data: dict, tiny_base: Path, wh: Warehouse
) -> None:
    good = run_training(_sentiment(tiny_data, tiny_base), wh)
    # One tiny step at a tiny rate: the head stays near its random start.
    weak_hyper = replace(good.result.hyper, lr=1e-6, epochs=1, max_steps=1)
    worse = run_training(_sentiment(tiny_data, tiny_base, hyper=weak_hyper), wh)
    assert worse.held_out["sentiment"]["accuracy"] < good.held_out["sentiment"]["accuracy"]
    assert worse.decision is not None and not worse.decision.promoted
    (cmp,) = worse.decision.comparisons
    assert cmp.how == "same held-out set" and cmp.current_ref == good.info.ref and not cmp.beats
    registry = Registry(wh.models_dir)
    assert registry.current()["sentiment"]["ref"] == good.info.ref

    forced = registry.promote(worse.info.ref, force=True)
    assert forced.promoted and forced.forced
    assert registry.current()["sentiment"] == {
        "ref": worse.info.ref,
        "promoted_at": registry.current()["sentiment"]["promoted_at"],
        "forced": True,
    }
    # and back: the good one beats the (forced) current one
    assert registry.promote(good.info.ref).promoted


def test_gate_reevaluates_the_current_model_on_another_held_out_set(
    tiny_data: dict, tiny_base: Path, wh: Warehouse
) -> None:
    first = run_training(_sentiment(tiny_data, tiny_base, eval_limit=20), wh)
    second = run_training(_sentiment(tiny_data, tiny_base), wh)  # all 32 held-out rows
    assert second.decision is not None
    (cmp,) = second.decision.comparisons
    assert cmp.how == "re-evaluated" and cmp.current_ref == first.info.ref
    assert cmp.current is not None  # measured on the same 32 rows as the candidate


def test_catalog_mirror(tiny_data: dict, tiny_base: Path, wh: Warehouse) -> None:
    out = run_training(_sentiment(tiny_data, tiny_base), wh)
    assert out.mirrored
    with open_reader(wh) as con:
        rows = con.execute(
            "SELECT task, version, kind, path, is_current, metrics FROM model_versions"
        ).fetchall()
    assert len(rows) == 1
    task, version, kind, path, current, metrics = rows[0]
    assert (task, version, kind, current) == ("sentiment", out.info.version, "sentiment", True)
    assert path == f"sentiment/{out.info.version}"
    assert json.loads(metrics)["accuracy"] == out.held_out["sentiment"]["accuracy"]


def test_pickled_weights_are_refused(tiny_data: dict, tiny_base: Path, wh: Warehouse) -> None:
    out = run_training(_sentiment(tiny_data, tiny_base, promote=False), wh)
    registry = Registry(wh.models_dir)
    (out.info.path / "adapter.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(UnsafeArtifact, match="pickled"):
        load_version(registry, out.info.ref, device="cpu")
    with pytest.raises(UnsafeArtifact):
        registry.promote(out.info.ref, force=True)


def test_a_base_with_only_pickled_weights_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "old-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(UnsafeWeights, match="pickled"):
        resolve_base(str(folder), tmp_path / "models")


def test_checksum_mismatch_is_detected(tiny_data: dict, tiny_base: Path, wh: Warehouse) -> None:
    out = run_training(_sentiment(tiny_data, tiny_base, promote=False), wh)
    heads = out.info.path / "heads.safetensors"
    state = load_file(str(heads))
    state = {k: v + 1.0 for k, v in state.items()}  # a valid file with other numbers
    save_file(state, str(heads))
    with pytest.raises(ArtifactCorrupt, match=r"heads\.safetensors"):
        load_version(Registry(wh.models_dir), out.info.ref, device="cpu")


def test_base_weights_must_match_the_recorded_checksum(
    tiny_data: dict, wh: Warehouse, tmp_path: Path
) -> None:
    base = write_tiny_base(tmp_path / "base", seed=1)
    out = run_training(_sentiment(tiny_data, base, promote=False), wh)
    write_tiny_base(base, seed=2)  # same place, other weights
    with pytest.raises(BaseMismatch, match="trained on other weights"):
        load_version(Registry(wh.models_dir), out.info.ref, device="cpu")


@pytest.mark.slow
def test_joint_model_serves_three_tasks_in_one_pass(
    tiny_data: dict, tiny_base: Path, wh: Warehouse
) -> None:
    data = {t: [str(tiny_data[t])] for t in ("sentiment", "emotion", "similarity")}
    out = run_training(fast_request("joint", data, tiny_base), wh)
    assert out.info.kind == "joint" and set(out.info.tasks) == {
        "sentiment",
        "emotion",
        "similarity",
    }
    assert set(out.held_out) == {"sentiment", "emotion", "similarity"}
    assert out.held_out["similarity"]["pearson"] > 0.5

    models = load_current(wh.models_dir, device="cpu")
    assert len(models.passes) == 1 and set(models.passes[0].tasks) == set(out.info.tasks)
    assert set(models.versions.values()) == {out.info.version}
    texts = ["최고 명작 영화", "별로 지루 ㅠㅠ", "배우 연출 좋아요"]
    pred = models.predict(texts)
    assert (
        pred["sentiment"].shape == (3,)
        and ((pred["sentiment"] >= 0) & (pred["sentiment"] <= 1)).all()
    )
    assert (
        pred["emotion"].shape == (3, 5) and ((pred["emotion"] >= 0) & (pred["emotion"] <= 1)).all()
    )
    np.testing.assert_allclose(np.linalg.norm(pred["embedding"], axis=1), 1.0, rtol=1e-5)

    m = models.by_task["similarity"]
    sts = read_klue_sts(tiny_data["similarity_test"])
    score = m.similarity(m.encode(sts.texts), m.encode(sts.texts_b or ()))
    assert ((score >= 0) & (score <= 5)).all()
    same = sts.labels >= 3
    assert score[same].mean() > score[~same].mean()
    emo = m.emotion(m.encode(read_kote(tiny_data["emotion_test"]).texts[:4]))
    assert emo.shape == (4, 5)


def test_per_task_models_give_one_pass_each(
    tiny_data: dict, tiny_base: Path, wh: Warehouse
) -> None:
    run_training(_sentiment(tiny_data, tiny_base), wh)
    run_training(fast_request("emotion", {"emotion": [str(tiny_data["emotion"])]}, tiny_base), wh)
    models = load_current(wh.models_dir, device="cpu", tasks=("sentiment", "emotion"))
    assert [p.tasks for p in models.passes] == [("sentiment",), ("emotion",)]
    pooled = models.by_task["sentiment"].encode(["좋아요"])
    assert pooled.dtype == torch.float32 and pooled.shape == (1, 32)


def test_a_current_pointer_to_a_deleted_version_does_not_block_promotion(
    tiny_data: dict, tiny_base: Path, wh: Warehouse
) -> None:
    out = run_training(_sentiment(tiny_data, tiny_base, promote=False), wh)
    registry = Registry(wh.models_dir)
    (wh.models_dir / "current.json").write_text(
        json.dumps({"sentiment": {"ref": "sentiment/20200101T000000Z-000000"}})
    )
    decision = registry.promote(out.info.ref)
    assert decision.promoted and decision.comparisons[0].how.endswith("folder is gone")
    assert registry.current()["sentiment"]["ref"] == out.info.ref


def _bare_version(reg: Registry, created_at: str, refit: str | None = None) -> str:
    """A registered version with only what resolve_ref reads (no weights)."""
    with reg.draft("joint") as d:
        config = {"tasks": ["sentiment"], "created_at": created_at}
        if refit:
            config["refit"] = {"from": refit}
        (d.path / "config.json").write_text(json.dumps(config), encoding="utf-8")
        (d.path / "metrics.json").write_text("{}", encoding="utf-8")
        (d.path / "card.md").write_text("-", encoding="utf-8")
        save_file({}, str(d.path / "heads.safetensors"))
    assert d.info is not None
    return d.info.ref


def test_latest_and_latest_refit_name_the_newest_of_each(tmp_path: Path) -> None:
    from models.registry.store import ModelNotFound, resolve_ref

    reg = Registry(tmp_path / "models")
    trained = _bare_version(reg, "2026-12-01T00:00:00")
    with pytest.raises(ModelNotFound, match="no refitted model"):
        resolve_ref(reg, "latest-refit", ("sentiment",))
    refit = _bare_version(reg, "2026-12-02T00:00:00", refit=trained)
    _bare_version(reg, "2026-12-03T00:00:00", refit=None)
    newest_trained = _bare_version(reg, "2026-12-04T00:00:00")
    assert resolve_ref(reg, "latest-refit", ("sentiment",)) == refit
    assert resolve_ref(reg, "latest", ("sentiment",)) == newest_trained
    # what `kreview models show|merge` name (the Makefile resolves the refit it merges)
    assert reg.lookup("latest-refit").ref == refit
    assert reg.lookup("latest").ref == newest_trained


def test_a_missing_shipped_version_names_the_command_that_installs_it(tmp_path: Path) -> None:
    from models.registry.shipped import shipped
    from models.registry.store import ModelNotFound

    reg = Registry(tmp_path / "models")  # a fresh warehouse: nothing installed yet
    folder = shipped()[-1]
    for ref in (f"{folder.parent.name}/{folder.name}", folder.name):  # with its kind, and bare
        with pytest.raises(ModelNotFound) as caught:
            reg.get(ref)
        assert caught.value.line().endswith(
            "(it ships with kreview: `kreview models bootstrap` installs it)"
        )
    for ref in ("joint/20990101T000000Z-000000", "20990101T000000Z-000000"):
        with pytest.raises(ModelNotFound) as caught:
            reg.get(ref)
        assert "`kreview models list`" in caught.value.line()
    other_kind = next(k for k in KINDS if k != folder.parent.name)
    with pytest.raises(ModelNotFound) as caught:
        reg.get(f"{other_kind}/{folder.name}")  # shipped, but not as that kind
    assert "bootstrap" not in caught.value.line()


def test_versions_made_within_one_second_list_in_the_order_they_were_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refits of a tiny model finish within one second (CI once listed a refit before the
    one made before it). The version name carries the millisecond and a new one sorts after
    the folder's newest, so the list, and `latest` among versions whose created_at ties,
    follow creation order, even on a clock that gives several drafts the same millisecond."""
    from datetime import UTC, datetime, timedelta

    from core.ids import sortable_id
    from models.registry import store

    now = [datetime(2026, 12, 1, tzinfo=UTC)]

    def slow_clock() -> str:  # a tenth of a millisecond per name asked for
        now[0] += timedelta(microseconds=100)
        return sortable_id(now[0])

    monkeypatch.setattr(store, "sortable_id", slow_clock)
    reg = Registry(tmp_path / "models")
    made = [_bare_version(reg, "2026-12-01T00:00:00") for _ in range(8)]
    assert [v.ref for v in reg.versions("joint")] == made
    assert store.resolve_ref(reg, "latest", ("sentiment",)) == made[-1]
