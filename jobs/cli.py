"""Entry point of the `kreview` console script.

Known user errors (bad config, busy warehouse, missing catalog) end with one line on stderr and
a documented exit code (``jobs.exits``), never a traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import jobs.commands
from core.catalog import CatalogBusy, CatalogMissing
from core.lock import WarehouseLocked
from jobs.app import app
from jobs.config import ConfigError
from jobs.exits import EXIT_BUSY, EXIT_CONFIG, EXIT_FAILED, EXIT_MISSING, error_line
from jobs.runner import StageFailed

# Every module in jobs/commands attaches its commands to `app` when imported.
for _mod in pkgutil.iter_modules(jobs.commands.__path__):
    importlib.import_module(f"jobs.commands.{_mod.name}")


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        error_line(f"config error: {exc}")
        sys.exit(EXIT_CONFIG)
    except (WarehouseLocked, CatalogBusy) as exc:
        error_line(f"{exc}")
        sys.exit(EXIT_BUSY)
    except CatalogMissing as exc:
        error_line(f"{exc}")
        sys.exit(EXIT_MISSING)
    except StageFailed as exc:
        error_line(f"{exc}")
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    main()
