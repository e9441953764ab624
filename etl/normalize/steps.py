"""The step registry: every step of the rule table (``etl.normalize.rules``), in order, as a
Polars implementation and a plain-Python one with the mask that lets the fast path skip rows;
and what runs the steps and cuts the result, shared by ``frame`` and ``features``.

The steps live in ``cleanup`` (1-7) and ``runs`` (8-10), each Polars version next to its
reference. Reference steps: plain Python, one string, written differently where it matters
(backrefs, loops over characters or tokens, NFKC per stretch instead of placeholders), so that
agreement with the Polars path means something. Shared: the character classes and tables
(``chars``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from etl.normalize.chars import _HALFWIDTH_TO_COMPAT, _NONSTARTER_CPS, _SHIELDED, _cls
from etl.normalize.cleanup import (
    _pl_emoji_joiners,
    _pl_entities,
    _pl_invisible,
    _pl_nfkc,
    _pl_tags,
    _pl_urls,
    _pl_whitespace,
    _py_emoji_joiners,
    _py_entities,
    _py_invisible,
    _py_nfkc,
    _py_tags,
    _py_urls,
    _py_whitespace,
)
from etl.normalize.rules import STEPS
from etl.normalize.runs import (
    _EMOJI_RUN_MASK,
    _pl_emoji_repeats,
    _pl_jamo_split,
    _pl_repeats,
    _py_emoji_repeats,
    _py_jamo_split,
    _py_repeats,
)

# --------------------------------------------------------------------------------------------
# The step registry. A mask is a pattern that every row the step can change contains; the fast
# path (normalize_frame) runs a step only on the rows that match it (NFKC touches 0.04% of real
# reviews). Masks only skip work: tests check a step is the identity on rows without its mask.


@dataclass(frozen=True)
class _Step:
    polars: Callable[[pl.Expr], pl.Expr]
    python: Callable[[str], str]
    mask: str | None = None
    literal: bool = False


def _nfkc_active() -> str:
    """Characters that NFKC (or the jamo mapping after it) may change or compose with a
    neighbour: those with a decomposition, non-starters, second halves of canonical pairs and
    conjoining jamo; shielded characters pass through unchanged, so they do not count."""
    cps = set(_NONSTARTER_CPS)
    for cp in range(0x30000):
        decomposition = unicodedata.decomposition(chr(cp))
        if decomposition:
            cps.add(cp)
            parts = decomposition.split()
            if len(parts) == 2 and not decomposition.startswith("<"):
                cps.add(int(parts[1], 16))
    cps |= {*range(0x1100, 0x1200), *(ord(h) for h in _HALFWIDTH_TO_COMPAT)}
    return _cls(cps - {ord(ch) for ch in _SHIELDED})


_STEPS: dict[str, _Step] = {
    "invisible": _Step(_pl_invisible, _py_invisible),
    "emoji_joiners": _Step(_pl_emoji_joiners, _py_emoji_joiners, "\u200d", literal=True),
    "nfkc": _Step(_pl_nfkc, _py_nfkc, _nfkc_active()),
    "entities": _Step(_pl_entities, _py_entities, "[&<>]"),
    "tags": _Step(_pl_tags, _py_tags),
    "urls": _Step(_pl_urls, _py_urls),
    "whitespace": _Step(_pl_whitespace, _py_whitespace),
    "jamo_split": _Step(_pl_jamo_split, _py_jamo_split, "[ㅋㅎ]"),
    "repeats": _Step(_pl_repeats, _py_repeats),
    "emoji_repeats": _Step(_pl_emoji_repeats, _py_emoji_repeats, _EMOJI_RUN_MASK),
}
assert tuple(_STEPS) == STEPS, "rule table and step registry disagree"

# --------------------------------------------------------------------------------------------
# Running the steps, then the cut to max_chars and to the raw length (``etl.normalize.rules``).


def _col(col: str | pl.Expr) -> pl.Expr:
    return pl.col(col) if isinstance(col, str) else col


def _check_max_chars(max_chars: int | None) -> None:
    if max_chars is not None and max_chars < 1:
        raise ValueError(f"max_chars must be >= 1 or None, got {max_chars}")


def _limit_expr(raw: pl.Expr, max_chars: int | None) -> pl.Expr:
    raw_len = raw.str.len_chars()
    return raw_len if max_chars is None else pl.min_horizontal(raw_len, pl.lit(max_chars))


def _cut(full: pl.Expr, limit: pl.Expr) -> pl.Expr:
    # No trailing space or lone ZWJ after a cut: a second run would remove them.
    return full.str.slice(0, limit).str.strip_chars_end(" \u200d")


def _reference_full(s: str) -> str:
    for step in _STEPS.values():
        s = step.python(s)
    return s


def _reference_cut(raw: str, full: str, max_chars: int | None) -> tuple[str, bool]:
    limit = len(raw) if max_chars is None else min(len(raw), max_chars)
    return (full[:limit].rstrip(" \u200d"), True) if len(full) > limit else (full, False)
