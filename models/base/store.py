"""Where base encoders are stored and the errors about them: no torch here, so the CLI and
the registry can name them without importing the deep-learning stack (~1 s)."""

from __future__ import annotations

from pathlib import Path

from models.config import DEFAULT_BASE

BASE_SUBDIR = "base"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class BaseUnavailable(RuntimeError):
    """The base encoder cannot be found locally nor fetched from the hub."""


class UnsafeWeights(RuntimeError):
    """A folder offers only pickled weights, which kreview never loads."""


class BaseMismatch(RuntimeError):
    """No reachable copy of an artifact's base has the weights it was trained on."""


def registry_base_dir(models_dir: Path, base_id: str = DEFAULT_BASE) -> Path:
    """Where ``kreview models bootstrap`` puts a hub id's offline copy."""
    return models_dir / BASE_SUBDIR / base_id.rsplit("/", 1)[-1]
