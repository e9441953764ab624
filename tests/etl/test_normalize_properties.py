"""Properties of normalization over arbitrary Unicode and Korean-like text (hypothesis).

Texts go through in batches (one frame per example) to keep the file fast; set
KREVIEW_HYPOTHESIS_EXAMPLES to search harder (e.g. 2000)."""

from __future__ import annotations

import os
import re

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.normalize import (
    FEATURE_COLUMNS,
    features_reference,
    normalize_expr,
    normalize_frame,
)
from etl.normalize.steps import _STEPS

OUT_COLUMNS = ["text_norm", "truncated", *FEATURE_COLUMNS]
SETTINGS = settings(
    max_examples=int(os.environ.get("KREVIEW_HYPOTHESIS_EXAMPLES", "60")), deadline=None
)

# Pieces that trigger the rules and their interactions (and the Unicode traps).
PIECES = [
    *"ㅋㅎㅠㅜㄷㅡㄳㅇ^_-.…!?~;♡★☆/&<>b점별개 \n",
    *["😬", "❤", "\ufe0f", "\u200d", "👍", "🏽", "👨", "👩", "👧", "🇰", "🇷", "⭐", "\u20e3"],
    *["amp;", "lt;", "gt;", "#39;", "br/", "http://", "www.", "x.kr", "만점에", "도 아깝", "지 않"],
    *["\u200b", "\u00ad", "\u3000", "\u3164", "\uffbb", "\uffc2", "\u110f", "\u1161", "\u11a8"],
    *["ǖ", "\u0328", "\u0301", "\u0338", "＆", "ｌｔ；", "１", "㎏", "ﷺ", "\ue000", "\x07"],
]
syllable = st.integers(0xAC00, 0xD7A3).map(chr)
glued = st.sampled_from(["앜", "엌", "킄", "앟", "좋", "헐"])
digit = st.sampled_from("0123456789")
korean_like = st.lists(st.one_of(st.sampled_from(PIECES), syllable, glued, digit), max_size=24).map(
    "".join
)
# Characters assigned in this Python's Unicode (14): Polars' newer NFKC tables differ beyond it.
assigned = st.text(st.characters(exclude_categories=("Cs", "Cn")), max_size=24)
texts = st.one_of(korean_like, assigned)
max_chars = st.one_of(st.none(), st.integers(1, 30))


def frame(texts: list[str], limit: int | None) -> list[dict]:
    df = pl.DataFrame({"text_raw": texts}, schema={"text_raw": pl.Utf8})
    return normalize_frame(df, max_chars=limit).select(OUT_COLUMNS).to_dicts()


def has_syllable(s: str) -> bool:
    return any("가" <= ch <= "힣" for ch in s)


@SETTINGS
@given(st.lists(texts, min_size=1, max_size=16), max_chars)
def test_properties(batch: list[str], limit: int | None) -> None:
    rows = frame(batch, limit)
    again = frame([r["text_norm"] for r in rows], limit)
    for raw, row, twice in zip(batch, rows, again, strict=True):
        norm = row["text_norm"]
        assert row == features_reference(raw, max_chars=limit), raw  # Polars == reference
        assert twice["text_norm"] == norm, raw  # idempotent
        assert len(norm) <= len(raw), raw  # never grows
        assert len(norm) <= (limit or len(raw))
        if has_syllable(raw):
            assert norm, raw  # never empties Korean text


@SETTINGS
@given(st.lists(texts, min_size=1, max_size=16), max_chars)
def test_expression_path_equals_frame_path(batch: list[str], limit: int | None) -> None:
    df = pl.DataFrame({"text_raw": batch})
    by_expr = df.select(normalize_expr("text_raw", max_chars=limit))["text_raw"].to_list()
    assert by_expr == [r["text_norm"] for r in frame(batch, limit)]


@SETTINGS
@given(st.lists(st.text(max_size=24), min_size=1, max_size=16))
def test_any_unicode_never_raises_or_grows(batch: list[str]) -> None:
    """Any code point at all, unassigned ones included (Polars path only)."""
    rows = frame(batch, None)
    again = frame([r["text_norm"] for r in rows], None)
    for raw, row, twice in zip(batch, rows, again, strict=True):
        assert len(row["text_norm"]) <= len(raw)
        assert twice["text_norm"] == row["text_norm"]


@SETTINGS
@given(texts)
def test_masked_steps_leave_unmatched_text_alone(text: str) -> None:
    """normalize_frame skips a step on rows without its mask: that must change nothing."""
    for name, step in _STEPS.items():
        if step.mask is None:
            continue
        hit = step.mask in text if step.literal else re.search(step.mask, text)
        if not hit:
            assert step.python(text) == text, name
