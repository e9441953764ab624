"""Snapshot folders (exports, reports): pruning removes only what kreview made and marked,
never the snapshot just written, and leaves `latest` pointing at a whole snapshot. Issue 21:
`export --out DIR` deleted a user's folders (and its own new export) in DIR."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.ids import sortable_id
from etl import export
from etl.snapshots import (
    EXPORT,
    LATEST,
    MARKER,
    REPORT,
    RUN_ID,
    mark_snapshot,
    point_latest,
    prune,
    snapshot_kind,
)
from jobs.config import AppConfig
from tests.etl import warehouse_fixture as fx

REPO = Path(__file__).resolve().parents[2]

# Folders a user keeps beside the snapshots, several sorting after every run id: name -> a file
# inside it (the test checks that each survives with its contents).
FOREIGN = {
    "2019-archive": "photo.jpg",
    "2020-archive": "tax.pdf",
    "Desktop": "todo.txt",
    "zzz": "last.txt",
    "20991231T000000Z-foreign": "a.txt",  # looks like a run id, is not one
    "20991231T235959Z-999fff": "mine.txt",  # a run id's name, no marker, no manifest
    "20991231T235959Z-998aaa": "_manifest.json",  # a run id's name, not a kreview manifest
}


def _foreign(out: Path) -> None:
    for name, file in FOREIGN.items():
        (out / name).mkdir(parents=True)
        (out / name / file).write_text(f"user data in {name}")
    (out / "notes.txt").write_text("a file beside them")


def _assert_foreign_intact(out: Path) -> None:
    for name, file in FOREIGN.items():
        assert (out / name / file).read_text() == f"user data in {name}", name
    assert (out / "notes.txt").read_text() == "a file beside them"


def _snapshot(out: Path, run_id: str, kind: str = EXPORT, *, marked: bool = True) -> Path:
    folder = out / run_id
    folder.mkdir(parents=True)
    (folder / "data.parquet").write_bytes(b"x")
    if marked:
        mark_snapshot(folder, kind, run_id)
    return folder


def _ids(n: int, day: int = 1) -> list[str]:
    return [f"202611{day:02d}T0300{i:02d}Z-{i:03d}abc" for i in range(n)]


def test_run_id_pattern_matches_every_run_id_kreview_makes() -> None:
    for _ in range(50):
        assert RUN_ID.fullmatch(sortable_id())
    assert RUN_ID.fullmatch("20261123T030000Z-1a2b3c")  # before b89bf40: six random hex
    for name in ("20991231T000000Z-foreign", "zzz", "2019-archive", "20261123T030000Z-123ABC"):
        assert not RUN_ID.fullmatch(name), name


def test_prune_removes_only_marked_snapshots_and_names_what_it_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    _foreign(out)
    snaps = [_snapshot(out, i) for i in _ids(4)]
    point_latest(out, snaps[-1])
    with caplog.at_level(logging.WARNING, logger="kreview.snapshots"):
        gone = prune(out, 2, EXPORT, snaps[-1])
    assert gone == snaps[:2]
    assert [p.exists() for p in snaps] == [False, False, True, True]
    _assert_foreign_intact(out)
    assert sorted(p.name for p in gone.left_alone) == sorted(FOREIGN)
    assert (out / LATEST).resolve() == snaps[-1].resolve()
    [warning] = [r for r in caplog.records if r.name == "kreview.snapshots"]
    assert f"left {len(FOREIGN)} folder(s) alone" in warning.getMessage()
    for name in FOREIGN:
        assert name in warning.getMessage()


def test_prune_never_removes_the_new_snapshot_nor_latest(tmp_path: Path) -> None:
    # The clock went back: the snapshot just written sorts before older ones.
    out = tmp_path / "out"
    older = [_snapshot(out, i) for i in _ids(3, day=20)]
    new = _snapshot(out, _ids(1, day=1)[0])
    point_latest(out, new)
    gone = prune(out, 1, EXPORT, new)
    assert gone == older[:2]
    assert new.exists() and older[2].exists()
    assert (out / LATEST).resolve() == new.resolve()
    # `latest` names another snapshot than the one written (a rebuilt older report)
    point_latest(out, older[2])
    assert prune(out, 1, EXPORT, new) == []
    assert (out / LATEST).resolve() == older[2].resolve() and new.exists()


def test_prune_keeps_to_its_kind_and_to_valid_markers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    exports = [_snapshot(out, i, EXPORT) for i in _ids(3)]
    reports = [_snapshot(out, i, REPORT) for i in _ids(3, day=2)]
    renamed = out / "20261103T030000Z-000fff"  # a marked snapshot copied to another run id
    exports[0].rename(renamed)
    assert snapshot_kind(renamed) is None
    (exports[1] / MARKER).write_text("not json")
    assert snapshot_kind(exports[1]) is None
    gone = prune(out, 1, REPORT, reports[-1])
    assert gone == reports[:2]
    assert exports[1].exists() and exports[2].exists() and renamed.exists()
    assert {p.name for p in gone.left_alone} == {renamed.name, exports[1].name}


def test_unmarked_snapshots_of_older_versions(tmp_path: Path) -> None:
    out = tmp_path / "out"
    a, b, c = _ids(3)
    old_export = _snapshot(out, a, marked=False)
    (old_export / "_manifest.json").write_text(json.dumps({"run_id": a, "datasets": {}}))
    old_report = _snapshot(out, b, marked=False)
    head = f'<nav><span class="muted">kreview report · run {b} · built 2026-11-01</span></nav>'
    (old_report / "index.html").write_text(f"<html>{head}</html>", encoding="utf-8")
    other = _snapshot(out, c, marked=False)  # a manifest of another run: copied, not made here
    (other / "_manifest.json").write_text(json.dumps({"run_id": a, "datasets": {}}))
    assert [snapshot_kind(p) for p in (old_export, old_report, other)] == [EXPORT, REPORT, None]
    new = _snapshot(out, _ids(1, day=9)[0])
    assert prune(out, 1, EXPORT, new) == [old_export]
    assert old_report.exists() and other.exists()


@pytest.fixture
def wh(cfg: AppConfig):
    return fx.build(cfg.warehouse.root)


def kreview(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    full.update(KREVIEW_WAREHOUSE__ROOT=str(root), PYTHONPATH=str(REPO), **env)
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", "-q", *args],
        env=full,
        capture_output=True,
        text=True,
        check=False,
        cwd=root.parent,
        timeout=300,
    )


@pytest.mark.slow
def test_export_out_dir_with_a_users_folders(wh, tmp_path: Path) -> None:
    """The issue's case, through the CLI: three exports into a folder of the user's, keep 2."""
    out = tmp_path / "home"
    _foreign(out)
    made = []
    for _ in range(3):
        proc = kreview(wh.root, "export", "--out", str(out), KREVIEW_EXPORT__KEEP="2")
        assert proc.returncode == 0, proc.stderr
        made.append((out / LATEST).resolve())
        assert made[-1].is_dir() and export.verify_manifest(made[-1]) == []
        assert "prune_left_alone=7" in proc.stdout.replace("\n", "")
        assert "kreview did not make" in proc.stderr and "zzz" in proc.stderr
    assert "pruned=1" in proc.stdout
    _assert_foreign_intact(out)
    assert not made[0].exists() and made[1].exists() and made[2].exists()
    assert (out / LATEST).resolve() == made[2]
    snaps = {p.name for p in out.iterdir() if snapshot_kind(p) == EXPORT}
    assert snaps == {made[1].name, made[2].name}


@pytest.mark.slow
def test_report_out_dir_with_a_users_folders(wh, tmp_path: Path) -> None:
    out = tmp_path / "site"
    _foreign(out)
    made = []
    for _ in range(2):
        proc = kreview(wh.root, "report", "--out", str(out), KREVIEW_REPORT__KEEP="1")
        assert proc.returncode == 0, proc.stderr
        made.append((out / LATEST).resolve())
        assert (made[-1] / "index.html").is_file() and snapshot_kind(made[-1]) == REPORT
        assert "kreview did not make" in proc.stderr
    _assert_foreign_intact(out)
    assert made[0] != made[1] and not made[0].exists()
    assert (out / LATEST).resolve() == made[1]
