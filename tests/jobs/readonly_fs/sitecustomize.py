"""Test hook: the folder named by ``KREVIEW_TEST_READONLY`` behaves like a read-only mount in
this process.

The tests run as root, whom ``chmod`` does not stop, and a real read-only mount needs
privileges; so the Python calls that write (open for writing, mkdir, rename, unlink, ...) fail
under that folder with the error a read-only mount gives, ``OSError(EROFS)``, and
``os.access(W_OK)`` says no. Native code is not covered (DuckDB opens the catalog itself): the
tests check that kreview refuses before it gets there, and that readers open it read-only.

Put this folder first on PYTHONPATH of a child process to use it; without the variable it does
nothing.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
from typing import Any

_ROOT = os.environ.get("KREVIEW_TEST_READONLY")


def _under(path: Any) -> bool:
    if isinstance(path, int) or not isinstance(path, str | bytes | os.PathLike):
        return False
    real = os.path.realpath(os.fsdecode(path))
    return real == _ROOT or real.startswith(_ROOT + os.sep)


def _refuse(path: Any) -> None:
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))


def _install() -> None:
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    real_os_open = os.open

    def os_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: Any = None) -> int:
        if flags & writes and _under(path):
            _refuse(path)
        return real_os_open(path, flags, mode, dir_fd=dir_fd)

    real_io_open = io.open

    def io_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(c in mode for c in "wax+") and _under(file):
            _refuse(file)
        return real_io_open(file, mode, *args, **kwargs)

    os.open = os_open
    io.open = builtins.open = io_open

    def guard(name: str) -> None:
        real = getattr(os, name)

        def guarded(*args: Any, **kwargs: Any) -> Any:
            for arg in args[:2]:
                if _under(arg):
                    _refuse(arg)
            return real(*args, **kwargs)

        setattr(os, name, guarded)

    for name in (
        "mkdir",
        "rmdir",
        "remove",
        "unlink",
        "rename",
        "replace",
        "link",
        "symlink",
        "chmod",
        "utime",
        "truncate",
    ):
        guard(name)

    real_access = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        if mode & os.W_OK and _under(path):
            return False
        return real_access(path, mode, **kwargs)

    os.access = access


if _ROOT:
    _ROOT = os.path.realpath(_ROOT)
    _install()
