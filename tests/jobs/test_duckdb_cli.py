"""A real DuckDB 1.x client opens what kreview writes: the pip `duckdb-cli` (pinned in the dev
extra) run as a subprocess on the catalog and on the analysts' read-only copy (issue 21)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from core import catalog
from etl import views as views_stage
from jobs.config import AppConfig
from jobs.runner import Run
from tests.etl import warehouse_fixture as fx


def duckdb_cli() -> str | None:
    """The `duckdb` binary beside this Python (the venv's, from duckdb-cli), else on PATH."""
    beside = Path(sys.executable).parent / "duckdb"
    if beside.is_file():
        return str(beside)
    return shutil.which("duckdb")


CLI = duckdb_cli()
pytestmark = pytest.mark.skipif(
    CLI is None,
    reason="no duckdb CLI binary: `pip install -e '.[dev]'` installs the pinned duckdb-cli",
)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    assert CLI is not None
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def cli_major() -> int:
    return int(cli("--version").stdout.strip().lstrip("v").split(".")[0])


@pytest.fixture
def warehouse(cfg: AppConfig):
    """The fixture warehouse, then a views run (which publishes the read-only copy)."""
    wh = fx.build(cfg.warehouse.root)
    with Run(cfg, "views", show_progress=False) as run:
        run.stage("views", views_stage.run)
    return wh


def test_the_cli_is_a_1x_client() -> None:
    assert cli_major() == 1, cli("--version").stdout


def test_the_1x_cli_reads_the_catalog_and_the_read_copy(warehouse) -> None:
    views = [f.removeprefix("views/")[3:-4] for f in catalog.view_files()]
    counts = "; ".join(f'SELECT count(*) AS "{v}" FROM "{v}"' for v in views)
    for path in (warehouse.catalog, warehouse.read_copy):
        proc = cli("-readonly", "-csv", str(path), "-c", "SELECT count(*) FROM title_scores")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["count_star()", "5"]
        proc = cli("-readonly", "-csv", str(path), "-c", counts)
        assert proc.returncode == 0, proc.stderr  # every view binds in the 1.x client
        assert "Error" not in proc.stderr


@pytest.mark.skipif(
    int(duckdb.__version__.split(".")[0]) < 2, reason="this duckdb writes a 1.x format anyway"
)
def test_the_1x_cli_refuses_the_newest_format(tmp_path: Path) -> None:
    """The control: without the pinned storage version this is what an analyst got."""
    path = tmp_path / "newest.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    proc = cli("-readonly", str(path), "-c", "SELECT count(*) FROM t")
    assert proc.returncode != 0 and "version" in (proc.stderr + proc.stdout)
