"""Where the model versions that ship with kreview lie (package data under ``models/default/``)
and which they are: read by the installer (``defaults.py``) and by the registry, whose "no such
model" says when the missing version is a shipped one that `kreview models bootstrap` installs."""

from __future__ import annotations

from pathlib import Path

from models.config import KINDS

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "default"  # models/default/


def shipped(default_dir: Path = DEFAULT_DIR) -> list[Path]:
    """Shipped artifact folders ``<kind>/<version>``, newest version last."""
    found = []
    for kind in KINDS:
        folder = default_dir / kind
        if folder.is_dir():
            found.extend(p for p in sorted(folder.iterdir()) if (p / "config.json").is_file())
    return sorted(found, key=lambda p: p.name)


def is_shipped(
    version: str, kinds: tuple[str, ...] = KINDS, default_dir: Path = DEFAULT_DIR
) -> bool:
    """Whether ``<kind>/<version>`` ships with kreview for one of ``kinds``."""
    return any(p.name == version and p.parent.name in kinds for p in shipped(default_dir))
