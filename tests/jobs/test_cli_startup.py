"""The CLI starts without the deep-learning stack: `kreview status`, `query`, `--help` ... must
not pay ~1 s for torch (or pandas, 0.4 s); the training, scoring and model commands import it
when they run."""

from __future__ import annotations

import subprocess
import sys


def test_cli_import_leaves_torch_and_pandas_alone() -> None:
    code = (
        "import sys, jobs.cli; "
        "print(','.join(m for m in ('torch', 'transformers', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""
