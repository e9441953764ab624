"""Text normalization of Korean reviews: the pure core of the clean stage, which models reuse
to read texts the way the warehouse stores them.

Split by concern, so that a rule is read next to its code and the generated tables stay out of
the way; each module imports only those above it:

- ``rules``: the rule table (``RULES``), every rule with an example and why, and why the steps
  run in their order;
- ``chars``: code-point sets and regex classes (emoji, Hangul, jamo, spaces, invisible
  characters), the NFKC shield tables and the entity table;
- ``cleanup`` (steps 1-7: drop, NFKC, entities, markup, spaces) and ``runs`` (steps 8-10:
  collapse laughs, repeats, emoji runs): each step's Polars version next to its plain-Python
  reference;
- ``steps``: the registry of the steps in rule order with their masks, running them, the cut;
- ``features``: ``FEATURE_COLUMNS`` as Polars expressions and as ``features_reference``;
- ``frame``: ``normalize_expr``, ``normalize_frame``, ``normalize_text`` and
  ``normalize_text_reference``.

Import from the package (``from etl.normalize import normalize_frame``): models may take only
``etl.normalize`` from etl (import-linter, pyproject.toml).
"""

from __future__ import annotations

from etl.normalize.features import FEATURE_COLUMNS, feature_exprs, features_reference
from etl.normalize.frame import (
    normalize_expr,
    normalize_frame,
    normalize_text,
    normalize_text_reference,
)
from etl.normalize.rules import RULES, STEPS, Rule

__all__ = [
    "FEATURE_COLUMNS",
    "RULES",
    "STEPS",
    "Rule",
    "feature_exprs",
    "features_reference",
    "normalize_expr",
    "normalize_frame",
    "normalize_text",
    "normalize_text_reference",
]
