"""Helpers the jobs tests share."""

from __future__ import annotations

import fcntl
from pathlib import Path


def lock_is_held(path: Path) -> bool:
    """True if some process holds the flock on ``path`` now (probes without keeping it). Only
    tests ask this: kreview itself never checks before taking the lock, it takes it."""
    if not path.exists():
        return False
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False
