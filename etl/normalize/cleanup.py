"""Steps 1-7 of normalization, what is dropped or brought into one form: invisible characters,
stray emoji joiners, NFKC, HTML entities, tags, URLs and whitespace (why in this order:
``etl.normalize.rules``).

Each step is a pair, side by side: ``_pl_<step>`` (Polars, what the pipeline runs) and
``_py_<step>`` (the plain-Python reference; see ``etl.normalize.steps``).
"""

from __future__ import annotations

import re
import unicodedata

import polars as pl

from etl.normalize.chars import (
    _AMP_CHAIN,
    _ANGLE_MARKS,
    _CONJ_TO_COMPAT,
    _E_OR_MOD,
    _HALFWIDTH_TO_COMPAT,
    _INVISIBLE,
    _SHIELD,
    _SHIELDED,
    _SPACE,
    _UNSHIELD,
    EMOJI_CHARS,
    ENTITIES,
    ZWJ,
    _cls,
    _end,
)

# --------------------------------------------------------------------------------------------
# 1. invisible

_INVISIBLE_CLS = _cls(_INVISIBLE)
_RX_INVISIBLE = re.compile(_INVISIBLE_CLS)


def _pl_invisible(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(_INVISIBLE_CLS, "")


def _py_invisible(s: str) -> str:
    return _RX_INVISIBLE.sub("", s)


# --------------------------------------------------------------------------------------------
# 2. emoji_joiners

# Pass A: drop ZWJ runs not preceded by an emoji or modifier (the preceding character is matched
# and written back); collapse the other runs to one ZWJ. Pass B: drop a (now single) ZWJ not
# followed by an emoji (the follower is written back). Two passes, because one match that ate the
# follower would hide it as the predecessor of the next ZWJ.
_ZWJ_PASS_A = f"(^|{_cls([*_E_OR_MOD, ZWJ], negate=True)})\\u200D+|(\\u200D)\\u200D+"
_ZWJ_PASS_B = f"\\u200D({_cls(EMOJI_CHARS, negate=True)}|{_end('rust')})"
_E_OR_MOD_SET = frozenset(chr(cp) for cp in _E_OR_MOD)
_EMOJI_SET = frozenset(chr(cp) for cp in EMOJI_CHARS)


def _pl_emoji_joiners(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(_ZWJ_PASS_A, "${1}${2}").str.replace_all(_ZWJ_PASS_B, "${1}")


def _py_emoji_joiners(s: str) -> str:
    s = re.sub("\u200d+", "\u200d", s)
    out = []
    for i, ch in enumerate(s):
        if ch == "\u200d":
            before = s[i - 1] if i > 0 else ""
            after = s[i + 1] if i + 1 < len(s) else ""
            if before not in _E_OR_MOD_SET or after not in _EMOJI_SET:
                continue
        out.append(ch)
    return "".join(out)


# --------------------------------------------------------------------------------------------
# 3. nfkc

_SHIELDED_SET = frozenset(_SHIELDED) | frozenset(_HALFWIDTH_TO_COMPAT)


def _pl_nfkc(e: pl.Expr) -> pl.Expr:
    e = e.str.replace_many(_SHIELD).str.normalize("NFKC")
    return e.str.replace_many(_UNSHIELD)


def _py_nfkc(s: str) -> str:
    # NFKC each stretch between shielded characters; shielded ones pass through (halfwidth jamo
    # as compatibility jamo). Same result as placeholders: a placeholder blocks composition.
    out, start = [], 0
    for i, ch in enumerate(s):
        if ch in _SHIELDED_SET:
            out.append(unicodedata.normalize("NFKC", s[start:i]))
            out.append(_HALFWIDTH_TO_COMPAT.get(ch, ch))
            start = i + 1
    out.append(unicodedata.normalize("NFKC", s[start:]))
    return "".join(_CONJ_TO_COMPAT.get(ch, ch) for ch in "".join(out))


# --------------------------------------------------------------------------------------------
# 4. entities

_RX_AMP = re.compile(_AMP_CHAIN)
_RX_ENTITY = re.compile(r"&#?[A-Za-z0-9]+;")
_RX_ANGLE_MARKS = re.compile(_ANGLE_MARKS)


def _pl_entities(e: pl.Expr) -> pl.Expr:
    e = e.str.replace_all(_AMP_CHAIN, "&").str.replace_many(ENTITIES)
    return e.str.replace_all(_ANGLE_MARKS, "${1}")


def _py_entities(s: str) -> str:
    s = _RX_AMP.sub("&", s)
    s = _RX_ENTITY.sub(lambda m: ENTITIES.get(m.group(0), m.group(0)), s)
    return _RX_ANGLE_MARKS.sub(r"\1", s)


# --------------------------------------------------------------------------------------------
# 5. tags

# Tags: ASCII only (so Hangul is never deleted), and a chain of unclosed "<x" starts is eaten
# with the tag that closes them, so removing an inner tag never forms a new one ("<a<b>>").
_TAG_BODY = r"[\t\n\x0B\x0C\r\x20-\x3B\x3D\x3F-\x7E]*"
_TAG = rf"</?[A-Za-z]{_TAG_BODY}(?:</?[A-Za-z]{_TAG_BODY})*>"
_RX_TAG = re.compile(_TAG)


def _pl_tags(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(_TAG, " ")


def _py_tags(s: str) -> str:
    return _RX_TAG.sub(" ", s)


# --------------------------------------------------------------------------------------------
# 6. urls

_URL = r"(?:[Hh][Tt][Tt][Pp][Ss]?://|[Ww][Ww][Ww]\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*"
_RX_URL = re.compile(_URL)


def _pl_urls(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(_URL, " ")


def _py_urls(s: str) -> str:
    return _RX_URL.sub(" ", s)


# --------------------------------------------------------------------------------------------
# 7. whitespace

# Any run of spaces that is not already one " " (writing " " over " " costs a copy per word).
_SPACE_FIX = f" {_cls(_SPACE)}+|{_cls(set(_SPACE) - {0x20})}{_cls(_SPACE)}*"
_RX_SPACE = re.compile(f"{_cls(_SPACE)}+")


def _pl_whitespace(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(_SPACE_FIX, " ").str.strip_chars(" ")


def _py_whitespace(s: str) -> str:
    return _RX_SPACE.sub(" ", s).strip(" ")
