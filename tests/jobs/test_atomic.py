"""core.atomic: a failed write leaves the old file and no temp; a folder swap keeps one folder."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.atomic import atomic_path, atomic_write_text, replace_dir


def test_write_replaces_the_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "current.json"
    path.write_text("old", encoding="utf-8")
    atomic_write_text(path, "새 내용", mode=0o640, sync_dir=True)
    assert path.read_text(encoding="utf-8") == "새 내용"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["current.json"]


def test_a_writer_that_fails_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "part-0.parquet"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["part-0.parquet"]


def test_temp_files_are_unique_and_not_parquet(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    with atomic_path(path) as one, atomic_path(path) as two:
        assert one != two
        assert one.suffix == two.suffix == ".tmp" and one.name.startswith(".")
        one.write_bytes(b"1")
        two.write_bytes(b"2")
    assert path.read_bytes() == b"1"  # the last to finish wins, whole


def test_replace_dir_swaps_a_folder_whole(tmp_path: Path) -> None:
    dest, tmp = tmp_path / "ckpt", tmp_path / "ckpt.tmp"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    tmp.mkdir()
    (tmp / "new.txt").write_text("new")
    replace_dir(tmp, dest, sync_dir=True)
    assert [p.name for p in dest.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]
