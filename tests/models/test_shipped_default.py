"""The model versions shipped under models/default/: their files are whole and their cards say
what the versions are (a card is rendered from the version's config and metrics, so a shipped
card written by older code, e.g. without the "## Merge" lineage, shows up here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models.base.bootstrap import verify_checksums, write_checksums
from models.registry.shipped import DEFAULT_DIR, shipped
from models.training.artifact import card_plots, render_card_again

SHIPPED = shipped()


def test_something_is_shipped() -> None:
    assert SHIPPED, f"no model version under {DEFAULT_DIR}"


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_version_is_whole(folder: Path) -> None:
    verify_checksums(folder)  # raises ChecksumError naming the file that differs


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_card_is_what_its_files_say(folder: Path, tmp_path: Path) -> None:
    card = (folder / "card.md").read_text("utf-8")
    plots = card_plots(card)
    assert plots and all((folder / p).is_file() for p in plots)
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    assert not render_card_again(copy), (
        f"the card in {folder} is not what its files render; after changing the card's "
        f'wording, run: python -c "from pathlib import Path; from models.training.artifact '
        f"import render_card_again; render_card_again(Path('{folder}'))\""
    )
    config = json.loads((folder / "config.json").read_text("utf-8"))
    if config.get("merge"):
        assert "## Merge" in card and all(src in card for src in config["merge"]["from"])


def test_render_card_again_writes_the_card_and_its_checksums(tmp_path: Path) -> None:
    folder = tmp_path / SHIPPED[-1].name
    shutil.copytree(SHIPPED[-1], folder)
    assert not render_card_again(folder)  # already what its files render: nothing written
    card = folder / "card.md"
    # A card written by older code, checksummed as it was shipped.
    card.write_text(card.read_text("utf-8").replace("## Merge", "## Lineage"), encoding="utf-8")
    write_checksums(folder)
    assert render_card_again(folder)
    verify_checksums(folder)  # the checksums follow the new card
    assert "## Merge" in card.read_text("utf-8") and "## Lineage" not in card.read_text("utf-8")
