from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.lock import WarehouseLocked, writer_lock
from core.warehouse import Warehouse
from jobs.config import AppConfig
from tests.jobs.conftest import lock_is_held


def _hold(lock: Path, seconds: float = 600) -> subprocess.Popen[str]:
    # Every caller kills the holder when done; the hold only has to outlast the CLI
    # subprocesses it races, whose start (imports) took over 30 s on a loaded machine.
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from core.lock import writer_lock
        with writer_lock(Path({str(lock)!r}), "run", "run-123"):
            print("held", flush=True)
            time.sleep({seconds})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_is_refused_and_told_who_holds_it(tmp_path: Path) -> None:
    lock = tmp_path / ".kreview.lock"
    proc = _hold(lock)
    try:
        assert lock_is_held(lock)
        with pytest.raises(WarehouseLocked) as info, writer_lock(lock, "clean"):
            pass
        msg = str(info.value)
        assert f"pid {proc.pid}" in msg and "run-123" in msg and "'kreview run'" in msg
    finally:
        proc.kill()
        proc.wait()


def test_lock_freed_when_holder_is_killed(tmp_path: Path) -> None:
    lock = tmp_path / ".kreview.lock"
    proc = _hold(lock)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not lock_is_held(lock)
    with writer_lock(lock, "clean") as holder:
        assert holder["pid"] == os.getpid()


def test_lock_released_after_block(tmp_path: Path) -> None:
    lock = tmp_path / ".kreview.lock"
    with writer_lock(lock, "a"):
        pass
    assert not lock_is_held(lock)
    with writer_lock(lock, "b") as holder:
        assert holder["command"] == "b"


def test_cli_second_writer_exits_3_and_status_still_works(cfg: AppConfig, tmp_path: Path) -> None:
    wh = Warehouse(cfg.warehouse.root).ensure()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    env["KREVIEW_WAREHOUSE__ROOT"] = str(wh.root)
    subprocess.run(
        [sys.executable, "-m", "jobs.cli", "init"],
        env=env,
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    proc = _hold(wh.lock_file)
    try:
        writer = subprocess.run(
            [sys.executable, "-m", "jobs.cli", "init"],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert writer.returncode == 3
        assert "busy" in writer.stderr and str(proc.pid) in writer.stderr
        reader = subprocess.run(
            [sys.executable, "-m", "jobs.cli", "status"],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert reader.returncode == 0, reader.stderr
        assert "schema version" in reader.stdout
    finally:
        proc.kill()
        proc.wait()
