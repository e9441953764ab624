"""The training loop: learns, stops early, batches by length, resumes exactly after a kill."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models.adapters import AdapterConfig
from models.base.encoder import resolve_base
from models.config import DEFAULT_LORA_TARGETS, Keep
from models.data import read_kote, read_nsmc, split_validation
from models.training.network import TokenizedTask
from models.training.train import (
    CHECKPOINT_DIR,
    Hyper,
    LoopSettings,
    TaskSplit,
    TrainHooks,
    epoch_groups,
    train,
)
from tests.models.tiny_tasks import write_tiny_base

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LORA = AdapterConfig("lora", 4, 8.0, 0.0, DEFAULT_LORA_TARGETS)
HYPER = Hyper(lr=2e-2, batch_size=8, weight_decay=0.0, warmup_ratio=0.0, epochs=6)
# fp32 whatever the CPU: the expectations below must not depend on the machine's bf16 support
LOOP = LoopSettings(
    seed=0,
    eval_every=0,
    patience=100,
    tensorboard=False,
    log_every=2,
    head_dropout=0.0,
    mixed_precision="no",
)


class Killed(Exception):
    """Stands in for SIGKILL in the middle of a run."""


def _splits(tiny_data: dict[str, Path], task: str = "sentiment") -> dict[str, TaskSplit]:
    reader = read_nsmc if task == "sentiment" else read_kote
    train_ex, val_ex = split_validation(reader(tiny_data[task]), 0.25, 100, 0)
    return {task: TaskSplit(train_ex, val_ex)}


def _train(tiny_base: Path, tmp_path: Path, splits: dict, **kw: object):  # type: ignore[no-untyped-def]
    base = resolve_base(str(tiny_base), tmp_path / "models")
    labels = {t: s.train.label_names for t, s in splits.items() if t == "emotion"}
    args = {
        "adapter": LORA,
        "hyper": HYPER,
        "loop": LOOP,
        "prefix": "",
        "max_length": 32,
        "work_root": tmp_path / "work",
        "kind": "+".join(sorted(splits)),
    }
    args.update(kw)
    adapter, hyper, loop = args.pop("adapter"), args.pop("hyper"), args.pop("loop")
    return train(base, splits, labels, adapter, hyper, loop, **args)  # type: ignore[arg-type]


def test_sentiment_training_learns(tiny_base: Path, tiny_data: dict, tmp_path: Path) -> None:
    res = _train(tiny_base, tmp_path, _splits(tiny_data))
    losses = [h["loss"] for h in res.history if h["kind"] == "train"]
    assert res.steps == 6 * 6  # 48 rows, batch 8, 6 epochs
    assert np.mean(losses[-3:]) < np.mean(losses[:3])  # loss goes down
    assert res.val_metrics["sentiment"]["accuracy"] >= 0.75
    assert res.examples == 6 * 48 and res.examples_per_s > 0
    # the best evaluation's weights are the ones handed back
    best = max(h["metric"] for h in res.history if h["kind"] == "eval")
    assert res.val_score == best
    assert not res.network.training  # handed back ready for inference


def test_emotion_training_tunes_a_threshold(
    tiny_base: Path, tiny_data: dict, tmp_path: Path
) -> None:
    splits = _splits(tiny_data, "emotion")
    res = _train(tiny_base, tmp_path, splits)
    # The same network untrained (lr 0), validated the same way: its threshold is tuned too.
    untrained = _train(
        tiny_base, tmp_path / "untrained", splits, hyper=replace(HYPER, lr=0.0, epochs=1)
    )
    m, m0 = res.val_metrics["emotion"], untrained.val_metrics["emotion"]
    assert 0.0 < res.thresholds["emotion"] < 1.0
    assert {"macro_f1", "micro_f1", "macro_auroc", "per_label_f1"} <= set(m)
    assert len(m["per_label_f1"]) == 5
    # Training beats chance: the rows' labels follow their words (tiny_tasks.write_kote), so a
    # trained model ranks them (AUROC 0.5 is chance) and labels them far better than the
    # untrained one, and better than saying every label every time (micro-F1 0.61 here).
    assert m["macro_auroc"] >= 0.85 and m0["macro_auroc"] < 0.7
    assert m["micro_f1"] >= 0.85 and m["micro_f1"] >= m0["micro_f1"] + 0.2
    assert m["macro_f1"] >= m0["macro_f1"] + 0.1
    # each label the words decide is learnt ("없음" marks every fifth row, whatever its words)
    learnable = {k: v for k, v in m["per_label_f1"].items() if k != "없음"}
    assert len(learnable) == 4 and min(learnable.values()) >= 0.8, m["per_label_f1"]


def test_early_stopping_and_best_weights(tiny_base: Path, tiny_data: dict, tmp_path: Path) -> None:
    # lr 0: the validation score can never improve, so patience 2 stops after 3 evaluations.
    res = _train(
        tiny_base,
        tmp_path,
        _splits(tiny_data),
        hyper=replace(HYPER, lr=0.0, epochs=10),
        loop=replace(LOOP, eval_every=2, patience=2),
    )
    evals = [h for h in res.history if h["kind"] == "eval"]
    assert res.stopped_early and len(evals) == 3 and res.steps == 6
    assert res.best_step == 2


def test_keep_last_hands_back_the_last_steps_weights(
    tiny_base: Path, tiny_data: dict, tmp_path: Path
) -> None:
    splits = _splits(tiny_data)
    loop = replace(LOOP, eval_every=2)
    best = _train(tiny_base, tmp_path, splits, loop=loop)
    assert best.kept_step == best.best_step < best.steps  # else this test could not tell
    # The finished run resumed with the other choice: no step is trained again, the
    # checkpoint's last weights are handed back instead of the best ones.
    last = _train(tiny_base, tmp_path, splits, loop=replace(loop, keep=Keep.last), resume=True)
    assert last.resumed_from == last.steps == best.steps
    assert last.best_step == best.best_step and last.kept_step == last.steps
    assert last.run_key == best.run_key  # --keep is no part of the run's identity
    evals = [h for h in last.history if h["kind"] == "eval"]
    assert evals[-1]["step"] == last.steps and last.val_score == evals[-1]["metric"]
    ours = dict(last.network.named_parameters())
    assert any(
        not torch.equal(ours[name], p)
        for name, p in best.network.named_parameters()
        if p.requires_grad
    )


def test_resume_after_a_kill_continues_exactly(
    tiny_base: Path, tiny_data: dict, tmp_path: Path
) -> None:
    splits = _splits(tiny_data)
    # Checkpoints at steps 4 and 8, and at each epoch end (step 6, 12, …, after validation);
    # dropout is on so that the restored random state matters.
    loop = replace(LOOP, checkpoint_every=4, head_dropout=0.1)
    straight = _train(tiny_base, tmp_path / "a", splits, loop=loop)

    def kill_at_9(step: int) -> None:
        if step == 9:
            raise Killed

    with pytest.raises(Killed):
        _train(tiny_base, tmp_path / "b", splits, loop=loop, hooks=TrainHooks(on_step=kill_at_9))
    ckpt = next((tmp_path / "b" / "work").iterdir()) / CHECKPOINT_DIR
    assert {p.suffix for p in ckpt.iterdir()} <= {".safetensors", ".json"}  # no pickles
    resumed = _train(tiny_base, tmp_path / "b", splits, loop=loop, resume=True)
    assert resumed.resumed_from == 8  # the last checkpoint before the kill, mid-epoch
    assert resumed.steps == straight.steps
    ours = dict(resumed.network.named_parameters())
    for name, p in straight.network.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(ours[name], p, msg=name)
    assert resumed.val_metrics == straight.val_metrics


def test_without_resume_a_stale_checkpoint_is_ignored(
    tiny_base: Path, tiny_data: dict, tmp_path: Path
) -> None:
    splits = _splits(tiny_data)

    def kill_at_3(step: int) -> None:
        if step == 3:
            raise Killed

    loop = replace(LOOP, checkpoint_every=2)
    with pytest.raises(Killed):
        _train(tiny_base, tmp_path, splits, loop=loop, hooks=TrainHooks(on_step=kill_at_3))
    fresh = _train(tiny_base, tmp_path, splits, loop=loop)
    assert fresh.resumed_from is None and fresh.steps == 36


def test_order_offset_trains_on_a_later_epochs_batch_order(tiny_data: dict, tmp_path: Path) -> None:
    # At lr 0 and without dropout the weights never move and nothing is random, so a logged
    # loss depends only on which rows were batched: a one-epoch run with offset 1 logs what
    # epoch 1 of an unshifted run logs.
    tiny_base = write_tiny_base(tmp_path / "still-bert", dropout=0.0)
    splits = _splits(tiny_data)
    hyper, loop = replace(HYPER, lr=0.0, epochs=2), replace(LOOP, log_every=1)

    def losses(res) -> list[float]:  # type: ignore[no-untyped-def]
        return [h["loss"] for h in res.history if h["kind"] == "train"]

    two = _train(tiny_base, tmp_path / "a", splits, hyper=hyper, loop=loop)
    shifted = _train(
        tiny_base,
        tmp_path / "b",
        splits,
        hyper=replace(hyper, epochs=1),
        loop=replace(loop, order_offset=1),
    )
    assert shifted.steps == 6
    np.testing.assert_allclose(losses(shifted), losses(two)[6:], rtol=1e-5)
    assert losses(shifted) != losses(two)[:6]  # not epoch 0's order
    assert shifted.order_offset == 1
    unshifted = _train(tiny_base, tmp_path / "c", splits, hyper=replace(hyper, epochs=1), loop=loop)
    assert unshifted.run_key != shifted.run_key  # a checkpoint of one never resumes the other


def _tokenized(lengths: list[int]) -> TokenizedTask:
    ids = [[1] * n for n in lengths]
    return TokenizedTask("sentiment", ids, None, np.zeros(len(ids)), np.array(lengths))


def test_epoch_groups_cover_every_row_with_similar_lengths() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 120, size=500).tolist()
    tok = {"sentiment": _tokenized(lengths)}
    hyper = replace(HYPER, batch_size=16, grad_accum=2)
    groups = epoch_groups(tok, hyper, pool=10, seed=1, epoch=0)
    rows = np.concatenate([b for g in groups for _, b in g])
    assert sorted(rows.tolist()) == list(range(500))
    assert all(len(g) <= 2 for g in groups)
    spread = np.mean([np.ptp(np.array(lengths)[b]) for g in groups for _, b in g])
    assert spread < 20  # random batches would spread over ~100 tokens
    assert [b.tolist() for g in groups for _, b in g] == [
        b.tolist() for g in epoch_groups(tok, hyper, pool=10, seed=1, epoch=0) for _, b in g
    ]
    other = epoch_groups(tok, hyper, pool=10, seed=1, epoch=1)
    assert groups[0][0][1].tolist() != other[0][0][1].tolist()


def test_joint_epochs_mix_tasks() -> None:
    tok = {"sentiment": _tokenized([5] * 40), "emotion": _tokenized([7] * 40)}
    tok["emotion"] = TokenizedTask(
        "emotion", tok["emotion"].ids, None, np.zeros((40, 3)), np.full(40, 7)
    )
    groups = epoch_groups(tok, replace(HYPER, batch_size=8), pool=5, seed=0, epoch=0)
    order = [task for g in groups for task, _ in g]
    assert sorted(order) == ["emotion"] * 5 + ["sentiment"] * 5
    assert order != sorted(order)  # interleaved, not one task after the other


def test_task_repeats_pass_over_a_small_task_several_times_per_epoch() -> None:
    tok = {"sentiment": _tokenized([5] * 40), "emotion": _tokenized([7] * 16)}
    hyper = replace(HYPER, batch_size=8, task_repeats=(("emotion", 3),))
    groups = epoch_groups(tok, hyper, pool=5, seed=0, epoch=0)
    emotion_rows = [b for g in groups for task, b in g if task == "emotion"]
    assert len(emotion_rows) == 6  # 16 rows = 2 batches, three passes
    counts = np.bincount(np.concatenate(emotion_rows), minlength=16)
    assert counts.tolist() == [3] * 16  # every row exactly once per pass
    assert sum(task == "sentiment" for g in groups for task, _ in g) == 5


def test_parse_repeats_rejects_malformed_items() -> None:
    from models.config import parse_repeats

    assert parse_repeats(["emotion=6", "similarity=2"]) == (("emotion", 6), ("similarity", 2))
    for bad in ("emotion", "emotion=0", "=3", "emotion=x"):
        with pytest.raises(ValueError, match="task=N"):
            parse_repeats([bad])


def test_heads_get_their_own_learning_rate(tiny_base: Path, tmp_path: Path) -> None:
    from models.training.network import build_network
    from models.training.train import _optimizer

    base = resolve_base(str(tiny_base), tmp_path / "models")
    network, _, _ = build_network(base, ["sentiment"], {}, LORA, head_dropout=0.0)
    opt = _optimizer(network, replace(HYPER, lr=1e-4, head_lr=5e-3))
    by_lr: dict[float, int] = {}
    for group in opt.param_groups:
        by_lr[group["lr"]] = by_lr.get(group["lr"], 0) + len(group["params"])
    heads = sum(
        1 for n, p in network.named_parameters() if n.startswith("heads.") and p.requires_grad
    )
    trained = sum(1 for p in network.parameters() if p.requires_grad)
    assert by_lr == {5e-3: heads, 1e-4: trained - heads}
    same = _optimizer(network, replace(HYPER, lr=1e-4))
    assert {g["lr"] for g in same.param_groups} == {1e-4}


def test_tensorboard_logs_are_written(tiny_base: Path, tiny_data: dict, tmp_path: Path) -> None:
    res = _train(
        tiny_base,
        tmp_path,
        _splits(tiny_data),
        hyper=replace(HYPER, epochs=1),
        loop=replace(LOOP, tensorboard=True),
    )
    assert list((res.work_dir / "tb").rglob("events.out.tfevents.*"))


def test_bf16_on_cpu_trains_and_says_so(tiny_base: Path, tiny_data: dict, tmp_path: Path) -> None:
    # bf16 autocast works on any CPU (emulated where the CPU lacks native bf16)
    res = _train(
        tiny_base, tmp_path, _splits(tiny_data), loop=replace(LOOP, mixed_precision="bf16")
    )
    assert res.devices["mixed_precision"] == "bf16"
    losses = [h["loss"] for h in res.history if h["kind"] == "train"]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert res.val_metrics["sentiment"]["accuracy"] >= 0.75
    # the weights stay float32 (autocast computes in bf16, the optimizer updates fp32 masters)
    assert all(p.dtype == torch.float32 for p in res.network.parameters())
    # bf16 really ran: the same seeded run in fp32 takes other losses
    fp32 = _train(tiny_base, tmp_path / "fp32", _splits(tiny_data))
    assert fp32.devices["mixed_precision"] == "no"
    assert [h["loss"] for h in fp32.history if h["kind"] == "train"] != losses


def test_auto_precision_on_cpu_follows_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    from models.training import train as train_mod

    cpu = torch.device("cpu")
    monkeypatch.setattr(train_mod, "cpu_has_bf16", lambda: True)
    assert train_mod._mixed_precision("auto", cpu) == "bf16"
    assert train_mod._mixed_precision("no", cpu) == "no"
    monkeypatch.setattr(train_mod, "cpu_has_bf16", lambda: False)
    assert train_mod._mixed_precision("auto", cpu) == "no"
    assert train_mod._mixed_precision("bf16", cpu) == "bf16"  # asked for: emulated, slower
    with pytest.raises(ValueError, match="fp16 needs CUDA"):
        train_mod._mixed_precision("fp16", cpu)
