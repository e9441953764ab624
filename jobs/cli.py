"""Entry point of the `kreview` console script.

Known user errors (bad config, busy warehouse, missing catalog) end with one line on stderr and
a documented exit code, never a traceback:

    2  configuration error
    3  the warehouse is busy (another writer holds it)
    4  the catalog does not exist yet
    1  a stage failed (the ledger holds the error)
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import jobs.commands
from jobs.app import app
from jobs.catalog import CatalogBusy, CatalogMissing
from jobs.config import ConfigError
from jobs.lock import WarehouseLocked
from jobs.runner import StageFailed

EXIT_CONFIG, EXIT_BUSY, EXIT_MISSING, EXIT_FAILED = 2, 3, 4, 1

# Every module in jobs/commands attaches its commands to `app` when imported.
for _mod in pkgutil.iter_modules(jobs.commands.__path__):
    importlib.import_module(f"jobs.commands.{_mod.name}")


def _fail(message: str) -> None:
    # Plain write, not rich: the message must stay one line whatever the terminal width.
    sys.stderr.write(f"kreview: {message}\n")


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        _fail(f"config error: {exc}")
        sys.exit(EXIT_CONFIG)
    except (WarehouseLocked, CatalogBusy) as exc:
        _fail(f"{exc}")
        sys.exit(EXIT_BUSY)
    except CatalogMissing as exc:
        _fail(f"{exc}")
        sys.exit(EXIT_MISSING)
    except StageFailed as exc:
        _fail(f"{exc}")
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    main()
