"""Every expected failure of kreview, with the exit code it ends a command with.

A stage or a platform module raises a :class:`KreviewError` (or a subclass) saying *what* went
wrong and, where there is one, a *hint* naming the fix; the CLI's one top-level handler
(``jobs.exits.handle``) prints ``kreview: <what> (<hint>)`` on one line and exits with
``exc.code``. Anything else is a bug: one line, and the traceback in a log file.

Exit codes (the README lists the same):

===  ==========================================================================================
0    ok
1    a stage failed (the ledger holds the error), a check found problems, not promoted
2    configuration or usage error: a bad option, value, input file or path
3    the warehouse is busy: another kreview writer, or another program holding the catalog
4    the catalog does not exist yet (or no warehouse at that path)
5    the warehouse is read-only (a read-only mount, or no write permission): writers refuse
6    a model cannot be loaded: a corrupt artifact or current.json, no usable base encoder
7    ``kreview serve``: the port cannot be bound (in use, or not allowed)
70   an unexpected error (a bug): the line names the log file holding the traceback
130  interrupted by SIGINT (Ctrl-C); 143 by SIGTERM. The stage rolled back, the run is
     marked ``interrupted`` and ``kreview run`` resumes it
===  ==========================================================================================

Signals. The CLI turns SIGINT and SIGTERM into :class:`Interrupted` (a KeyboardInterrupt, so
every ``except KeyboardInterrupt`` and rollback treats both alike) and remembers that one came
(:func:`note_signal`). Code that may run inside a C extension that swallows the exception (a
model load) calls :func:`raise_if_interrupted` when it returns, so a stop request is never lost.
"""

from __future__ import annotations

import signal

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 3
EXIT_MISSING = 4
EXIT_READ_ONLY = 5
EXIT_MODEL = 6
EXIT_PORT = 7
EXIT_INTERNAL = 70
EXIT_SIGNAL_BASE = 128  # + the signal number: 130 for SIGINT, 143 for SIGTERM

# One line per code, for `--help` texts and the README.
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "ok",
    EXIT_FAILED: "a stage failed (the ledger holds the error), a check found problems, "
    "a model was not promoted",
    EXIT_USAGE: "configuration or usage error (bad option, value, input file or path)",
    EXIT_BUSY: "the warehouse is busy (another writer, or another program holds the catalog)",
    EXIT_MISSING: "no catalog yet (or no warehouse at that path)",
    EXIT_READ_ONLY: "the warehouse is read-only: a writing command refused",
    EXIT_MODEL: "a model cannot be loaded (corrupt artifact or current.json, no usable base)",
    EXIT_PORT: "serve: the port cannot be bound",
    EXIT_INTERNAL: "unexpected error (a bug): the traceback is in the file named",
    EXIT_SIGNAL_BASE + signal.SIGINT: "interrupted by Ctrl-C (SIGINT); the run resumes",
    EXIT_SIGNAL_BASE + signal.SIGTERM: "stopped by SIGTERM; the run resumes",
}


class KreviewError(Exception):
    """An expected failure: ``str(exc)`` says what, ``hint`` the fix, ``code`` the exit code.

    Subclasses set ``code`` (and may set a default ``hint``); ``code=`` / ``hint=`` given to
    the constructor win."""

    code: int = EXIT_FAILED
    hint: str | None = None
    prefix: str = ""  # put before the message in the printed line ("config error: ")

    def __init__(self, message: str, *, hint: str | None = None, code: int | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint
        if code is not None:
            self.code = code

    def line(self) -> str:
        """``<what> (<hint>)`` on one line (newlines in either are folded to spaces)."""
        what = f"{self.prefix}{self}"
        text = f"{what} ({self.hint})" if self.hint else what
        return " ".join(text.split("\n"))


class UsageError(KreviewError):
    """A bad option, value, input file or path given by the user."""

    code = EXIT_USAGE


class BusyError(KreviewError):
    """Another process holds what this command needs (the writer lock, the catalog)."""

    code = EXIT_BUSY


class MissingError(KreviewError):
    """The catalog (or the warehouse) the command reads does not exist."""

    code = EXIT_MISSING


class ReadOnlyError(KreviewError):
    """A writing command on a warehouse that cannot be written."""

    code = EXIT_READ_ONLY


class ModelError(KreviewError):
    """A model cannot be loaded or used."""

    code = EXIT_MODEL


class PortError(KreviewError):
    """The HTTP server cannot bind its address."""

    code = EXIT_PORT


# ------------------------------------------------------------------------------- signals


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM asked the command to stop."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def code(self) -> int:
        return EXIT_SIGNAL_BASE + self.signum


_received: list[int] = []


def note_signal(signum: int) -> None:
    """Remember that ``signum`` asked this process to stop (called by the signal handler)."""
    _received.append(signum)


def interrupted_by() -> int | None:
    """The first stop signal this process received, or None."""
    return _received[0] if _received else None


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` if a stop signal came, even one whose KeyboardInterrupt a
    C extension swallowed (call it where such code returns, e.g. after loading a model)."""
    if _received:
        raise Interrupted(_received[0])
