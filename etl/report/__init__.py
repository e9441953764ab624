"""The static HTML report (`kreview report`, and the nightly run's last stage): an index of
titles, a page per title and a run page, built from the SQL views only.

``run`` and ``build_report`` live in ``etl.report.build``; they are loaded on first use, so
that reading the report's config section (``etl.report.config``) costs no Jinja2 or DuckDB.
"""

from typing import Any

__all__ = ["build_report", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from etl.report import build

        return getattr(build, name)
    raise AttributeError(f"module 'etl.report' has no attribute {name!r}")
