"""Normalization over Polars, and the public ways in.

Three ways in, one set of steps:

- ``normalize_expr`` -- one Polars expression (every step on every row);
- ``normalize_frame`` -- the fast path over a frame: the same step expressions, but a step with
  a mask runs only on rows that contain it (NFKC matters for 0.04% of real reviews), plus the
  feature columns;
- ``normalize_text_reference`` / ``features_reference`` -- per-row Python (``re`` with
  backreferences, loops, ``unicodedata``): the benchmark baseline and the tests' oracle.
"""

from __future__ import annotations

from typing import TypeVar

import polars as pl

from etl.normalize.features import _EMOJI_MASK, _RATING_MASK, _feature_exprs, _hangul_only
from etl.normalize.steps import (
    _STEPS,
    _check_max_chars,
    _col,
    _cut,
    _limit_expr,
    _reference_cut,
    _reference_full,
)

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
_TMP = "__kreview_norm"  # temporary columns of normalize_frame start with this


def normalize_expr(col: str | pl.Expr, *, max_chars: int | None = None) -> pl.Expr:
    """``text_norm`` for a column of raw texts (null stays null), as one expression.

    Cut to ``max_chars`` characters and never longer than the raw text. Every step runs on
    every row here; ``normalize_frame`` gives the same result faster on large frames."""
    _check_max_chars(max_chars)
    raw = _col(col)
    full = raw
    for step in _STEPS.values():
        full = step.polars(full)
    return _cut(full, _limit_expr(raw, max_chars))


def _only(hit: pl.Expr, e: pl.Expr) -> pl.Expr:
    # Rows outside the mask become null *and* "" behind the null: Polars string kernels also
    # run over the values behind a null, while list kernels skip nulls but not empty lists.
    return pl.when(hit).then(pl.when(hit).then(e).otherwise(pl.lit("")))


def normalize_frame(
    df: FrameT, text_col: str = "text_raw", *, max_chars: int | None = None
) -> FrameT:
    """Adds ``text_norm``, ``truncated`` and ``FEATURE_COLUMNS`` (same frame type back).

    The fast path: the text goes through the steps as a temporary column, and a step with a
    mask runs only on the rows that match it (the others pass through unchanged)."""
    _check_max_chars(max_chars)
    text, flag = f"{_TMP}_text", f"{_TMP}_flag"
    work, hit = pl.col(text), pl.col(flag)
    source: pl.Expr | pl.Series = pl.col(text_col)
    if isinstance(df, pl.DataFrame) and df.get_column(text_col).n_chunks() > 1:
        # replace_many builds its automaton once per chunk (~1 ms for the NFKC table); frames
        # read from CSV or many Parquet row groups come in dozens of chunks.
        source = df.get_column(text_col).rechunk()
    out = df.with_columns(source.alias(text))
    for step in _STEPS.values():
        if step.mask is None:
            out = out.with_columns(step.polars(work).alias(text))
            continue
        out = out.with_columns(work.str.contains(step.mask, literal=step.literal).alias(flag))
        changed = step.polars(_only(hit, work))
        out = out.with_columns(pl.when(hit).then(changed).otherwise(work).alias(text))
    raw, norm = pl.col(text_col), pl.col("text_norm")
    limit = _limit_expr(raw, max_chars)
    digits, cut = f"{_TMP}_digits", pl.col("truncated")
    out = out.with_columns(
        work.alias("text_norm"),  # placeholder, so the new columns come in the usual order
        (work.str.len_chars() > limit).alias("truncated"),
        raw.str.contains(_EMOJI_MASK).alias(flag),
        work.str.contains(_RATING_MASK).alias(digits),  # text_norm is a prefix of work
    )
    out = out.with_columns(
        pl.when(cut).then(_cut(_only(cut, work), limit)).otherwise(work).alias("text_norm")
    )
    out = out.with_columns(
        _only(pl.col(digits), norm).alias(digits), _hangul_only(norm).alias(text)
    )
    feats = _feature_exprs(
        raw,
        norm,
        rating_src=pl.col(digits),
        raw_emoji=_only(hit, raw),
        norm_emoji=_only(hit, norm),
        hangul_only=work,
    )
    return out.with_columns(feats).drop(text, flag, digits)


def normalize_text(s: str, *, max_chars: int | None = None) -> str:
    """One string through the same Polars expressions (one source of truth)."""
    frame = pl.DataFrame({"t": [s]}, schema={"t": pl.Utf8})
    return frame.select(normalize_expr("t", max_chars=max_chars)).item()


def normalize_text_reference(s: str, *, max_chars: int | None = None) -> str:
    """The same rules in plain Python, one string at a time: the benchmark baseline and the
    tests' oracle. Equals ``normalize_text`` on every input (of Unicode 14 characters)."""
    _check_max_chars(max_chars)
    return _reference_cut(s, _reference_full(s), max_chars)[0]
