"""The platform every stage stands on: the warehouse layout, the DuckDB catalog and its
migrations, the run ledger, the writer lock, SQL files, logging, atomic writes, retries and
the frozen-config base.

It imports nothing from ``etl``, ``models`` or ``jobs``; ``lint-imports`` (pyproject.toml)
keeps it that way.
"""
