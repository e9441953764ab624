"""Shared fixtures: an isolated warehouse and config per test; never the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.config import AppConfig, load_config

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
