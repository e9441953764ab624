"""The model registry: versioned task models under ``<warehouse>/models/``.

Layout::

    models/
      base/<name>/                 bootstrapped base encoders (models.base.bootstrap)
      <kind>/<version>/            one trained model; kind = sentiment | emotion | similarity
                                   | joint (one shared adapter + the three heads)
        config.json  metrics.json  card.md  adapter.safetensors  heads.safetensors
        *.png (plots)  checksums.json
      current.json                 which version serves each task (the source of truth)
      _work/<kind>-<run key>/      checkpoints and TensorBoard logs of training runs

A version id is ``YYYYMMDDTHHMMSSZ-xxxxxx`` (sortable, unique across kinds); a *ref* is
``<kind>/<version>`` (the bare version is accepted where unambiguous). A version folder is
written whole into a temporary folder and renamed into place, and never changes afterwards:
``checksums.json`` covers every file and is verified before loading. Only ``*.safetensors``
weights are allowed; a folder holding a pickle (``.bin``, ``.pt``, …) is refused.

Promotion: a version becomes current for its tasks only if, for every task it provides, it
beats the current model's primary metric (accuracy / macro F1 / Pearson / minus the MAE) on
the same held-out set (equal data fingerprints). When the current model was measured on another set,
a ``reevaluate`` callback may measure it on the candidate's set; without one the promotion is
refused. ``force`` overrides the gate. ``current.json`` is mirrored into the catalog's
``model_versions`` table (and bootstrapped bases into ``model_bases``) by
:func:`mirror_to_catalog`, which is idempotent: any writer may call it to resync.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from core.atomic import atomic_write_text
from core.catalog import transaction
from core.digest import sha256_file
from core.errors import EXIT_USAGE, ModelError
from core.ids import sortable_id
from models.base.bootstrap import (
    CHECKSUMS_FILE,
    PROVENANCE_FILE,
    WEIGHTS_FILE,
    ChecksumError,
    verify_checksums,
    write_checksums,
)
from models.base.store import BASE_SUBDIR, PICKLE_SUFFIXES
from models.config import KINDS
from models.registry.shipped import is_shipped

ARTIFACT_FORMAT = "kreview-task-model"
ARTIFACT_FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "card.md"
CURRENT_FILE = "current.json"
WORK_DIR = "_work"
REQUIRED_FILES = (CONFIG_FILE, METRICS_FILE, CARD_FILE, "heads.safetensors")


class RegistryError(ModelError, RuntimeError):
    """A registry operation cannot be done (bad folder, corrupt current.json, …): exit 6."""


class ModelNotFound(RegistryError):
    """No model answers to the ref given (a usage error: exit 2, for every command)."""

    code = EXIT_USAGE
    hint = "`kreview models list` shows the registered versions"


class UnsafeArtifact(RegistryError):
    """A model folder holds pickled weights; kreview never loads pickles."""


class ArtifactCorrupt(RegistryError):
    """A model folder's files do not match its checksums.json."""

    hint = (
        "a shipped default is restored by deleting its folder and running "
        "`kreview models bootstrap`; otherwise promote another version with "
        "`kreview models promote REF --force`"
    )


def _missing_hint(version: str, kinds: tuple[str, ...]) -> str | None:
    """A version that ships with kreview but is not in this registry (a fresh warehouse, one
    bootstrapped before it shipped) is one command away; other versions keep the class's hint."""
    if is_shipped(version, kinds):
        return "it ships with kreview: `kreview models bootstrap` installs it"
    return None


# What `models show|promote|…` accept besides refs: the version serving a task now, and the
# newest trained one (as `kreview train --init-from` does).
CURRENT, LATEST, LATEST_REFIT = "current", "latest", "latest-refit"


def _next_version(parent: Path) -> str:
    """A new version name (core.ids.sortable_id) that sorts after every version in ``parent``
    made within the same second: two drafts can start within one millisecond, where the
    random part alone would order them by chance."""
    newest = max((p.name for p in parent.iterdir() if not p.name.startswith(".")), default="")
    version = sortable_id()
    while version <= newest and version[:16] == newest[:16]:  # the same second
        time.sleep(0.001)
        version = sortable_id()
    return version


@dataclass(frozen=True)
class VersionInfo:
    kind: str
    version: str
    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.version}"

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.config["tasks"])

    @property
    def created_at(self) -> str:
        return str(self.config.get("created_at", ""))

    def held_out(self, task: str) -> dict[str, Any] | None:
        return self.metrics.get("held_out", {}).get(task)


@dataclass(frozen=True)
class Comparison:
    task: str
    metric: str
    candidate: float
    current_ref: str | None
    current: float | None
    how: str  # "no current model" | "same held-out set" | "re-evaluated" | why not comparable
    beats: bool


@dataclass(frozen=True)
class Decision:
    ref: str
    promoted: bool
    forced: bool
    comparisons: tuple[Comparison, ...] = field(default=())

    @property
    def reason(self) -> str:
        if self.forced:
            return "forced"
        lost = [c for c in self.comparisons if not c.beats]
        if not lost:
            return "beats the current model on every task" if self.comparisons else "no tasks"
        return "; ".join(
            f"{c.task}: {c.metric} {c.candidate:.4f} vs {c.current_ref} "
            + (f"{c.current:.4f}" if c.current is not None else f"({c.how})")
            for c in lost
        )


Reevaluate = Callable[["VersionInfo", str, dict[str, Any]], dict[str, Any] | None]


def refuse_pickles(folder: Path) -> None:
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise UnsafeArtifact(
            f"{folder} holds pickled files ({', '.join(pickles)}); kreview loads safetensors only"
        )


def _read_json(path: Path, hint: str | None = None) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"{path} is missing", hint=hint) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path} is not valid JSON: {exc}", hint=hint) from None
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: expected a JSON object", hint=hint)
    return data


CURRENT_HINT = (
    "it says which version serves each task: delete it, then choose them again, the shipped "
    "defaults with `kreview models bootstrap`, others with `kreview models promote REF --force`"
)


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def work_dir(self) -> Path:
        return self.root / WORK_DIR

    # ------------------------------------------------------------- reading

    def versions(self, kind: str | None = None) -> list[VersionInfo]:
        """Every version, oldest first (unreadable folders are skipped; `verify` names them)."""
        kinds = [kind] if kind else list(KINDS)
        out: list[VersionInfo] = []
        for k in kinds:
            folder = self.root / k
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.is_dir() and not path.name.startswith("."):
                    try:
                        out.append(self._info(k, path))
                    except RegistryError:
                        continue
        return sorted(out, key=lambda v: v.version)

    def _info(self, kind: str, path: Path) -> VersionInfo:
        config = _read_json(path / CONFIG_FILE)
        metrics = _read_json(path / METRICS_FILE)
        return VersionInfo(kind, path.name, path, config, metrics)

    def get(self, ref: str) -> VersionInfo:
        """``<kind>/<version>`` (a trailing slash, as a shell completes a folder, is fine) or
        an unambiguous bare version; :class:`ModelNotFound` otherwise."""
        ref = ref.strip().rstrip("/")
        kind, _, version = ref.rpartition("/")
        if kind:
            if kind not in KINDS:
                raise ModelNotFound(f"unknown kind {kind!r} in {ref!r} (one of {', '.join(KINDS)})")
            path = self.root / kind / version
            if not version or not path.is_dir():
                raise ModelNotFound(
                    f"no model {ref} in {self.root}", hint=_missing_hint(version, (kind,))
                )
            return self._info(kind, path)
        found = [
            (k, self.root / k / version)
            for k in KINDS
            if version and (self.root / k / version).is_dir()
        ]
        if not found:
            raise ModelNotFound(
                f"no model version {ref!r} in {self.root}", hint=_missing_hint(version, KINDS)
            )
        if len(found) > 1:
            raise ModelNotFound(f"version {ref} exists under several kinds; write <kind>/{ref}")
        return self._info(*found[0])

    def lookup(self, ref: str) -> VersionInfo:
        """What a user may name: a ref (:meth:`get`), a task (the version serving it now),
        ``current`` (the version serving every task, where one does), ``latest`` (the
        newest trained version, as ``--init-from`` takes it) or ``latest-refit`` (the newest
        refit)."""
        ref = ref.strip().rstrip("/")
        current = self.current()
        if ref in current:
            return self.get(current[ref]["ref"])
        if ref == CURRENT:
            refs = sorted({entry["ref"] for entry in current.values()})
            if not refs:
                raise ModelNotFound(
                    "no model is current yet",
                    hint="`kreview models bootstrap` installs the shipped defaults",
                )
            if len(refs) > 1:
                per_task = ", ".join(f"{t}: {e['ref']}" for t, e in sorted(current.items()))
                raise ModelNotFound(
                    f"'current' differs per task ({per_task})",
                    hint="name a task instead, e.g. `kreview models show sentiment`",
                )
            return self.get(refs[0])
        if ref in (LATEST, LATEST_REFIT):
            return self.get(resolve_ref(self, ref, ()))
        return self.get(ref)

    def current(self) -> dict[str, dict[str, Any]]:
        """``{task: {"ref", "promoted_at", "forced"}}`` from current.json."""
        path = self.root / CURRENT_FILE
        return _read_json(path, CURRENT_HINT) if path.is_file() else {}

    def current_info(self, task: str) -> VersionInfo | None:
        entry = self.current().get(task)
        return self.get(entry["ref"]) if entry else None

    def verify(self, ref: str) -> VersionInfo:
        """Refuse pickles, check every checksum; returns the version's info."""
        info = self.get(ref)
        refuse_pickles(info.path)
        try:
            verify_checksums(info.path)
        except ChecksumError as exc:
            raise ArtifactCorrupt(str(exc)) from None
        fmt = info.config.get("format")
        if fmt != ARTIFACT_FORMAT:
            raise RegistryError(f"{info.path}: not a kreview task model (format {fmt!r})")
        for name in info.config.get("weights", {}).values():
            if not str(name).endswith(".safetensors"):
                raise UnsafeArtifact(f"{info.path}: weights file {name} is not safetensors")
        return info

    # ------------------------------------------------------------- writing

    @contextmanager
    def draft(self, kind: str) -> Iterator[Draft]:
        """A temporary folder to write a new version into; renamed into place on success."""
        if kind not in KINDS:
            raise RegistryError(f"unknown kind {kind!r}")
        parent = self.root / kind
        parent.mkdir(parents=True, exist_ok=True)
        version = _next_version(parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=".tmp", dir=parent))
        d = Draft(kind, version, tmp)
        try:
            yield d
            missing = [f for f in REQUIRED_FILES if not (tmp / f).is_file()]
            if missing:
                raise RegistryError(f"new model {kind}/{version} lacks {', '.join(missing)}")
            refuse_pickles(tmp)
            write_checksums(tmp)
            tmp.chmod(0o755)
            for p in tmp.iterdir():
                p.chmod(0o644)
            os.replace(tmp, parent / version)
            d.info = self._info(kind, parent / version)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def set_current(self, info: VersionInfo, *, forced: bool) -> None:
        cur = self.current()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for task in info.tasks:
            cur[task] = {"ref": info.ref, "promoted_at": now, "forced": forced}
        self.root.mkdir(parents=True, exist_ok=True)
        text = json.dumps(cur, indent=2, ensure_ascii=False) + "\n"
        atomic_write_text(self.root / CURRENT_FILE, text, mode=0o644)

    # ------------------------------------------------------------- the promotion gate

    def compare(
        self, cand: VersionInfo, *, min_delta: float = 0.0, reevaluate: Reevaluate | None = None
    ) -> list[Comparison]:
        out = []
        for task in cand.tasks:
            entry = cand.held_out(task)
            if entry is None:
                raise RegistryError(f"{cand.ref} has no held-out metrics for {task}")
            metric, value = (
                entry["metrics"]["primary"],
                float(entry["metrics"][entry["metrics"]["primary"]]),
            )
            try:
                cur = self.current_info(task)
            except RegistryError:  # current.json names a folder someone deleted
                cur, gone = None, "the current version's folder is gone"
            else:
                gone = "no current model"
            if cur is None:
                out.append(Comparison(task, metric, value, None, None, gone, True))
                continue
            if cur.ref == cand.ref:
                out.append(Comparison(task, metric, value, cur.ref, value, "already current", True))
                continue
            refit = cand.config.get("refit") or {}
            if (
                refit.get("from") == cur.ref
                and task not in refit.get("tasks", ())
                and "max_length" not in refit
            ):
                # A head refit (models/training/refit.py) of the current version: this task's
                # encoder and head are the current ones, byte for byte (and it reads as many
                # tokens: a refit that changed the limit is compared task by task).
                how = "unchanged (head refit of the current version)"
                out.append(Comparison(task, metric, value, cur.ref, value, how, True))
                continue
            cur_entry = cur.held_out(task)
            cur_value: float | None = None
            how = "current model has no held-out metrics"
            if (
                cur_entry
                and cur_entry["eval_set"]["fingerprint"] == entry["eval_set"]["fingerprint"]
            ):
                cur_value, how = float(cur_entry["metrics"][metric]), "same held-out set"
            elif reevaluate is not None:
                remeasured = reevaluate(cur, task, entry["eval_set"])
                if remeasured is not None:
                    cur_value, how = float(remeasured[metric]), "re-evaluated"
                else:
                    how = "measured on another held-out set; cannot re-evaluate"
            elif cur_entry:
                how = "measured on another held-out set"
            beats = cur_value is not None and value > cur_value + min_delta
            if (
                refit.get("from") == cur.ref
                and task in refit.get("max_length", {}).get("remeasured", ())
                and how == "same held-out set"
                and cur_entry is not None
                and entry["metrics"] == cur_entry["metrics"]
            ):
                # A refit of the current version at a new token limit, on a set whose texts
                # all fit both limits (KLUE-STS's sentences at 64 -> 128): the same weights
                # gave the same figures, so the task is unchanged, not worse.
                how, beats = "unchanged (the same figures at the new token limit)", True
            out.append(Comparison(task, metric, value, cur.ref, cur_value, how, beats))
        return out

    def promote(
        self,
        ref: str,
        *,
        force: bool = False,
        min_delta: float = 0.0,
        reevaluate: Reevaluate | None = None,
    ) -> Decision:
        cand = self.verify(ref)
        comparisons = tuple(self.compare(cand, min_delta=min_delta, reevaluate=reevaluate))
        wins = all(c.beats for c in comparisons)
        if wins or force:
            self.set_current(cand, forced=force and not wins)
        return Decision(cand.ref, wins or force, force and not wins, comparisons)

    # ------------------------------------------------------------- bases

    def bases(self) -> list[dict[str, Any]]:
        out = []
        folder = self.root / BASE_SUBDIR
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if not path.is_dir() or path.name.startswith("."):
                continue
            prov = path / PROVENANCE_FILE
            sums = path / CHECKSUMS_FILE
            prov_data = _read_json(prov) if prov.is_file() else {}
            weights = _read_json(sums).get("files", {}) if sums.is_file() else {}
            out.append(
                {
                    "name": path.name,
                    "base_id": prov_data.get("base", path.name),
                    "path": str(path.relative_to(self.root)),
                    "sha256": weights.get(WEIGHTS_FILE) or _weights_digest(path),
                    "min_cosine": prov_data.get("verification", {}).get("min_cosine"),
                    "created_at": datetime.fromtimestamp(path.stat().st_mtime, UTC),
                }
            )
        return out


def _weights_digest(folder: Path) -> str | None:
    files = sorted(folder.glob("*.safetensors"))
    return sha256_file(files[0]) if len(files) == 1 else None


@dataclass
class Draft:
    kind: str
    version: str
    path: Path
    info: VersionInfo | None = None

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.version}"


def mirror_to_catalog(con: duckdb.DuckDBPyConnection, registry: Registry) -> int:
    """Rewrite ``model_versions`` and ``model_bases`` from the registry folder (idempotent).

    Call with a writer connection (``core.catalog.open_writer``); returns rows written.
    """
    current = {t: e["ref"] for t, e in registry.current().items()}
    rows = []
    for info in registry.versions():
        for task in info.tasks:
            held = info.held_out(task) or {}
            created = info.config.get("created_at")
            rows.append(
                (
                    task,
                    info.version,
                    info.kind,
                    str(info.path.relative_to(registry.root)),
                    info.config.get("base", {}).get("id"),
                    info.config.get("base", {}).get("sha256"),
                    json.dumps(held.get("metrics", {}), ensure_ascii=False),
                    datetime.fromisoformat(created) if created else datetime.now(UTC),
                    current.get(task) == info.ref,
                )
            )
    bases = registry.bases()
    with transaction(con):
        con.execute("DELETE FROM model_versions")
        if rows:
            con.executemany(
                "INSERT INTO model_versions (task, version, kind, path, base_id, base_sha256,"
                " metrics, created_at, is_current) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        con.execute("DELETE FROM model_bases")
        for b in bases:
            con.execute(
                "INSERT INTO model_bases (name, base_id, path, sha256, min_cosine, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [b["name"], b["base_id"], b["path"], b["sha256"], b["min_cosine"], b["created_at"]],
            )
    return len(rows)


def resolve_ref(registry: Registry, ref: str, tasks: Sequence[str]) -> str:
    """``ref`` itself, or for ``current`` the version serving the first task now, or for
    ``latest`` the newest trained (not refitted) version holding every task: what
    `make train-defaults` refits right after training, before any promotion; for
    ``latest-refit`` the newest refit holding every task (what the stars stage continues).
    Used by ``models refit-head`` and ``train --init-from``."""
    if ref == CURRENT:
        entry = registry.current().get(tasks[0] if tasks else "")
        if entry is None:
            raise ModelNotFound(f"no current model for {', '.join(tasks)}")
        return str(entry["ref"])
    if ref in (LATEST, LATEST_REFIT):
        refits = ref == LATEST_REFIT
        found = [
            v
            for v in registry.versions()
            if set(tasks) <= set(v.tasks) and ("refit" in v.config) == refits
        ]
        if not found:
            with_tasks = f" with {', '.join(tasks)}" if tasks else ""
            if refits:
                raise ModelNotFound(f"no refitted model{with_tasks}")
            raise ModelNotFound(f"no trained model{with_tasks} ('latest' leaves refits aside)")
        return max(found, key=lambda v: (v.created_at, v.version)).ref
    return ref
