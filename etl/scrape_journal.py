"""The scrape stage's journal: each title's outcome, written as the title finishes.

A scrape holds its per-title rows (``scrape_titles`` and quarantine) until the end, where they
commit in one transaction; its reviews are already in raw by then, one Parquet part per title.
A scrape killed mid-way would lose the rows and, with them, the knowledge of which titles it
finished. So each finished title's rows are also appended here, one fsync'd JSON line per
title, to ``<warehouse>/journal/scrape-<run_id>.jsonl``. The next scrape imports the journals
of runs that died (their rows land in the catalog under the dead run's id) and skips the
titles they finished recently. A run that commits deletes its own journal.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

PREFIX, SUFFIX = "scrape-", ".jsonl"


def journal_path(folder: Path, run_id: str) -> Path:
    return folder / f"{PREFIX}{run_id}{SUFFIX}"


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$dt"}:
        return datetime.fromisoformat(value["$dt"])
    return value


def append(path: Path, title_row: dict[str, Any], quarantine: list[dict[str, Any]]) -> None:
    """Add one finished title; durable when this returns (a torn last line is ignored)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(
        {
            "title": {k: _encode(v) for k, v in title_row.items()},
            "quarantine": [{k: _encode(v) for k, v in q.items()} for q in quarantine],
        },
        ensure_ascii=False,
    )
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


@dataclass(frozen=True)
class Journal:
    path: Path
    run_id: str
    titles: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]


def read(path: Path) -> Journal:
    """A journal's complete lines (a line cut by the crash is dropped: its title is redone)."""
    titles: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        titles.append({k: _decode(v) for k, v in entry["title"].items()})
        quarantine += [{k: _decode(v) for k, v in q.items()} for q in entry["quarantine"]]
    run_id = path.name[len(PREFIX) : -len(SUFFIX)]
    return Journal(path, run_id, titles, quarantine)


def orphans(folder: Path, current_run: str) -> list[Journal]:
    """Journals left by other runs (under the writer lock, only dead runs leave one)."""
    if not folder.is_dir():
        return []
    return [
        read(p)
        for p in sorted(folder.glob(f"{PREFIX}*{SUFFIX}"))
        if p != journal_path(folder, current_run)
    ]
