"""Fixtures of the gpu tests: the shipped default model loaded for CPU (fp32) and for CUDA, NSMC
test texts, and a tiny joint model for the warehouse test. Every test here is skipped without
CUDA (tests/gpu/marks.py), and a skipped test sets up none of its fixtures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    import polars as pl

    from models.registry.bundle import LoadedModels

# bench/gpu_check.py bootstraps the base and installs the shipped default once, then points the
# tests at that registry; without it each session builds its own (about 15 s, offline).
MODELS_ENV = "GPU_CHECK_MODELS_DIR"
N_AGREEMENT_TEXTS = 1000


@pytest.fixture(scope="session")
def default_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry whose current models are the shipped default (models/default/)."""
    given = os.environ.get(MODELS_ENV)
    if given:
        return Path(given)
    # load_models installs the shipped default into a fresh registry, bootstrapping the base
    return tmp_path_factory.mktemp("gpu_default") / "models"


@pytest.fixture(scope="session")
def cpu_fp32_models(default_models_dir: Path) -> LoadedModels:
    from models.config import ScoringConfig
    from models.scoring.batch import load_models

    models = load_models(default_models_dir, ScoringConfig(device="cpu", precision="fp32"))
    assert models.precision == "fp32"
    return models


@pytest.fixture(scope="session")
def cuda_models(default_models_dir: Path, cpu_fp32_models: LoadedModels) -> LoadedModels:
    """The same versions on CUDA (the CPU fixture first: it installs the default if needed)."""
    from models.config import ScoringConfig
    from models.scoring.batch import load_models

    models = load_models(default_models_dir, ScoringConfig(device="cuda"))
    assert models.versions == cpu_fp32_models.versions
    assert all(p.model.device.type == "cuda" for p in models.passes)
    assert models.precision == "cuda-autocast"
    return models


@pytest.fixture(scope="session")
def nsmc_test() -> pl.DataFrame:
    """NSMC's test file (../shared/data/nsmc, or $KREVIEW_DATA/nsmc), rows with a text."""
    import polars as pl

    from bench.corpus import NSMC_TEST, read_nsmc_test

    if not NSMC_TEST.is_file():
        pytest.skip(f"NSMC test file not found at {NSMC_TEST} (KREVIEW_DATA names its folder)")
    return read_nsmc_test().filter(pl.col("document").is_not_null())


@pytest.fixture(scope="session")
def nsmc_sample(nsmc_test: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """1,000 NSMC test texts, normalized as the pipeline does, and their labels."""
    from models.scoring.predict import normalize_many

    df = nsmc_test.sample(N_AGREEMENT_TEXTS, seed=0)
    return normalize_many(df["document"].to_list()), df["label"].to_numpy()


@pytest.fixture(scope="module")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models/ folder holding a current tiny joint model: tests/models' ``trained`` recipe
    (tests/models/scoring_fixture.py), but trained on the CPU wherever the test runs, so that
    its embeddings (and the margin around the cluster threshold the warehouse test relies on)
    are those measured when the test was written, not those of a GPU-trained variant."""
    from jobs.config import load_config
    from tests.models.scoring_fixture import train_joint

    root = tmp_path_factory.mktemp("gpu_tiny")
    cfg = load_config(env={}, overrides={"warehouse.root": root / "wh"})
    train_joint(cfg, root / "data", device="cpu")
    return root / "wh" / "models"
