"""The default task models that ship with kreview (package data under ``models/default/``).

A fresh install scores reviews offline: the shipped artifacts (a few MB of adapter and head
weights, no base weights) are copied into the warehouse's registry and made current for every
task that has no current model yet. A model the user trained or promoted is never replaced.

The base encoder they need is built offline by `kreview models bootstrap`; where a task has no
current model and that base is missing, :func:`install_defaults` builds it first (about 15 s),
so `kreview predict`, `similarity`, `serve` and `score` just work on a fresh warehouse, and
says so in one line (a warning of the ``kreview.models`` logger).
"""

from __future__ import annotations

import fcntl
import json
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from models.base.bootstrap import CHECKSUMS_FILE, WEIGHTS_FILE, bootstrap_base, verify_checksums
from models.base.encoder import registry_base_dir
from models.config import DEFAULT_BASE, REQUIRED_TASKS
from models.registry.shipped import DEFAULT_DIR, shipped
from models.registry.store import Registry

log = logging.getLogger("kreview.models")
INSTALL_LOCK = ".install.lock"


@dataclass(frozen=True)
class Installed:
    copied: tuple[str, ...]  # refs copied into the registry
    made_current: tuple[str, ...]  # tasks that got a default as current
    skipped: tuple[str, ...] = ()  # "<ref>: why" for shipped models not installed
    bootstrapped: float | None = None  # seconds spent building the base, if it was built

    def note(self) -> str:
        """One line saying what was installed (for a command that did it unasked)."""
        built = (
            f"built the base encoder {DEFAULT_BASE} offline ({self.bootstrapped:.0f} s) and "
            if self.bootstrapped is not None
            else ""
        )
        refs = ", ".join(self.copied) or "the shipped defaults"
        return (
            f"no model was current for {', '.join(self.made_current)}: {built}installed "
            f"{refs}, as `kreview models bootstrap` does"
        )


def rating_hint(default_dir: Path = DEFAULT_DIR) -> str:
    """How to get a current rating model: promote the shipped default where it has the stars
    head, else train one."""
    for src in shipped(default_dir):
        config = json.loads((src / "config.json").read_text("utf-8"))
        if "rating" in config.get("tasks", ()):
            ref = f"{src.parent.name}/{src.name}"
            return f"`kreview models promote {ref}` makes the shipped one current"
    return "`make train-defaults-rating` trains one"


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


@contextmanager
def _install_lock(root: Path) -> Iterator[None]:
    """One installer per registry at a time (two `kreview predict` on a fresh warehouse)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / INSTALL_LOCK).open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _bootstrap_if_needed(registry: Registry, default_dir: Path) -> float | None:
    """Build the default base where a task has no current model, a shipped model needs that
    base and it is missing; the seconds it took, or None if nothing was built."""
    if all(t in registry.current() for t in REQUIRED_TASKS):
        return None
    dest = registry_base_dir(registry.root, DEFAULT_BASE)
    if dest.exists():
        return None
    needed = any(
        json.loads((src / "config.json").read_text("utf-8")).get("base", {}).get("id")
        == DEFAULT_BASE
        for src in shipped(default_dir)
    )
    if not needed:
        return None
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar: the note is the one line
    started = time.perf_counter()
    bootstrap_base(dest)
    return time.perf_counter() - started


def install_defaults(
    registry: Registry,
    default_dir: Path = DEFAULT_DIR,
    *,
    bootstrap: bool = True,
    announce: bool = True,
) -> Installed:
    """Copy shipped artifacts into ``registry`` (verified) and make them current where no
    model is current yet. Idempotent. ``bootstrap``: build the default base first where a
    task has no current model and the base is missing. ``announce``: log one warning line
    when a default became current (callers that print their own report pass False)."""
    with _install_lock(registry.root):
        built = _bootstrap_if_needed(registry, default_dir) if bootstrap else None
        installed = _install(registry, default_dir)
    if built is not None:
        installed = Installed(installed.copied, installed.made_current, installed.skipped, built)
    if announce and installed.made_current:
        log.warning(installed.note())
    return installed


def _install(registry: Registry, default_dir: Path) -> Installed:
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
