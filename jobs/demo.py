"""`make demo`: one full run of the pipeline, offline, on the embedded default.

It grows with the pipeline: today it prepares a warehouse under ./warehouse and reports its state.
"""

from __future__ import annotations

import subprocess
import sys


def _kreview(*args: str) -> None:
    cmd = [sys.executable, "-m", "jobs.cli", *args]
    print("$ kreview " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True)


def main() -> None:
    _kreview("init")
    _kreview("status")


if __name__ == "__main__":
    main()
