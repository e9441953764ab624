"""Entry point of the `kreview` console script.

Every command runs under one top-level handler (``jobs.exits.handle``, wired in as the root
command ``jobs.exits.KreviewGroup``): an expected failure (a ``core.errors.KreviewError``, or a
known exception of a module that raises its own) ends with ``kreview: <what> (<hint>)`` on one
line and its documented exit code, never a traceback; an unexpected one prints one line naming
the file that holds the traceback (``--debug`` or ``KREVIEW_DEBUG=1`` shows it). SIGINT and
SIGTERM both interrupt: the stage rolls back and the run is marked ``interrupted``.
"""

from __future__ import annotations

import importlib
import pkgutil

import jobs.commands
from jobs.app import app
from jobs.exits import install_signal_handlers

# Every module in jobs/commands attaches its commands to `app` when imported.
for _mod in pkgutil.iter_modules(jobs.commands.__path__):
    importlib.import_module(f"jobs.commands.{_mod.name}")


def main() -> None:
    install_signal_handlers()
    app()


if __name__ == "__main__":
    main()
