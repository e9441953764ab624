"""Load the project's SQL files by name. SQL lives in ``sql/`` as ``.sql`` files only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

_MIGRATION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def sql_root() -> Path:
    # sql/ is installed beside jobs/ (package data of the same distribution, and the repo
    # itself in an editable install). importlib.resources cannot walk a namespace package
    # under setuptools' editable finder, so resolve the folder from this file.
    return Path(__file__).resolve().parent.parent / "sql"


def read_sql(relative: str) -> str:
    """Text of ``sql/<relative>``, e.g. ``read_sql("views/title_scores.sql")``."""
    node = sql_root()
    for part in relative.split("/"):
        node = node / part
    if not node.is_file():
        raise FileNotFoundError(f"no SQL file sql/{relative}")
    return node.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def migrations() -> tuple[Migration, ...]:
    """Every ``sql/migrations/NNNN_name.sql``, in version order; duplicate numbers are a bug."""
    found: dict[int, Migration] = {}
    for entry in (sql_root() / "migrations").iterdir():
        match = _MIGRATION.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations numbered {version:04d}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return tuple(found[v] for v in sorted(found))


def run_script(con: Any, relative: str, params: dict[str, Any] | None = None) -> None:
    """Execute ``sql/<relative>`` statement by statement, binding each ``$name`` it uses.

    DuckDB's own parser splits the script and names each statement's parameters, so a ``;``
    or a ``$`` inside a string or a comment is only text.
    """
    params = params or {}
    for stmt in duckdb.extract_statements(read_sql(relative)):
        names = sorted(stmt.named_parameters)
        missing = [name for name in names if name not in params]
        if missing:
            raise KeyError(f"sql/{relative}: no value for ${', $'.join(missing)}")
        con.execute(stmt.query, {k: params[k] for k in names} if names else None)
