"""The default task models that ship with kreview (package data under ``models/default/``).

A fresh install scores reviews offline: once the base encoder is bootstrapped
(`kreview models bootstrap`), the shipped artifacts (a few MB of adapter and head weights, no
base weights) are copied into the warehouse's registry and made current for every task that
has no current model yet. A model the user trained or promoted is never replaced.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from models.base.bootstrap import CHECKSUMS_FILE, WEIGHTS_FILE, verify_checksums
from models.base.encoder import registry_base_dir
from models.config import KINDS
from models.registry.store import Registry

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "default"  # models/default/


@dataclass(frozen=True)
class Installed:
    copied: tuple[str, ...]  # refs copied into the registry
    made_current: tuple[str, ...]  # tasks that got a default as current
    skipped: tuple[str, ...] = ()  # "<ref>: why" for shipped models not installed


def _base_matches(registry: Registry, config: dict) -> str | None:
    """Why a shipped model cannot serve on this registry's base (None: it can). A default
    trained on other base weights is never installed: loading it would fail later."""
    base = config.get("base", {})
    folder = registry_base_dir(registry.root, base.get("id", ""))
    sums = folder / CHECKSUMS_FILE
    if not sums.is_file():
        return f"base {base.get('id')} is not bootstrapped in {registry.root}"
    have = json.loads(sums.read_text(encoding="utf-8")).get("files", {}).get(WEIGHTS_FILE)
    if have != base.get("sha256"):
        return (
            f"trained on base weights {str(base.get('sha256'))[:12]}, registry has {str(have)[:12]}"
        )
    return None


def shipped(default_dir: Path = DEFAULT_DIR) -> list[Path]:
    """Shipped artifact folders ``<kind>/<version>``, newest version last."""
    found = []
    for kind in KINDS:
        folder = default_dir / kind
        if folder.is_dir():
            found.extend(p for p in sorted(folder.iterdir()) if (p / "config.json").is_file())
    return sorted(found, key=lambda p: p.name)


def install_defaults(registry: Registry, default_dir: Path = DEFAULT_DIR) -> Installed:
    """Copy shipped artifacts into ``registry`` (verified) and make them current where no
    model is current yet. Idempotent."""
    copied: list[str] = []
    made_current: list[str] = []
    skipped: list[str] = []
    for src in shipped(default_dir):
        kind, version = src.parent.name, src.name
        why = _base_matches(registry, json.loads((src / "config.json").read_text("utf-8")))
        if why:
            skipped.append(f"{kind}/{version}: {why}")
            continue
        dest = registry.root / kind / version
        if not dest.exists():
            verify_checksums(src)  # a damaged package is refused, not installed
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.parent / f".{version}.install.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(src, tmp)
            tmp.rename(dest)
            copied.append(f"{kind}/{version}")
        info = registry.verify(f"{kind}/{version}")
        current = registry.current()
        free = [t for t in info.tasks if t not in current]
        if free and len(free) == len(info.tasks):
            registry.set_current(info, forced=False)
            made_current.extend(free)
    return Installed(tuple(copied), tuple(made_current), tuple(skipped))
