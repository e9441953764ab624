"""Single-writer lock over a warehouse.

An advisory ``flock`` on ``<root>/.kreview.lock``: the kernel releases it when the holder exits,
even on SIGKILL, so a crashed run never leaves a stale lock behind. The holder writes who it is
into the file so that a refused command (or a waiting reader) can name it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import BusyError, ReadOnlyError

# errno values that mean "this warehouse cannot be written here" (mount or permissions).
NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


class WarehouseLocked(BusyError, RuntimeError):
    """Another process holds the writer lock."""

    def __init__(self, path: Path, holder: dict[str, Any] | None) -> None:
        self.holder = holder or {}
        super().__init__(
            f"the warehouse is busy: {describe_holder(self.holder)} holds the writer lock",
            hint=f"try again when it finishes; lock file {path}",
        )


class WarehouseReadOnly(ReadOnlyError, RuntimeError):
    """The warehouse cannot be written (read-only mount, or no permission)."""

    def __init__(self, root: Path, exc: OSError) -> None:
        why = "is on a read-only file system" if exc.errno == errno.EROFS else "is not writable"
        super().__init__(
            f"the warehouse {root} {why}, and this command writes to it",
            hint="reading commands such as status, query and models list work there",
        )


def describe_holder(holder: dict[str, Any]) -> str:
    """Who holds the lock, from what it wrote into the lock file."""
    if not holder:
        return "another kreview process (it has not written its name yet)"
    run = f" run {holder['run_id']}" if holder.get("run_id") else ""
    return (
        f"'kreview {holder.get('command', '?')}'{run} (pid {holder.get('pid', '?')} "
        f"on {holder.get('host', '?')}, since {holder.get('since', '?')})"
    )


def read_holder(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None  # the holder is between truncate and write; treat as unknown
    return data if isinstance(data, dict) else None


@contextmanager
def writer_lock(path: Path, command: str, run_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Hold the writer lock for the block, or raise :class:`WarehouseLocked` at once
    (:class:`WarehouseReadOnly` where the warehouse cannot be written)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("a+", encoding="utf-8")
    except OSError as exc:
        if exc.errno in NOT_WRITABLE:
            raise WarehouseReadOnly(path.parent, exc) from None
        raise
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WarehouseLocked(path, read_holder(path)) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "run_id": run_id,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(holder))
        fh.flush()
        try:
            yield holder
        finally:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()
