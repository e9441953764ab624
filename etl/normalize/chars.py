"""Character classes and tables shared by the steps and the features: code-point sets (emoji,
Hangul, jamo, spaces, invisible characters), the regex-class builders, the NFKC shield tables
and the HTML entity table.

Unicode version: Polars' NFKC tables are newer than Python 3.11's Unicode 14, while every class
and table here comes from Python's ``unicodedata``. The paths can therefore differ only on the
99 characters unassigned in Unicode 14 that Polars' NFKC maps (U+1CCD6.., U+1E030..; the fast
path's NFKC mask may also skip them), which the parity tests leave out.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import emoji as _emoji

# Character classes. Written with \uXXXX / \UXXXXXXXX escapes, which Rust regex and Python re
# read the same way, so both paths use identical classes (Rust's \p{...}, \s and \d would use
# other Unicode tables than Python's).


def _esc(cp: int) -> str:
    return f"\\u{cp:04X}" if cp <= 0xFFFF else f"\\U{cp:08X}"


def _cls(cps: Iterable[int], negate: bool = False) -> str:
    """A regex character class for a set of code points, as ranges."""
    ranges: list[list[int]] = []
    for cp in sorted(set(cps)):
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(_esc(a) if a == b else f"{_esc(a)}-{_esc(b)}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


def _end(engine: str) -> str:
    # End of text: Rust writes \z; Python 3.11 has only \Z (and its $ also matches before "\n").
    return r"\z" if engine == "rust" else r"\Z"


ZWJ = 0x200D
_VS = [*range(0xFE00, 0xFE10)]
_SKIN = [*range(0x1F3FB, 0x1F400)]
_TAGS = [*range(0xE0020, 0xE0080)]
_RI = [*range(0x1F1E6, 0x1F200)]
_EMOJI_COMPONENTS = {ZWJ, 0x20E3, *_VS, *_SKIN, *_TAGS, *_RI}

# Dropped by "invisible". VS, ZWJ and emoji tag characters are not here: they belong to emoji.
_INVISIBLE = [
    *range(0x00, 0x09), *range(0x0E, 0x20), 0x7F,  # C0 controls (\t \n \v \f \r are spaces)
    *range(0x80, 0x85), *range(0x86, 0xA0),  # C1 controls (U+0085 NEL is a line break)
    0xAD, 0x34F, 0x61C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E,  # soft hyphen, CGJ, fillers
    0x200B, 0x200C, 0x200E, 0x200F, *range(0x202A, 0x202F),  # zero-width, bidi marks
    *range(0x2060, 0x2065), *range(0x2066, 0x2070),  # word joiner, bidi isolates
    0x3164, 0xFEFF, 0xFFA0, *range(0xFFF9, 0xFFFC),  # Hangul fillers, BOM, annotations
    *range(0xE000, 0xF900),  # BMP private use: no shared meaning; our NFKC placeholders
]  # fmt: skip
# Unicode White_Space, spelled out (Python's \s adds U+001C-001F, Rust's does not).
_SPACE = [
    0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
    0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
]  # fmt: skip


def _build_emoji_chars() -> frozenset[int]:
    """Code points that are emoji by the ``emoji`` package and that NFKC leaves alone (so the
    joiner rule, which runs before NFKC, sees the same emoji as the rules after it; ℹ️ -> i)."""
    cps: set[int] = set()
    for seq in _emoji.EMOJI_DATA:
        for ch in seq:
            cp = ord(ch)
            if cp < 0x80 or cp in _EMOJI_COMPONENTS:
                continue
            if unicodedata.normalize("NFKC", ch) == ch:
                cps.add(cp)
    return frozenset(cps)


EMOJI_CHARS = _build_emoji_chars()
# ⭐ runs are ratings, like ★, so they are not collapsed.
_EMOJI_REPEATABLE = sorted(EMOJI_CHARS - {0x2B50})
_E = _cls(EMOJI_CHARS)
_MOD = _cls([0xFE0E, 0xFE0F, *_SKIN])
# What may precede a ZWJ inside a sequence: an emoji or one of its modifiers.
_E_OR_MOD = sorted(EMOJI_CHARS | {*_VS, *_SKIN, *_TAGS, 0x20E3})
# One emoji as a reader sees it: flag pairs, keycaps, or emoji + modifiers (+ZWJ emoji...).
_EMOJI_SEQ = (
    f"{_cls(_RI)}{{1,2}}|[0-9#*]\\uFE0F?\\u20E3"
    f"|{_E}{_MOD}*(?:\\u200D{_E}{_MOD}*)*(?:{_cls(range(0xE0020, 0xE007F))}+\\U000E007F)?"
)

# Hangul syllables, compatibility jamo, conjoining jamo (incl. the old-Hangul extensions).
_HANGUL_CPS = [
    *range(0xAC00, 0xD7A4), *range(0x3131, 0x318F), *range(0x1100, 0x1200),
    *range(0xA960, 0xA980), *range(0xD7B0, 0xD800),
]  # fmt: skip
_HANGUL = _cls(_HANGUL_CPS)

# --------------------------------------------------------------------------------------------
# Jamo and NFKC tables, generated from Python's unicodedata at import (with the classes above
# and below, importing this package takes ~0.2 s).

_COMPAT_JAMO = [cp for cp in range(0x3131, 0x318F) if cp != 0x3164]
# NFKC maps each compatibility jamo to one conjoining jamo; reversed, that maps orphans back.
_CONJ_TO_COMPAT = {unicodedata.normalize("NFKC", chr(cp)): chr(cp) for cp in _COMPAT_JAMO}
_HALFWIDTH_TO_COMPAT = {
    chr(cp): _CONJ_TO_COMPAT[unicodedata.normalize("NFKC", chr(cp))]
    for cp in range(0xFFA1, 0xFFDD)
    if unicodedata.name(chr(cp), "") and unicodedata.normalize("NFKC", chr(cp)) in _CONJ_TO_COMPAT
}
_EXPANDING = [
    cp
    for cp in range(0x30000)  # no decomposition exists above U+2FA1D
    if unicodedata.decomposition(chr(cp)) and len(unicodedata.normalize("NFKC", chr(cp))) > 1
]
_SHIELDED = [chr(cp) for cp in _COMPAT_JAMO + _EXPANDING]
_PLACEHOLDER = {ch: chr(0xE000 + i) for i, ch in enumerate(_SHIELDED)}
assert len(_PLACEHOLDER) < 0xF900 - 0xE000
_SHIELD = {**_PLACEHOLDER, **{h: _PLACEHOLDER[c] for h, c in _HALFWIDTH_TO_COMPAT.items()}}
_UNSHIELD = {p: ch for ch, p in _PLACEHOLDER.items()} | _CONJ_TO_COMPAT

# --------------------------------------------------------------------------------------------
# Entities. Named and the common numeric forms; other numeric entities stay as written.
_AMP_CHAIN = r"&(?:amp;|AMP;|#0*38;|#[xX]0*26;)+"
_ENTITY_GROUPS = {
    "<": ["&lt;", "&LT;", "&#60;", "&#060;", "&#x3c;", "&#x3C;", "&#X3C;"],
    ">": ["&gt;", "&GT;", "&#62;", "&#062;", "&#x3e;", "&#x3E;", "&#X3E;"],
    '"': ["&quot;", "&QUOT;", "&#34;", "&#034;", "&#x22;"],
    "'": ["&apos;", "&#39;", "&#039;", "&#x27;"],
    " ": ["&nbsp;", "&#160;", "&#xa0;", "&#xA0;"],
    "…": ["&hellip;"],
    "·": ["&middot;"],
    "‘": ["&lsquo;"],
    "’": ["&rsquo;"],
    "“": ["&ldquo;"],
    "”": ["&rdquo;"],
    "–": ["&ndash;"],
    "—": ["&mdash;"],
}
# No output contains "&", so decoding never forms a new entity (one pass is enough).
ENTITIES = {ent: out for out, ents in _ENTITY_GROUPS.items() for ent in ents}
# "<" or ">" + U+0338 would compose into ≮/≯ on a second NFKC pass; drop marks after them.
# Non-starters (canonical combining class > 0) all lie below U+30000, like all decompositions.
_NONSTARTER_CPS = frozenset(cp for cp in range(0x30000) if unicodedata.combining(chr(cp)))
_NONSTARTERS = _cls(_NONSTARTER_CPS)
_ANGLE_MARKS = f"([<>]){_NONSTARTERS}+"
