"""How a `kreview` command ends on a known error: one plain line on stderr and an exit code.

1  a stage failed (the ledger holds the error), or a check found problems
2  configuration or usage error
3  the warehouse is busy (another writer, or another scheduler, holds it)
4  the catalog does not exist yet
"""

from __future__ import annotations

import sys

import typer

EXIT_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_MISSING = 1, 2, 3, 4
EXIT_CONFIG = EXIT_USAGE


def error_line(message: str) -> None:
    """``kreview: <message>`` on stderr. A plain write, not rich: the message stays one line
    whatever the terminal's width."""
    sys.stderr.write(f"kreview: {message}\n")


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``message`` as the one error line; the exit to raise: ``raise fail(...)``."""
    error_line(message)
    return typer.Exit(code)
