"""Data tests declared beside the SQL (``sql/**/schema.toml``), dbt-style.

Each declared test compiles to a query counting offending rows. Identifiers come from our own
schema files and are checked against a strict pattern; values are bound as parameters.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from core.sqlfiles import sql_root
from etl.sources.table import NAMES, SCOPES

SCHEMA_FILES = ("migrations/schema.toml", "views/schema.toml")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
# Value sets a schema names instead of listing (`accepted = "sources"`), so that no schema file
# lists the sites: they come from the source table.
NAMED_SETS: dict[str, tuple[str, ...]] = {"sources": NAMES, "scopes": SCOPES}


@dataclass(frozen=True)
class Column:
    name: str
    meaning: str
    unit: str
    tests: dict[str, Any]


@dataclass(frozen=True)
class Model:
    name: str
    description: str
    columns: tuple[Column, ...]
    unique: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class DataTest:
    model: str
    name: str  # e.g. "not_null(title_id)"
    sql: str  # SELECT count(*) of offending rows
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Failure:
    test: DataTest
    failing_rows: int


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"bad identifier in schema file: {name!r}")
    return f'"{name}"'


def load_models(files: tuple[str, ...] = SCHEMA_FILES, root: Path | None = None) -> list[Model]:
    root = root or sql_root()
    models = []
    for rel in files:
        with (root / rel).open("rb") as fh:
            data = tomllib.load(fh)
        for name, spec in data.items():
            cols = tuple(
                Column(
                    c["name"],
                    c.get("meaning", ""),
                    c.get("unit", ""),
                    {k: v for k, v in c.items() if k not in ("name", "meaning", "unit")},
                )
                for c in spec.get("columns", [])
            )
            unique = tuple(tuple(u) for u in spec.get("unique", []))
            models.append(Model(name, spec.get("description", ""), cols, unique))
    return models


def compile_tests(model: Model) -> list[DataTest]:
    t = _ident(model.name)
    out: list[DataTest] = []
    for cols in model.unique:
        keys = ", ".join(_ident(c) for c in cols)
        out.append(
            DataTest(
                model.name,
                f"unique({', '.join(cols)})",
                f"SELECT count(*) FROM (SELECT {keys} FROM {t} GROUP BY ALL HAVING count(*) > 1)",
            )
        )
    for col in model.columns:
        c = _ident(col.name)
        spec = col.tests
        if spec.get("not_null"):
            out.append(
                DataTest(
                    model.name,
                    f"not_null({col.name})",
                    f"SELECT count(*) FROM {t} WHERE {c} IS NULL",
                )
            )
        if "accepted" in spec:
            accepted = spec["accepted"]
            values = NAMED_SETS[accepted] if isinstance(accepted, str) else tuple(accepted)
            marks = ", ".join("?" for _ in values)
            out.append(
                DataTest(
                    model.name,
                    f"accepted({col.name} in {list(values)})",
                    f"SELECT count(*) FROM {t} WHERE {c} IS NOT NULL AND {c} NOT IN ({marks})",
                    values,
                )
            )
        if "range" in spec:
            lo, hi = spec["range"]
            # A small tolerance: float32 storage of e.g. 0.1 + rounding in aggregates.
            out.append(
                DataTest(
                    model.name,
                    f"range({col.name} in [{lo}, {hi}])",
                    f"SELECT count(*) FROM {t} WHERE {c} < ? - 1e-6 OR {c} > ? + 1e-6",
                    (lo, hi),
                )
            )
        if "ref" in spec:
            ref_table, ref_col = spec["ref"].split(".")
            out.append(
                DataTest(
                    model.name,
                    f"ref({col.name} -> {spec['ref']})",
                    f"SELECT count(*) FROM {t} WHERE {c} IS NOT NULL AND {c} NOT IN "
                    f"(SELECT {_ident(ref_col)} FROM {_ident(ref_table)})",
                )
            )
    return out


def existing_relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    return {r[0] for r in rows}


def run_tests(
    con: duckdb.DuckDBPyConnection, models: list[Model] | None = None
) -> tuple[int, list[Failure]]:
    """Run every test of every model that exists in the catalog. Returns (tests run, failures)."""
    models = load_models() if models is None else models
    present = existing_relations(con)
    ran, failures = 0, []
    for model in models:
        if model.name not in present:
            continue
        for test in compile_tests(model):
            ran += 1
            row = con.execute(test.sql, list(test.params)).fetchone()
            bad = int(row[0]) if row else 0
            if bad:
                failures.append(Failure(test, bad))
    return ran, failures
