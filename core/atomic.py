"""Atomic, durable writes: a file (or folder) is finished beside its target and renamed over it.

A reader sees the old file or the new one, never half of one. Files are fsync'd before the
rename, so what was renamed into place holds its bytes after a crash; ``sync_dir`` also fsyncs
the folder, which makes the rename itself survive a power loss.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path, *, mode: int | None = None, sync_dir: bool = False) -> Iterator[Path]:
    """Yield a new empty temp file beside ``path`` for any writer to fill (pyarrow,
    safetensors, ...). When the block ends it is fsync'd, given ``mode`` and renamed over
    ``path``; when the block raises it is removed.

    The temp name is unique (two writers never share one) and ends in ``.tmp``; it is created
    as a plain ``open`` would create it (0o666 less the umask) unless ``mode`` says otherwise.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        fsync_file(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def atomic_write_bytes(
    path: Path, data: bytes, *, mode: int | None = None, sync_dir: bool = False
) -> None:
    """Replace ``path`` with ``data``, atomically and durably (see :func:`atomic_path`)."""
    with atomic_path(path, mode=mode, sync_dir=sync_dir) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(
    path: Path, text: str, *, mode: int | None = None, sync_dir: bool = False
) -> None:
    """Replace ``path`` with ``text`` in UTF-8, atomically and durably."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode, sync_dir=sync_dir)


def replace_dir(tmp: Path, dest: Path, *, sync_dir: bool = False) -> None:
    """Rename the finished folder ``tmp`` to ``dest``; an existing ``dest`` is swapped out.

    A folder cannot be renamed over a non-empty one, so the old one moves aside first
    (and back, should the rename fail) and is deleted only once the new one is in place.
    """
    old: Path | None = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except OSError:
        if old is not None:
            os.replace(old, dest)
        raise
    if sync_dir:
        fsync_dir(dest.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
