"""Head refit (models/training/refit.py, `kreview models refit-head`) on tiny joint models."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import jobs.cli  # noqa: F401  (registers every command module)
from core.warehouse import Warehouse
from jobs.app import app
from jobs.config import AppConfig
from models.data import Examples
from models.heads import ClassifierHead
from models.inference import metrics_for, tune_thresholds
from models.registry.bundle import load_version
from models.registry.store import Registry
from models.training.refit import (
    RefitOutcome,
    RefitSettings,
    fit_head,
    fit_head_kfold,
    refit_heads,
)
from models.training.workflow import run_training
from tests.models.tiny_tasks import fast_request

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TEXTS = ["최고 명작 영화", "별로 지루 ㅠㅠ", "배우 연출 좋아요", "돈 아까운 영화"]


@pytest.fixture
def wh(cfg: AppConfig) -> Warehouse:
    return Warehouse(cfg.warehouse.root)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_data: dict, tiny_base: Path):  # type: ignore[no-untyped-def]
    """One tiny joint model, trained once for the module; tests copy its registry."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        wh = Warehouse(tmp_path_factory.mktemp("refit_src") / "wh").ensure()
        data = {t: [str(tiny_data[t])] for t in ("sentiment", "emotion", "similarity")}
        out = run_training(fast_request("joint", data, tiny_base), wh)
    finally:
        torch.set_num_threads(threads)
    return wh.models_dir, out.info.ref


def _joint(trained: tuple[Path, str], wh: Warehouse) -> str:
    """The module's joint model, current in ``wh``'s registry."""
    models_dir, ref = trained
    wh.ensure()
    shutil.copytree(models_dir, wh.models_dir, dirs_exist_ok=True)
    return ref


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _examples(x: np.ndarray, y: np.ndarray) -> Examples:
    return Examples("emotion", tuple(str(i) for i in range(len(x))), y, None, ("a", "b", "c"))


def _refit_emotion(
    wh: Warehouse, tiny_data: dict, src_ref: str, settings: RefitSettings, **kw: object
) -> RefitOutcome:
    """A refit of the tiny model's emotion head on the tiny KOTE file, on the CPU."""
    return refit_heads(
        wh,
        src_ref,
        {"emotion": [str(tiny_data["emotion"])]},
        settings=settings,
        device="cpu",
        **kw,  # type: ignore[arg-type]
    )


def _separable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Separable multi-label data (x, y) and x far from the origin and at a large scale: a
    head only learns it through the standardization, and the returned weights must work on
    the raw input."""
    x = np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)
    y = np.stack([x[:, 0] > 0, x[:, 1] > 0.5, x[:, 0] + x[:, 2] < 0], axis=1).astype(np.float32)
    return x, y, torch.from_numpy(x * 50.0 + 300.0)


def test_fit_head_learns_and_folds_the_standardization() -> None:
    x, y, raw = _separable(400, seed=0)
    head = ClassifierHead(8, 3, 0.0, multilabel=True)
    before = head.proj.weight.detach().clone()
    train, val = _examples(x[:300], y[:300]), _examples(x[300:], y[300:])
    fit = fit_head(head, raw[:300], train, raw[300:], val, RefitSettings(epochs=40, lr=5e-2))
    assert torch.equal(head.proj.weight, before)  # the given head is left alone
    probs = torch.sigmoid(raw[300:] @ fit.weight.T + fit.bias).numpy()
    pred = probs >= fit.threshold
    assert (pred == y[300:].astype(bool)).mean() > 0.9
    assert fit.val_metrics["macro_f1"] > 0.85
    evals = [h for h in fit.history if h["kind"] == "eval"]
    assert fit.best_epoch in {h["step"] for h in evals}
    assert max(h["metric"] for h in evals) == pytest.approx(fit.val_metrics["macro_f1"])


def test_kfold_head_learns_and_its_validation_reads_out_of_fold() -> None:
    x, y, raw = _separable(500, seed=1)
    head = ClassifierHead(8, 3, 0.0, multilabel=True)
    settings = RefitSettings(epochs=30, lr=5e-2, folds=4)
    fit = fit_head_kfold(head, raw[:400], _examples(x[:400], y[:400]), settings)
    pred = torch.sigmoid(raw[400:] @ fit.weight.T + fit.bias).numpy() >= fit.threshold
    assert (pred == y[400:].astype(bool)).mean() > 0.9  # rows no fold saw
    evals = [h for h in fit.history if h["kind"] == "eval"]
    assert [h["step"] for h in evals] == [5, 10, 15, 20, 25, 30]
    assert fit.val_metrics["macro_f1"] == pytest.approx(max(h["metric"] for h in evals))
    again = fit_head_kfold(head, raw[:400], _examples(x[:400], y[:400]), settings)
    assert torch.equal(fit.weight, again.weight) and fit.threshold == again.threshold

    # Labels that are noise, 64 features, 96 rows: the head fits its own rows (read there,
    # with a threshold tuned there, macro F1 is above 0.8), out of fold it is worth what
    # predicting "every label" is (F1 2/3 for labels half positive).
    rng = np.random.default_rng(1)
    xn = rng.normal(size=(96, 64)).astype(np.float32)
    yn = (rng.random((96, 3)) < 0.5).astype(np.float32)
    wide, noisy = ClassifierHead(64, 3, 0.0, multilabel=True), _examples(xn, yn)
    noise = fit_head_kfold(wide, torch.from_numpy(xn), noisy, settings)
    own = torch.sigmoid(torch.from_numpy(xn) @ noise.weight.T + noise.bias).numpy()
    assert metrics_for(own, noisy, tune_thresholds(own, noisy))["macro_f1"] > 0.78
    assert noise.val_metrics["macro_f1"] < 0.72
    with pytest.raises(ValueError, match="--folds 97: give 2 to 96"):
        fit_head_kfold(wide, torch.from_numpy(xn), noisy, replace(settings, folds=97))


def test_refit_replaces_only_the_emotion_head_and_is_promoted(
    tiny_data: dict, trained: tuple[Path, str], wh: Warehouse
) -> None:
    src_ref = _joint(trained, wh)
    registry = Registry(wh.models_dir)
    src = registry.get(src_ref)
    out = _refit_emotion(
        wh,
        tiny_data,
        src_ref,
        RefitSettings(epochs=30, lr=5e-2, batch_size=16, eval_every=5),
        force=True,  # tiny data: whether the refit wins is not the point here
    )
    new = out.info
    assert new.kind == "joint" and new.ref != src_ref
    assert new.config["refit"]["from"] == src_ref and new.config["refit"]["tasks"] == ["emotion"]
    assert set(new.tasks) == set(src.tasks)
    # adapter copied byte for byte; the sentiment head untouched; the emotion head new
    adapter = src.config["weights"]["adapter"]
    assert _sha(new.path / adapter) == _sha(src.path / adapter)
    old_heads = load_file(str(src.path / "heads.safetensors"))
    new_heads = load_file(str(new.path / "heads.safetensors"))
    for k in ("sentiment.proj.weight", "sentiment.proj.bias"):
        assert torch.equal(old_heads[k], new_heads[k])
    assert not torch.equal(old_heads["emotion.proj.weight"], new_heads["emotion.proj.weight"])
    # held-out metrics: emotion measured anew, the others carried over
    assert new.held_out("emotion")["metrics"] == out.held_out["emotion"]
    assert new.held_out("sentiment") == src.held_out("sentiment")
    assert new.config["thresholds"]["emotion"] == out.fitted["emotion"].threshold
    assert (new.path / "card.md").read_text(encoding="utf-8").count("Head refit") == 1
    # scoring with the new version: sentiment identical, emotion from the new head
    a = load_version(registry, src_ref, device="cpu")
    b = load_version(registry, new.ref, device="cpu")
    np.testing.assert_allclose(a.predict(TEXTS)["sentiment"], b.predict(TEXTS)["sentiment"])
    assert not np.allclose(a.predict(TEXTS)["emotion"], b.predict(TEXTS)["emotion"])
    assert registry.current()["emotion"]["ref"] == new.ref


def test_a_kfold_refit_validates_on_every_training_row_and_says_so(
    tiny_data: dict, trained: tuple[Path, str], wh: Warehouse
) -> None:
    src_ref = _joint(trained, wh)
    settings = RefitSettings(epochs=10, lr=5e-2, batch_size=16, folds=3)
    out = _refit_emotion(wh, tiny_data, src_ref, settings, promote=False)
    rows = out.info.config["data"]["emotion"]
    # every row read is fitted on and validated once (out of fold): no 10% split, and the
    # version's data record says so
    assert rows["val_rows"] == 0 and rows["folds"] == 3
    assert out.fitted["emotion"].val_metrics["n"] == rows["train_rows"] == rows["rows_read"]
    assert out.info.config["refit"]["settings"]["folds"] == 3
    assert "3-fold" in (out.info.path / "card.md").read_text(encoding="utf-8")
    single = _refit_emotion(wh, tiny_data, src_ref, replace(settings, folds=1), promote=False)
    split = single.info.config["data"]["emotion"]
    assert "folds" not in split and split["train_rows"] + split["val_rows"] == rows["train_rows"]
    assert single.fitted["emotion"].val_metrics["n"] == split["val_rows"] > 0


@pytest.mark.parametrize("field", ["epochs", "eval_every", "folds", "batch_size"])
def test_refit_settings_refuse_a_count_below_one(field: str) -> None:
    with pytest.raises(ValueError, match=f"{field} must be >= 1"):
        RefitSettings(**{field: 0})


def test_gate_counts_tasks_a_refit_left_alone_as_unchanged(
    tiny_data: dict, trained: tuple[Path, str], wh: Warehouse
) -> None:
    src_ref = _joint(trained, wh)
    out = _refit_emotion(
        wh,
        tiny_data,
        src_ref,
        RefitSettings(epochs=5, eval_every=5),
        promote=False,
    )
    registry = Registry(wh.models_dir)
    by_task = {c.task: c for c in registry.compare(registry.get(out.info.ref))}
    for task in ("sentiment", "similarity"):
        assert by_task[task].beats and by_task[task].how.startswith("unchanged")
    assert by_task["emotion"].how == "same held-out set"
    assert by_task["emotion"].beats == (
        by_task["emotion"].candidate > (by_task["emotion"].current or 0.0)
    )


def test_refit_at_a_new_token_limit_measures_every_task_again(
    tiny_data: dict, trained: tuple[Path, str], wh: Warehouse
) -> None:
    from models.inference import metrics_for, predict_examples
    from models.training.workflow import read_eval_set

    src_ref = _joint(trained, wh)
    registry = Registry(wh.models_dir)
    src = registry.get(src_ref)
    out = _refit_emotion(
        wh,
        tiny_data,
        src_ref,
        RefitSettings(epochs=5, eval_every=5),
        promote=False,
        max_length=8,  # the tiny texts run longer: every task reads less of them
    )
    new = registry.get(out.info.ref)
    assert new.config["max_length"] == 8 and src.config["max_length"] == 32
    assert new.config["refit"]["max_length"] == {
        "from": 32,
        "to": 8,
        "remeasured": ["sentiment", "similarity"],
    }
    assert set(out.remeasured) == {"sentiment", "similarity"}
    model = load_version(registry, new.ref, device="cpu")
    assert model.text.max_length == 8
    # each stored held-out figure is the new version's own, at the new limit, on the
    # source's set: what scoring the set with the new version gives
    for task in ("sentiment", "similarity"):
        assert new.held_out(task)["eval_set"] == src.held_out(task)["eval_set"]
        ex = read_eval_set(task, new.held_out(task)["eval_set"], wh)
        assert ex is not None
        preds = predict_examples(model.encoder, model.heads, model.text, ex)
        want = metrics_for(preds, ex, model.thresholds.get(task))
        got = new.held_out(task)["metrics"]
        assert got["n"] == want["n"] and got[want["primary"]] == pytest.approx(
            want[want["primary"]]
        )
    long_text = [" ".join(TEXTS)]
    a = load_version(registry, src_ref, device="cpu")
    assert not np.allclose(a.predict(long_text)["sentiment"], model.predict(long_text)["sentiment"])
    # the gate compares them task by task: none counts as unchanged
    by_task = {c.task: c for c in registry.compare(new)}
    assert {c.how for c in by_task.values()} == {"same held-out set"}


def test_gate_counts_a_task_with_the_same_figures_at_a_new_limit_as_unchanged(
    trained: tuple[Path, str], wh: Warehouse
) -> None:
    # Every tiny held-out text fits in 32 tokens: read at up to 64, each task gives the same
    # figures, and the gate promotes the version (a tie is not a loss).
    src_ref = _joint(trained, wh)
    out = refit_heads(wh, src_ref, {}, device="cpu", max_length=64)
    assert set(out.remeasured) == {"sentiment", "emotion", "similarity"}
    assert out.decision is not None and out.decision.promoted, out.decision
    for c in out.decision.comparisons:
        assert c.beats and c.how == "unchanged (the same figures at the new token limit)"
    assert Registry(wh.models_dir).current()["sentiment"]["ref"] == out.info.ref


def test_refit_refuses_what_it_cannot_do(
    tiny_data: dict, trained: tuple[Path, str], wh: Warehouse
) -> None:
    src_ref = _joint(trained, wh)
    with pytest.raises(ValueError, match="only sentiment and emotion"):
        refit_heads(wh, src_ref, {"similarity": [str(tiny_data["similarity"])]}, device="cpu")
    # a task the source was never measured on cannot be measured again at a new limit
    import json

    from models.base.bootstrap import write_checksums

    folder = Registry(wh.models_dir).get(src_ref).path
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    del metrics["held_out"]["similarity"]
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    write_checksums(folder)
    with pytest.raises(ValueError, match="no held-out metrics for similarity"):
        refit_heads(wh, src_ref, {}, device="cpu", max_length=16)
    with pytest.raises(ValueError, match="nothing to refit"):
        refit_heads(wh, src_ref, {}, device="cpu", max_length=32)  # the limit it has
    with pytest.raises(ValueError, match="the base reads 8 to 64 tokens"):
        refit_heads(wh, src_ref, {}, device="cpu", max_length=4096)


def test_cli_refit_head(
    clean_env: None, tiny_data: dict, trained: tuple[Path, str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    runner = CliRunner()
    root = tmp_path / "wh"
    wh = Warehouse(root).ensure()
    src_ref = _joint(trained, wh)

    def kreview(*args: str) -> tuple[int, str]:
        res = runner.invoke(app, ["-q", "-w", str(root), "models", "refit-head", *args])
        return res.exit_code, res.output

    code, text = kreview(src_ref, "--data", str(tiny_data["emotion"]))
    assert code == 2 and "expected task=PATH" in text
    code, text = kreview(src_ref, "--data", f"emotion={tmp_path / 'missing.tsv'}")
    assert code == 2 and "missing.tsv" in text
    code, text = kreview(src_ref, "--data", f"emotion={tiny_data['emotion']}", "--folds", "999")
    assert code == 2 and "--folds 999: give 2 to 64" in text and "Traceback" not in text
    code, text = kreview(
        "current",  # the version serving emotion now: src_ref
        "--data",
        f"emotion={tiny_data['emotion']}",
        "--epochs",
        "10",
        "--lr",
        "0.05",
        "--no-promote",
    )
    assert code == 0, text
    assert "refitted joint/" in text and "macro F1" in text  # the held-out headline
    versions = Registry(root / "models").versions("joint")
    assert len(versions) == 2 and versions[-1].config["refit"]["from"] == src_ref
    # 'latest' is the newest trained version, never a refit: src_ref again, not versions[-1]
    code, text = kreview("latest", "--data", f"emotion={tiny_data['emotion']}", "--no-promote")
    assert code == 0, text
    versions = Registry(root / "models").versions("joint")
    assert len(versions) == 3 and versions[-1].config["refit"]["from"] == src_ref
    # a new token limit alone: no head refitted, every task measured again and listed
    code, text = kreview("current", "--max-length", "16", "--no-promote")
    assert code == 0, text
    assert "sentiment" in text and "similarity" in text and "emotion" in text
    versions = Registry(root / "models").versions("joint")
    assert len(versions) == 4 and versions[-1].config["max_length"] == 16
    assert versions[-1].config["refit"]["from"] == src_ref  # 'current' serving sentiment
    code, text = kreview(src_ref)
    assert code == 2 and "nothing to refit" in text and "Traceback" not in text
