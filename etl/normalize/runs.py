"""Steps 8-10 of normalization, what is collapsed: laughs glued to a syllable by the IME, runs
of the same character or emoticon, runs of the same emoji (why in this order:
``etl.normalize.rules``).

Rust regex (Polars) has no backreferences and no lookaround, so "a run of the same character"
is written per character: one alternation of capture groups whose replacement is
``${1}${1}${2}${2}...`` (an unmatched group expands to nothing, so only the alternative that
matched writes anything). Runs of the same emoji are found by cutting the text into tokens
(``extract_all``) and dropping a token equal to the two before it (``list.eval``).

Each step is a pair, side by side: ``_pl_<step>`` (Polars, what the pipeline runs) and
``_py_<step>`` (the plain-Python reference; see ``etl.normalize.steps``).
"""

from __future__ import annotations

import re

import polars as pl

from etl.normalize.chars import _EMOJI_REPEATABLE, _MOD, _cls

# --------------------------------------------------------------------------------------------
# 8. jamo_split
# IME gluing: a syllable whose final is ㅋ/ㅎ right before the same jamo loses that final.
_JONG_INDEX = {"ㅋ": 24, "ㅎ": 27}
# Stems that really end in ㅎ/ㅋ and are often followed by ㅎㅎ/ㅋㅋ: never split.
_SPLIT_EXCEPTIONS = frozenset("좋놓넣낳닿쌓찧빻땋렇떻랗갛얗맣녘")


def _split_table() -> dict[str, str]:
    table = {}
    for jamo, t in _JONG_INDEX.items():
        for lv in range(19 * 21):
            glued = chr(0xAC00 + lv * 28 + t)
            if glued not in _SPLIT_EXCEPTIONS:
                table[glued + jamo] = chr(0xAC00 + lv * 28) + jamo
    return table


JAMO_SPLIT = _split_table()


def _pl_jamo_split(e: pl.Expr) -> pl.Expr:
    return e.str.replace_many(JAMO_SPLIT)


def _py_jamo_split(s: str) -> str:
    out = list(s)
    for i in range(len(s) - 1):
        code, nxt = ord(s[i]) - 0xAC00, s[i + 1]
        glued = 0 <= code < 11172 and nxt in _JONG_INDEX and code % 28 == _JONG_INDEX[nxt]
        if glued and s[i] not in _SPLIT_EXCEPTIONS:
            out[i] = chr(0xAC00 + code - code % 28)
    return "".join(out)


# --------------------------------------------------------------------------------------------
# 9. repeats
# Repeats. Each alternative captures what it keeps; the replacement writes every group (twice
# for "keep two", once for "keep one"), and only the group of the matching alternative is set.
_REPEAT_ALTS: tuple[tuple[str, int], ...] = (
    (r"(\^)(?:[_.\-]?\^)+", 2),  # ^^ ^_^ ^-^ ^.^ ^^^ -> ^^
    ("(ㅠ)ㅠ*ㅜ[ㅠㅜ]*", 2),  # mixed cry starting with ㅠ -> ㅠㅠ
    ("ㅜ+(ㅠ)[ㅠㅜ]*", 2),  # mixed cry starting with ㅜ -> ㅠㅠ
    ("(ㅠ)ㅠ{2,}", 2),
    ("(ㅜ)ㅜ{2,}", 2),
    ("(ㅋ)ㅋ{2,}", 2),
    ("(ㅎ)ㅎ{2,}", 2),
    ("(ㄷ)ㄷ{2,}", 2),
    ("(ㅡ)ㅡ{2,}", 2),
    ("(!)!{2,}", 2),
    (r"(\?)\?{2,}", 2),
    ("(~)~{2,}", 2),
    ("(;);{2,}", 2),
    ("(♡)♡{2,}", 2),
    (r"(\.\.\.)\.+", 1),  # ....+ -> ...
    ("(…)…+", 1),
)
_REPEATS = "|".join(alt for alt, _ in _REPEAT_ALTS)
_REPEATS_TO = "".join(f"${{{i}}}" * n for i, (_, n) in enumerate(_REPEAT_ALTS, 1))
_REPEAT_CHARS = "!?~;ㄷㅡㅋㅎ♡"  # the simple "run of one character" rules, for the reference
_RX_SMILE = re.compile(r"\^(?:[_.\-]?\^)+")
_RX_CRY = re.compile("[ㅠㅜ]{2,}")
_RX_RUN = re.compile(f"([{re.escape(_REPEAT_CHARS)}])\\1{{2,}}")
_RX_DOTS = re.compile(r"\.{4,}")
_RX_ELLIPSIS = re.compile("…{2,}")


def _pl_repeats(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(_REPEATS, _REPEATS_TO)


def _cry(m: re.Match[str]) -> str:
    run = m.group(0)
    if "ㅠ" in run and "ㅜ" in run:
        return "ㅠㅠ"
    return run if len(run) == 2 else run[:2]


def _py_repeats(s: str) -> str:
    s = _RX_SMILE.sub("^^", s)
    s = _RX_CRY.sub(_cry, s)
    s = _RX_RUN.sub(r"\1\1", s)
    s = _RX_DOTS.sub("...", s)
    return _RX_ELLIPSIS.sub("…", s)


# --------------------------------------------------------------------------------------------
# 10. emoji_repeats
# Emoji runs: identity of emoji units cannot be written in Rust regex without backreferences (an
# alternation over ~1,400 emoji compiled for seconds), so the text is cut into tokens (an emoji
# with its modifier, or a run of anything else) and a token equal to the two before it is
# dropped. Only emoji tokens can repeat: the other runs are maximal.
_EMOJI_UNIT = f"{_cls(_EMOJI_REPEATABLE)}{_MOD}?"
_EMOJI_TOKENS = f"{_EMOJI_UNIT}|{_cls(_EMOJI_REPEATABLE, negate=True)}+"
_EMOJI_RUN_MASK = f"(?:{_EMOJI_UNIT}){{3,}}"  # no row without it can change
_RX_EMOJI_UNIT = re.compile(_EMOJI_UNIT)


def _pl_emoji_repeats(e: pl.Expr) -> pl.Expr:
    tok = pl.element()
    third = (tok == tok.shift(1)).fill_null(False) & (tok == tok.shift(2)).fill_null(False)
    kept = e.str.extract_all(_EMOJI_TOKENS).list.eval(tok.filter(~third))
    return kept.list.join("")


def _py_emoji_repeats(s: str) -> str:
    out, pos, prev, run = [], 0, None, 0
    for m in _RX_EMOJI_UNIT.finditer(s):
        if m.start() > pos:  # something else between: the run is over
            out.append(s[pos : m.start()])
            prev, run = None, 0
        unit = m.group(0)
        run = run + 1 if unit == prev else 1
        prev, pos = unit, m.end()
        if run <= 2:
            out.append(unit)
    out.append(s[pos:])
    return "".join(out)
