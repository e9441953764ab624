"""`make demo`: one full run of the pipeline, offline, on the embedded default.

It grows with the pipeline: today it prepares a warehouse under ./warehouse and reports its state.
"""

from __future__ import annotations

import os
import subprocess
import sys

from etl.replay import DEMO_TITLES, demo_env, start_replay


def _kreview(*args: str, env: dict[str, str] | None = None) -> None:
    cmd = [sys.executable, "-m", "jobs.cli", *args]
    print("$ kreview " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})})


def main() -> None:
    _kreview("init")
    # The scrapers crawl a local replay of both sites (synthetic reviews), so the demo is offline.
    with start_replay() as site:
        _kreview("scrape", "--titles", str(DEMO_TITLES), env=demo_env(site))
    _kreview("status")


if __name__ == "__main__":
    main()
