"""Ad-hoc, read-only SQL for analysts (`kreview query`).

Read-only holds at two levels:

- First, a friendly refusal by statement type (:func:`check_read_only`): one statement, of a
  reading type; an ``EXPLAIN`` (``ANALYZE`` executes what it wraps) only of such a statement.
- Then the engine: the catalog is opened read-only, with ``enable_external_access = false``
  (no file, extension or network access beyond the catalog: ``COPY ... TO``, ``read_csv``,
  ``read_parquet``, ``ATTACH``, ``INSTALL`` all fail) and ``lock_configuration = true`` set
  before the user's SQL runs (``core.catalog.open_reader(sandbox=True)``). A write the first
  check cannot see (a data-modifying CTE inside a SELECT) is refused there.

The warehouse's Parquet files (exports, raw) are not readable through `kreview query`: DuckDB's
``allowed_directories`` / ``allowed_paths`` let a path be written as well as read, which would
reopen the hole. The catalog's views hold the same data as the exports; read the Parquet files
with DuckDB or Polars directly.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

# Statement types that only read. Everything else (INSERT, COPY ... TO, ATTACH, CREATE, SET,
# INSTALL, ...) is refused before it reaches the catalog, with the type named.
READ_ONLY_TYPES = {"SELECT", "EXPLAIN", "PRAGMA", "RELATION"}


class QueryRefused(ValueError):
    """The query cannot run: it does not parse, holds more than one statement, or would
    write. The message is one line for the user."""


class WriteRefused(QueryRefused):
    """The query holds a statement that is not read-only."""


class QueryFailed(RuntimeError):
    """DuckDB refused or failed the user's statement; the message is one line."""


def _explained(sql: str) -> str | None:
    """The statement an ``EXPLAIN [ANALYZE] [(options)]`` wraps; None when ``sql`` does not
    have that shape. Uses DuckDB's own tokenizer, so comments and strings are no trouble."""
    tokens = duckdb.tokenize(sql)
    starts = [pos for pos, _ in tokens] + [len(sql)]
    words = [
        (sql[starts[i] : starts[i + 1]].strip(), kind, starts[i])
        for i, (_, kind) in enumerate(tokens)
        if kind != duckdb.token_type.comment
    ]
    if not words or words[0][0].upper() != "EXPLAIN":
        return None
    i = 1
    if i < len(words) and words[i][0].upper() in ("ANALYZE", "ANALYSE"):
        i += 1
    if i < len(words) and words[i][0].startswith("("):  # EXPLAIN (FORMAT json, ...)
        depth = 0
        while i < len(words):
            text, kind, _ = words[i]
            if kind == duckdb.token_type.operator:
                depth += text.count("(") - text.count(")")
            i += 1
            if depth <= 0:
                break
    return sql[words[i][2] :] if i < len(words) else None


def _statement_types(sql: str) -> list[tuple[str, str]]:
    try:
        stmts = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"cannot parse the query: {one_line(exc)}") from None
    return [(stmt.type.name, stmt.query) for stmt in stmts]


def _refuse_writes(kind: str, query: str) -> None:
    if kind not in READ_ONLY_TYPES:
        raise WriteRefused(
            f"kreview query is read-only: a {kind} statement is refused "
            "(use the stage commands to change the warehouse)"
        )
    if kind == "EXPLAIN":
        inner = _explained(query)
        wrapped = _statement_types(inner) if inner else []
        if len(wrapped) != 1:
            raise WriteRefused("kreview query is read-only: cannot tell what this EXPLAIN wraps")
        _refuse_writes(*wrapped[0])


def check_read_only(sql: str) -> list[str]:
    """The statement of ``sql`` (a list of one) if it only reads; raises
    :class:`WriteRefused` for a writing statement, :class:`QueryRefused` for anything else
    that cannot run (no statement, several, a parser error)."""
    stmts = _statement_types(sql)
    if not stmts:
        raise QueryRefused("the query is empty")
    for kind, query in stmts:
        _refuse_writes(kind, query)
    if len(stmts) > 1:
        raise QueryRefused(f"kreview query runs one statement at a time; this holds {len(stmts)}")
    return [query for _, query in stmts]


def one_line(exc: BaseException) -> str:
    """DuckDB's message on one line: its first line, plus a "Did you mean" hint when there is
    one (the caret drawing of the query is left out)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = lines[:1] + [line for line in lines[1:] if line.startswith("Did you mean")]
    return " ".join(kept)[:500] or type(exc).__name__


def run(con: duckdb.DuckDBPyConnection, statement: str) -> pa.Table:
    """Run one checked statement on a sandboxed reader; its rows as an Arrow table. Raises
    :class:`QueryFailed` (one line) when DuckDB refuses or fails it."""
    try:
        rel = con.sql(statement)
        return rel.to_arrow_table() if rel is not None else pa.table({})
    except duckdb.PermissionException as exc:
        raise QueryFailed(f"kreview query reads only the catalog: {one_line(exc)}") from None
    except duckdb.Error as exc:
        text = one_line(exc)
        if "read-only mode" in text:  # a write hidden where the type check cannot see it
            text = f"kreview query is read-only: {text}"
        raise QueryFailed(text) from None


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= 0:
            return int(value)  # HUGEINT, UHUGEINT and DECIMAL(p, 0) arrive as decimals
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        micros = (value.seconds * 1_000_000) + value.microseconds
        return {"months": 0, "days": value.days, "nanoseconds": micros * 1000}
    if isinstance(value, pa.MonthDayNano):  # INTERVAL
        return {"months": value.months, "days": value.days, "nanoseconds": value.nanoseconds}
    if isinstance(value, bytes | bytearray):
        return value.hex()  # BLOB, BIT
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def json_value(value: Any, typ: pa.DataType) -> Any:
    """A value of an Arrow column of type ``typ`` as plain JSON data: every DuckDB type maps
    to a JSON value (NaN and infinities to null, DECIMAL/HUGEINT to numbers, times to ISO
    text, INTERVAL to {months, days, nanoseconds}, BLOB to hex, MAP to an object)."""
    if value is None:
        return None
    if pa.types.is_map(typ):
        return {str(_scalar(k)): json_value(v, typ.item_type) for k, v in value}
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        return [json_value(v, typ.value_type) for v in value]
    if pa.types.is_struct(typ):
        return {f.name: json_value(value.get(f.name), f.type) for f in typ}
    return _scalar(value)


def json_values(table: pa.Table) -> Iterator[list[Any]]:
    """The table's rows as lists of plain JSON values, in column order (see
    :func:`json_value`)."""
    columns = [
        (f.type, col.to_pylist()) for f, col in zip(table.schema, table.columns, strict=True)
    ]
    for i in range(table.num_rows):
        yield [json_value(values[i], typ) for typ, values in columns]


def json_rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    """The table's rows as dicts of plain JSON values (a repeated column name keeps its last
    column, as DuckDB's Python dicts do)."""
    for values in json_values(table):
        yield dict(zip(table.column_names, values, strict=True))
