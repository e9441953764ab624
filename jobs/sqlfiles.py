"""Load the project's SQL files by name. SQL lives in ``sql/`` as ``.sql`` files only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

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


_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


def statements(script: str) -> list[str]:
    """Split one of our own .sql files into statements (``;`` at line end ends a statement).

    Only for files in this repository, which never put ``;`` at a line end inside a string.
    """
    out = []
    for chunk in re.split(r";\s*\n", script.strip().rstrip(";") + "\n"):
        body = "\n".join(
            line for line in chunk.splitlines() if not line.strip().startswith("--")
        ).strip()
        if body:
            out.append(body)
    return out


def run_script(con: Any, relative: str, params: dict[str, Any] | None = None) -> None:
    """Execute ``sql/<relative>`` statement by statement, binding each ``$name`` it uses."""
    params = params or {}
    for stmt in statements(read_sql(relative)):
        names = set(_PARAM.findall(stmt))
        missing = names - params.keys()
        if missing:
            raise KeyError(f"sql/{relative}: no value for ${', $'.join(sorted(missing))}")
        con.execute(stmt, {k: params[k] for k in names} if names else None)
