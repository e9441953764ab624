"""Run-stamped output folders (exports, reports): the marker, the ``latest`` pointer, pruning.

Each run writes ``<out_dir>/<run_id>/`` (in a temporary folder, renamed into place) and then
moves ``<out_dir>/latest`` to it, so readers see either the old or the new folder, never half.

``--out DIR`` may name a folder that holds other things (an archive, a desktop), so pruning
removes only what kreview made, and says what it left alone:

- A snapshot is marked when it is made: :func:`mark_snapshot` writes ``.kreview-snapshot.json``
  (kind, run id) into the temporary folder before it is renamed into place.
- :func:`prune` considers a folder only when its name is a run id (``core.ids.sortable_id``:
  ``YYYYmmddTHHMMSSZ-`` and six lowercase hex digits: today three digits of milliseconds and
  three hex, before b89bf40 six hex) AND it holds a marker of the same kind naming that run id.
  Every other folder is left alone and named in one warning (its count is in the result).
- Snapshots written before markers existed count as kreview's when their own content says so
  (decided from what every earlier version wrote): an export holds ``_manifest.json``, a JSON
  object with ``datasets`` whose ``run_id`` is the folder's name; a report holds ``index.html``
  whose page header reads ``kreview report · run <the folder's name>`` (every report since the
  first). A run-id-named folder with neither is not kreview's and is left alone.
- The snapshot just written and the one ``latest`` points at are never removed, whatever their
  names sort as, so ``latest`` never dangles.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

from core.atomic import atomic_write_text

LATEST = "latest"
MARKER = ".kreview-snapshot.json"
EXPORT, REPORT = "export", "report"
# core.ids.sortable_id: the second in UTC, then 6 lowercase hex digits (digits are hex too).
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")
# What snapshots of older versions hold (see the module docstring).
_LEGACY_MANIFEST = "_manifest.json"
_LEGACY_REPORT_HEAD = 65536  # bytes of index.html searched for the header

log = logging.getLogger("kreview.snapshots")


class Pruned(list[Path]):
    """The snapshot folders :func:`prune` removed (a list, oldest first), and in
    ``left_alone`` the folders of ``out_dir`` it did not touch because kreview did not make
    them."""

    left_alone: tuple[Path, ...] = ()


def mark_snapshot(folder: Path, kind: str, run_id: str) -> None:
    """Mark ``folder`` (the temporary folder, before it is renamed to ``run_id``) as a
    ``kind`` snapshot made by kreview: only marked folders are ever pruned."""
    text = json.dumps({"made_by": "kreview", "kind": kind, "run_id": run_id})
    atomic_write_text(folder / MARKER, text + "\n")


def _marker_kind(folder: Path) -> str | None:
    """The kind the folder's marker names, when it is a valid marker for this folder."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        isinstance(marker, dict)
        and marker.get("made_by") == "kreview"
        and marker.get("run_id") == folder.name
        and isinstance(marker.get("kind"), str)
    ):
        return marker["kind"]
    return None


def _legacy_kind(folder: Path) -> str | None:
    """The kind of an unmarked snapshot that an older kreview wrote, by its content."""
    try:
        manifest = json.loads((folder / _LEGACY_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if (
        isinstance(manifest, dict)
        and manifest.get("run_id") == folder.name
        and isinstance(manifest.get("datasets"), dict)
    ):
        return EXPORT
    try:
        with (folder / "index.html").open("rb") as fh:
            head = fh.read(_LEGACY_REPORT_HEAD).decode("utf-8", "replace")
    except OSError:
        return None
    return REPORT if f"kreview report · run {folder.name}" in head else None


def snapshot_kind(folder: Path) -> str | None:
    """``export`` or ``report`` if kreview made ``folder`` as a snapshot, else None."""
    if folder.is_symlink() or not folder.is_dir() or not RUN_ID.fullmatch(folder.name):
        return None
    return _marker_kind(folder) or _legacy_kind(folder)


def point_latest(out_dir: Path, final: Path) -> None:
    """Point ``out_dir/latest`` at ``final`` in one atomic rename of a fresh symlink."""
    # Named by pid: two processes publishing at once never share a temp link (the report
    # stage removes those of dead processes).
    tmp_link = out_dir / f".{LATEST}-{os.getpid()}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(final.name)
    tmp_link.replace(out_dir / LATEST)


def _latest_target(out_dir: Path) -> Path | None:
    link = out_dir / LATEST
    if not link.is_symlink():
        return None
    return out_dir / Path(os.readlink(link)).name


def prune(out_dir: Path, keep: int, kind: str | None = None, current: Path | None = None) -> Pruned:
    """Remove all but the newest ``keep`` snapshots of ``kind`` (any kind when None) that
    kreview made in ``out_dir`` (run ids sort by time); returns those removed.

    ``current`` (the snapshot just written) and the target of ``latest`` are never removed.
    Folders kreview did not make are left alone and named in one warning."""
    protected = {p.name for p in (current, _latest_target(out_dir)) if p is not None}
    ours: list[Path] = []
    foreign: list[Path] = []
    for path in sorted(out_dir.iterdir()):
        if path.name.startswith(".") or path.is_symlink() or not path.is_dir():
            continue  # temp folders, `latest`, files: never pruned, not worth a warning
        found = snapshot_kind(path)
        if found is None:
            foreign.append(path)
        elif kind is None or found == kind:
            ours.append(path)
    old = ours[:-keep] if keep > 0 else ours
    gone = Pruned(p for p in old if p.name not in protected)
    for path in gone:
        shutil.rmtree(path)
    gone.left_alone = tuple(foreign)
    if foreign:
        names = ", ".join(p.name for p in foreign[:10])
        more = f" and {len(foreign) - 10} more" if len(foreign) > 10 else ""
        log.warning(
            "pruning %s left %d folder(s) alone that kreview did not make: %s%s",
            out_dir,
            len(foreign),
            names,
            more,
            extra={"left_alone": [str(p) for p in foreign]},
        )
    return gone
