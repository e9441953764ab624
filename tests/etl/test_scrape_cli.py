"""`kreview scrape` refuses bad input with one line and exit code 2, before any run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _kreview(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # The caller's environment without its KREVIEW_* settings (they would leak in).
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", "-w", str(tmp_path / "wh"), *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        cwd=tmp_path,
        check=False,
    )


def _titles(tmp_path: Path) -> str:
    path = tmp_path / "t.txt"
    path.write_text("기생충\n", encoding="utf-8")
    return str(path)


def test_missing_titles_file(tmp_path: Path) -> None:
    proc = _kreview(tmp_path, "scrape", "--titles", str(tmp_path / "nope.txt"))
    assert proc.returncode == 2, proc.stderr
    assert "scrape.titles_file: file not found" in proc.stderr
    assert not (tmp_path / "wh" / "kreview.duckdb").exists()  # no run was started


def test_bad_source_and_bounds(tmp_path: Path) -> None:
    assert _kreview(tmp_path, "scrape", "--source", "daum").returncode == 2
    proc = _kreview(
        tmp_path,
        "scrape",
        "--titles",
        _titles(tmp_path),
        "--min-per-title",
        "50",
        "--max-per-title",
        "10",
    )
    assert proc.returncode == 2
    assert "min_per_title must not exceed max_per_title" in proc.stderr


def test_missing_browser(tmp_path: Path) -> None:
    proc = _kreview(
        tmp_path,
        "scrape",
        "--titles",
        _titles(tmp_path),
        KREVIEW_SCRAPE__CHROMIUM_PATH=str(tmp_path / "no"),
    )
    assert proc.returncode == 2, proc.stderr
    assert "scrape.chromium_path: no browser at" in proc.stderr
