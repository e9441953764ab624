"""`kreview train` and `kreview models …` end to end on tiny models (Typer's CliRunner)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import jobs.cli  # noqa: F401  (registers every command module)
from core.catalog import open_reader
from core.warehouse import Warehouse
from jobs.app import app
from models.base.bootstrap import BootstrapResult, VerifyResult, write_checksums
from models.config import DEFAULT_BASE
from models.registry.store import Registry

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = [
    "--prefix", "", "--max-length", "32", "--epochs", "6", "--lr", "2e-2",
    "--batch-size", "8", "--eval-every", "0", "--seed", "0",
]  # fmt: skip


@pytest.fixture
def runner(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return CliRunner()


def _kreview(runner: CliRunner, wh: Path, *args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["-q", "-w", str(wh), *args])
    return res.exit_code, res.output


def test_train_list_show_promote(
    runner: CliRunner, tiny_base: Path, tiny_data: dict, tmp_path: Path
) -> None:
    wh = tmp_path / "wh"
    args = ["train", "sentiment", "--data", str(tiny_data["sentiment"]), "--base", str(tiny_base)]
    code, out = _kreview(runner, wh, *args, *FAST)
    assert code == 0, out
    assert "held-out result" in out and "ratings_test.txt" in out and "current" in out
    first = Registry(wh / "models").current()["sentiment"]["ref"]

    # a worse one: a single step at a tiny rate is registered but not promoted
    code, out = _kreview(runner, wh, *args, *FAST, "--max-steps", "1", "--lr", "1e-6")
    assert code == 0, out
    assert "not promoted" in out
    registry = Registry(wh / "models")
    second = next(v.ref for v in registry.versions() if v.ref != first)
    assert registry.current()["sentiment"]["ref"] == first

    code, out = _kreview(runner, wh, "models", "list")
    assert code == 0 and "sentiment" in out
    code, out = _kreview(runner, wh, "models", "show", second, "--json")
    assert code == 0 and json.loads(out)["ref"] == second
    code, out = _kreview(runner, wh, "models", "show", "sentiment")
    assert code == 0 and "checksums ok" in out

    code, out = _kreview(runner, wh, "models", "promote", second)
    assert code == 1 and "not promoted" in out
    code, out = _kreview(runner, wh, "models", "promote", second, "--force")
    assert code == 0 and "is current (forced)" in out
    with open_reader(Warehouse(wh)) as con:
        rows = con.execute("SELECT version FROM model_versions WHERE is_current").fetchall()
    assert rows == [(second.split("/")[1],)]


def test_bad_data_arguments_exit_2(runner: CliRunner, tiny_data: dict, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    code, out = _kreview(runner, wh, "train", "joint", "--data", str(tiny_data["sentiment"]))
    assert code == 2 and "task=PATH" in out
    code, out = _kreview(
        runner, wh, "train", "joint", "--data", f"sentiment={tiny_data['sentiment']}"
    )
    assert code == 2 and "emotion, similarity" in out
    code, out = _kreview(runner, wh, "train", "emotion", "--data", str(tmp_path / "missing.tsv"))
    assert code == 2 and "not found" in out
    sentiment = str(tiny_data["sentiment"])
    code, out = _kreview(
        runner, wh, "train", "sentiment", "--data", sentiment, "--repeat", "emotion=3"
    )
    assert code == 2 and "without training data: emotion" in out
    if not torch.cuda.is_available():
        code, out = _kreview(
            runner, wh, "train", "sentiment", "--data", sentiment, "--precision", "fp16"
        )
        assert code == 2 and "fp16 needs CUDA" in out
    from jobs.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="task repeat 'x' is not task=N"):
        load_config(env={}, overrides={"models.train.task_repeats": ("x",)})


def test_train_default_base_offline_without_bootstrap(
    runner: CliRunner, tiny_data: dict, tmp_path: Path
) -> None:
    code, out = _kreview(
        runner, tmp_path / "wh", "train", "sentiment", "--data", str(tiny_data["sentiment"])
    )
    assert code == 2 and "kreview models bootstrap" in out


def test_bootstrap_builds_into_the_registry_and_records_it(
    runner: CliRunner, tiny_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def fake_bootstrap(dest: Path, **kw: object) -> BootstrapResult:
        # Stands in for the real conversion (470 MB); the wiring is what is tested here.
        calls.append((dest, kw))
        shutil.copytree(tiny_base, dest)
        (dest / "provenance.json").write_text(
            json.dumps({"base": DEFAULT_BASE, "verification": {"min_cosine": 0.9999}})
        )
        sums = write_checksums(dest)
        verify = VerifyResult(
            n_sentences=3, min_cosine=0.9999, mean_cosine=0.9999, token_count_mismatches=0
        )
        return BootstrapResult(dest, sums["model.safetensors"], 1234, verify, 0.1, 1)

    monkeypatch.setattr("jobs.commands.models.bootstrap_base", fake_bootstrap)
    wh = tmp_path / "wh"
    code, out = _kreview(runner, wh, "models", "bootstrap")
    assert code == 0, out
    dest = wh / "models" / "base" / "multilingual-e5-small"
    assert calls and calls[0][0] == dest and calls[0][1]["overwrite"] is False
    with open_reader(Warehouse(wh)) as con:
        row = con.execute("SELECT name, base_id, sha256, min_cosine FROM model_bases").fetchone()
    assert row is not None
    assert row[:2] == ("multilingual-e5-small", "intfloat/multilingual-e5-small")
    assert row[2] == json.loads((dest / "checksums.json").read_text())["files"]["model.safetensors"]
    assert row[3] == pytest.approx(0.9999)

    code, out = _kreview(runner, wh, "models", "bootstrap")  # present: verified, not rebuilt
    assert code == 0 and "already bootstrapped" in out and len(calls) == 1
    (dest / "config.json").write_text("{}")
    code, out = _kreview(runner, wh, "models", "bootstrap")
    assert code == 6 and "config.json does not match" in out  # EXIT_MODEL

    # and the default base id now resolves offline to that copy
    (dest / "config.json").write_bytes((tiny_base / "config.json").read_bytes())
    data = tmp_path / "n.txt"
    data.write_text("id\tdocument\tlabel\n" + "".join(f"{i}\t좋아요\t{i % 2}\n" for i in range(20)))
    code, out = _kreview(runner, wh, "train", "sentiment", "--data", str(data), *FAST)
    assert code == 0, out
    cfg = Registry(wh / "models").versions()[0].config
    assert cfg["base"]["id"] == "intfloat/multilingual-e5-small"
    assert cfg["base"]["source"] == "registry"
