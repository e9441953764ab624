"""Shared fixtures: an isolated warehouse and config per test; never the network; one torch
thread for tiny models."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from jobs.config import AppConfig, load_config

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No KREVIEW_* variables from the caller's shell leak into a test."""
    for name in list(os.environ):
        if name.startswith("KREVIEW_"):
            monkeypatch.delenv(name)


@pytest.fixture
def cfg(tmp_path: Path, clean_env: None) -> AppConfig:
    return load_config(env={}, overrides={"warehouse.root": tmp_path / "wh"})


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch on ``n`` threads inside the block. Tiny models gain nothing from a second thread,
    and on a CPU shared with other work OpenMP's spinning threads made them 5-7x slower
    (measured: 165 s vs 23 s for tests/models/test_train.py at load 5 on 2 cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread for the test (tests of tiny models)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def one_torch_thread_session() -> Iterator[None]:
    """One torch thread for session fixtures that train a tiny model once."""
    with torch_threads(1):
        yield


def kreview_cli(
    root: Path, *args: str, cwd: Path | None = None, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """``kreview ARGS`` in a child process on the warehouse at ``root``, as a user runs it:
    no KREVIEW_* variable of the caller's, the repo importable, ``env`` added."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    clean.update(KREVIEW_WAREHOUSE__ROOT=str(root), PYTHONPATH=str(REPO), **env)
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        env=clean,
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd or root.parent,
        timeout=timeout,
    )
