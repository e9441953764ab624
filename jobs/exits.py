"""How a `kreview` command ends on an error: one plain line on stderr and an exit code.

The codes and the error hierarchy live in the platform (``core.errors``: stages raise a
``KreviewError`` without importing the CLI); this is the printing side. :func:`handle` is the
one top-level handler: :class:`KreviewGroup` (the root command of ``jobs.app.app``) runs every
command under it, so a command never prints a traceback. It prints

- for a :class:`~core.errors.KreviewError`: ``kreview: <what> (<hint>)``, exit ``exc.code``;
- for a known exception of a module that does not raise KreviewError (a base encoder that
  cannot be found, a read-only file system, ...): the same, with the code of its kind;
- for Ctrl-C / SIGTERM: ``kreview: interrupted ...``, exit 130 / 143;
- for a reader of stdout that went away (``kreview models list | head``): nothing, exit 1
  (as click, rich and the Python docs do: rich's tables and help end a broken pipe so
  themselves; this covers plain writes);
- for anything else (a bug): one line naming a file that holds the traceback, exit 70.

``--debug`` (or ``KREVIEW_DEBUG=1``) prints the traceback too. Typer's own usage errors (an
unknown option, a missing argument) keep Typer's message and exit 2.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from core.errors import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_MISSING,
    EXIT_MODEL,
    EXIT_READ_ONLY,
    EXIT_SIGNAL_BASE,
    EXIT_USAGE,
    Interrupted,
    KreviewError,
    interrupted_by,
)
from core.logs import log_file

__all__ = [
    "EXIT_BUSY",
    "EXIT_FAILED",
    "EXIT_MISSING",
    "EXIT_SIGNAL_BASE",
    "EXIT_USAGE",
    "KreviewGroup",
    "classify",
    "error_line",
    "fail",
    "handle",
]

DEBUG_ENV = "KREVIEW_DEBUG"
# Typer carries its own copy of click: its usage errors derive from this class.
_TyperClickError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
log = logging.getLogger("kreview.cli")


def error_line(message: str) -> None:
    """``kreview: <message>`` on stderr, on one line. A plain write, not rich: the message
    stays one line whatever the terminal's width."""
    sys.stderr.write(f"kreview: {' '.join(message.splitlines())}\n")
    sys.stderr.flush()


def fail(message: str, code: int = EXIT_USAGE, hint: str | None = None) -> KreviewError:
    """The error to raise for a known failure: ``raise fail("what", EXIT_FAILED)``."""
    return KreviewError(message, code=code, hint=hint)


# ------------------------------------------------------------------ foreign exceptions

# Exceptions of modules that do not raise KreviewError, by (module, class name), so that this
# module imports none of them (torch comes with some): (code, hint).
_KNOWN: dict[tuple[str, str], tuple[int, str | None]] = {
    ("models.base.store", "BaseUnavailable"): (EXIT_MODEL, None),
    ("models.base.store", "BaseMismatch"): (EXIT_MODEL, None),
    ("models.base.store", "UnsafeWeights"): (EXIT_MODEL, None),
    ("models.base.bootstrap", "MissingDependencyError"): (EXIT_MODEL, None),
    ("models.base.bootstrap", "VerificationError"): (EXIT_MODEL, None),
    (
        "models.base.bootstrap",
        "ChecksumError",
    ): (EXIT_MODEL, "rebuild it with `kreview models bootstrap --force`"),
    ("models.data", "DataError"): (EXIT_USAGE, None),
    ("core.fonts", "HangulFontMissing"): (EXIT_FAILED, None),
    ("etl.query", "QueryRefused"): (EXIT_USAGE, None),
    ("etl.query", "QueryFailed"): (EXIT_USAGE, None),
}


def classify(exc: BaseException) -> KreviewError | None:
    """``exc`` as the KreviewError it is or stands for (its code and hint); None for an
    unexpected exception."""
    return exc if isinstance(exc, KreviewError) else _known(exc)


def _known(exc: BaseException) -> KreviewError | None:
    for cls in type(exc).__mro__:
        found = _KNOWN.get((cls.__module__, cls.__name__))
        if found:
            code, hint = found
            return KreviewError(str(exc), code=code, hint=hint)
    if isinstance(exc, OSError) and exc.errno is not None:
        return _os_error(exc)
    return None


def _os_error(exc: OSError) -> KreviewError | None:
    where = f": {exc.filename}" if exc.filename else ""
    if exc.errno == errno.EROFS:
        return KreviewError(
            f"read-only file system{where}",
            code=EXIT_READ_ONLY,
            hint="reading commands such as status, query and models list work on a read-only "
            "warehouse; writing ones need a writable one",
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return KreviewError(f"permission denied{where}", code=EXIT_READ_ONLY)
    if exc.errno == errno.ENOTDIR:
        return KreviewError(f"not a directory{where}", code=EXIT_USAGE)
    if exc.errno == errno.ENOSPC:
        return KreviewError(f"no space left on the device{where}", code=EXIT_FAILED)
    return None


# ------------------------------------------------------------------------- the handler


def debug_wanted(flag: bool = False) -> bool:
    return flag or os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _crash_file(exc: BaseException) -> Path | None:
    """Write the traceback beside the JSON log (``<warehouse>/logs/``) or, where that cannot
    be written, into a temporary file; its path, or None if neither could be written."""
    text = "".join(traceback.format_exception(exc))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"kreview-error-{stamp}-{os.getpid()}.txt"
    current = log_file()
    if current is not None:
        try:
            path = current.parent / name
            path.write_text(f"kreview {' '.join(sys.argv[1:])}\n{text}", encoding="utf-8")
            return path
        except OSError:
            pass
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{name[:-4]}-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"kreview {' '.join(sys.argv[1:])}\n{text}")
        return Path(tmp)
    except OSError:
        return None


def _log_to_file(level: int, message: str, **extra: Any) -> None:
    """Into the JSON log only (the error line has said it on stderr); nothing if there is no
    log file (before the config was read, or on a read-only warehouse)."""
    if log_file() is not None:
        log.log(level, message, extra={"file_only": True, **extra})


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split("\n")).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe whose reading end is closed (a pipe's write end polls as an
    error then); a BrokenPipeError from a socket (a scraped site, an API client) is not this."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def handle(exc: BaseException, *, debug: bool = False) -> int:
    """Print the one line for ``exc`` (and its traceback under --debug); the exit code."""
    if isinstance(exc, BrokenPipeError) and _stdout_reader_gone():
        # `kreview ... | head` has read what it wanted: no error line and no "Exception ignored"
        # when Python flushes stdout at exit (the docs' recipe: point stdout at /dev/null).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    if debug_wanted(debug):
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, KeyboardInterrupt):
        signum = exc.signum if isinstance(exc, Interrupted) else (interrupted_by() or 2)
        stop = Interrupted(signum)
        error_line(
            f"interrupted by {stop} (what was not committed is rolled back and the run is "
            "marked interrupted; run the command again to continue)"
        )
        _log_to_file(logging.WARNING, f"interrupted by {stop}", exit_code=stop.code)
        return stop.code
    known = classify(exc)
    if known is not None:
        error_line(known.line())
        _log_to_file(logging.ERROR, known.line(), exit_code=known.code, error=type(exc).__name__)
        return known.code
    where = _crash_file(exc)
    if log_file() is not None:
        log.error(
            "unexpected error", exc_info=exc, extra={"file_only": True, "exit_code": EXIT_INTERNAL}
        )
    saved = f"the traceback is in {where}" if where else "the traceback could not be saved"
    shown = "" if debug_wanted(debug) else "; --debug shows it"
    error_line(
        f"unexpected error: {type(exc).__name__}: {_first_line(exc)} "
        f"(a bug in kreview: {saved}{shown})"
    )
    return EXIT_INTERNAL


class KreviewGroup(TyperGroup):
    """The root command: runs the chosen command under :func:`handle`."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, _TyperClickError):
            raise  # typer.Exit, and Typer's own usage errors (exit 2)
        except BaseException as exc:  # the one top-level handler
            if isinstance(exc, SystemExit | GeneratorExit):
                raise
            obj = ctx.obj
            code = handle(exc, debug=bool(getattr(obj, "debug", False)))
            raise typer.Exit(code) from None


def install_signal_handlers() -> None:
    """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread (and are remembered,
    see core.errors.raise_if_interrupted). ``kreview serve`` and ``kreview schedule`` put
    their own handlers in place while they run."""
    import signal

    from core.errors import note_signal

    def on_signal(signum: int, _frame: Any) -> None:
        note_signal(signum)
        raise Interrupted(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
