"""The model versions shipped under models/default/: their files are whole and their cards say
what the versions are (a card is rendered from the version's config and metrics, so a shipped
card written by older code, e.g. without the "## Merge" lineage, shows up here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from models.base.bootstrap import verify_checksums
from models.registry.shipped import DEFAULT_DIR, shipped
from models.training.artifact import model_card

SHIPPED = shipped()


def test_something_is_shipped() -> None:
    assert SHIPPED, f"no model version under {DEFAULT_DIR}"


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_version_is_whole(folder: Path) -> None:
    verify_checksums(folder)  # raises ChecksumError naming the file that differs


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_card_is_what_its_files_say(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text("utf-8"))
    metrics = json.loads((folder / "metrics.json").read_text("utf-8"))
    card = (folder / "card.md").read_text("utf-8")
    plots = re.findall(r"`([^`]+\.png)`", re.search(r"^Plots: .*$", card, re.M).group(0))
    assert all((folder / p).is_file() for p in plots)
    ref = f"{config['kind']}/{config['version']}"
    assert card == model_card(config, metrics, plots, ref)
    if config.get("merge"):
        assert "## Merge" in card and all(src in card for src in config["merge"]["from"])
