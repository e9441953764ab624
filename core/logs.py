"""Logging: JSON lines to ``<warehouse>/logs/kreview.jsonl`` (with run id and stage), and
short human lines on stderr.

The file is optional: where ``logs/`` cannot be written (a read-only warehouse) logging falls
back to stderr alone, and a read-only command (``create=False``) never creates ``logs/``; it
appends to the file only where the folder already exists, and creates the file only when it has
a record to write (a command that logs nothing leaves the folder as it found it). A record
logged with ``extra={"file_only": True}`` goes to the file and not to stderr (the CLI's error
line has already said it there)."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_STD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def _not_file_only(record: logging.LogRecord) -> bool:
    return not getattr(record, "file_only", False)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stage = getattr(record, "stage", None)
        prefix = f"[{stage}] " if stage else ""
        return f"{record.levelname.lower()}: {prefix}{record.getMessage()}"


_log_file: Path | None = None


def log_file() -> Path | None:
    """The JSON-lines file the ``kreview`` logger writes to now, if any."""
    return _log_file


def setup_logging(
    log_dir: Path | None,
    level: int = logging.INFO,
    console: bool = True,
    *,
    create: bool = True,
) -> Path | None:
    """Log to stderr (warnings and up) and to ``log_dir/kreview.jsonl``; returns that file, or
    None where there is none: no ``log_dir``, ``create`` is False and the folder does not
    exist, or it cannot be written (read-only mount, no permission)."""
    global _log_file
    root = logging.getLogger("kreview")
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.propagate = False
    if console:
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(logging.WARNING)
        err.setFormatter(ConsoleFormatter())
        err.addFilter(_not_file_only)
        root.addHandler(err)
    _log_file = None
    if log_dir is None or (not create and not log_dir.is_dir()):
        return None
    path = log_dir / "kreview.jsonl"
    try:
        if create:
            log_dir.mkdir(parents=True, exist_ok=True)
        if create or path.exists():
            fh = logging.FileHandler(path, encoding="utf-8")  # opening it probes writability
        elif os.access(log_dir, os.W_OK):
            # A reader starts no log (one rotated away, or never written): the file is opened
            # only when a record is written, so a command that logs nothing creates nothing.
            fh = logging.FileHandler(path, encoding="utf-8", delay=True)
        else:
            return None
    except OSError:
        return None  # read-only or not ours: stderr only
    fh.setFormatter(JsonLinesFormatter())
    root.addHandler(fh)
    _log_file = path
    return _log_file


def stage_logger(run_id: str, stage: str) -> logging.LoggerAdapter[logging.Logger]:
    return logging.LoggerAdapter(
        logging.getLogger(f"kreview.{stage}"), {"run_id": run_id, "stage": stage}
    )
