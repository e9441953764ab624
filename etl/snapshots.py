"""Run-stamped output folders (exports, reports): the ``latest`` pointer and pruning.

Each run writes ``<out_dir>/<run_id>/`` (in a temporary folder, renamed into place) and then
moves ``<out_dir>/latest`` to it, so readers see either the old or the new folder, never half.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

LATEST = "latest"


def point_latest(out_dir: Path, final: Path) -> None:
    """Point ``out_dir/latest`` at ``final`` in one atomic rename of a fresh symlink."""
    # Named by pid: two processes publishing at once never share a temp link (the report
    # stage removes those of dead processes).
    tmp_link = out_dir / f".{LATEST}-{os.getpid()}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(final.name)
    tmp_link.replace(out_dir / LATEST)


def prune(out_dir: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` run folders (run ids sort by time); returns them."""
    runs = sorted(
        p
        for p in out_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and not p.is_symlink()
    )
    gone = runs[:-keep] if len(runs) > keep else []
    for path in gone:
        shutil.rmtree(path)
    return gone
