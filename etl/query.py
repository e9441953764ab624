"""Ad-hoc, read-only SQL for analysts (`kreview query`). Only reading statements pass."""

from __future__ import annotations

import duckdb

# Statement types that only read. Everything else (INSERT, COPY ... TO, ATTACH, CREATE, SET,
# INSTALL, ...) is refused before it reaches the catalog, with the type named.
READ_ONLY_TYPES = {"SELECT", "EXPLAIN", "PRAGMA", "RELATION"}


class WriteRefused(ValueError):
    """The query holds a statement that is not read-only."""


def check_read_only(sql: str) -> list[str]:
    """The statements of ``sql`` if all of them only read; raises :class:`WriteRefused` else."""
    try:
        stmts = duckdb.extract_statements(sql)
    except duckdb.ParserException as exc:
        raise WriteRefused(f"cannot parse the query: {exc}") from None
    if not stmts:
        raise WriteRefused("the query is empty")
    out = []
    for stmt in stmts:
        kind = stmt.type.name
        if kind not in READ_ONLY_TYPES:
            raise WriteRefused(
                f"kreview query is read-only: a {kind} statement is refused "
                "(use the stage commands to change the warehouse)"
            )
        out.append(stmt.query)
    return out
