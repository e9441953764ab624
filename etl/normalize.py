"""Text normalization of Korean reviews: the pure core of the clean stage.

``RULES`` below is the rule table. Each row names the pipeline step that implements it, an
example and why the rule exists; the order of the rows is the order of the steps (a step runs
at its first row). Every step has a Polars implementation and a plain-Python one, registered
together in ``_STEPS``; the tests run every row through both, so table, code and tests agree.

Three ways in, one set of steps:

- ``normalize_expr`` -- one Polars expression (every step on every row);
- ``normalize_frame`` -- the fast path over a frame: the same step expressions, but a step with
  a mask runs only on rows that contain it (NFKC matters for 0.04% of real reviews), plus the
  feature columns;
- ``normalize_text_reference`` / ``features_reference`` -- per-row Python (``re`` with
  backreferences, loops, ``unicodedata``): the benchmark baseline and the tests' oracle.

Rust regex (Polars) has no backreferences and no lookaround, so "a run of the same character"
is written per character: one alternation of capture groups whose replacement is
``${1}${1}${2}${2}...`` (an unmatched group expands to nothing, so only the alternative that
matched writes anything). Runs of the same emoji are found by cutting the text into tokens
(``extract_all``) and dropping a token equal to the two before it (``list.eval``).

Step order and why (each step assumes those before it):

1. ``invisible``: controls, zero-width and bidi marks, soft hyphens, Hangul fillers and BMP
   private-use characters are dropped *before* NFKC: deleting a character after NFKC could put
   a base letter next to a combining mark and a second run would compose them (not idempotent);
   private-use characters are also the placeholders of step 3.
2. ``emoji_joiners``: a ZWJ survives only between emoji (👨‍👩‍👧); elsewhere it is dropped; also
   before NFKC for the same reason. Variation selectors and skin tones are always kept.
3. ``nfkc``: NFKC, but two kinds of characters are shielded by private-use placeholders:
   compatibility jamo (ㅋ U+314B) and halfwidth jamo (U+FFA0-FFDC), which NFKC would turn into
   conjoining jamo that *compose* with neighbours ("최고ㄳ" -> "최곣", "ㅋㅏ" -> "카"), and the
   1,237 characters whose NFKC is longer than themselves (… -> ..., ㎏ -> kg, ﷺ -> 18 chars),
   which would break "never grows". Halfwidth jamo come out as compatibility jamo, and any
   conjoining jamo left alone after NFKC (decomposed NFD text that could not compose, ㉠ -> ᄀ)
   are mapped back to compatibility jamo so later rules and tokenizers see one form.
4. ``entities``: after NFKC, because fullwidth "＆ｌｔ；" becomes an entity only then. "&amp;"
   chains first so double-escaped "&amp;lt;" decodes in one pass (idempotence).
5. ``tags``: after entities, because "&lt;b&gt;" becomes a tag only then.
6. ``urls``: after tags (``<a href=...>`` goes with its tag).
7. ``whitespace``: tags and URLs leave spaces behind; runs become one space, ends are trimmed.
8. ``jamo_split``: "앜ㅋㅋ" -> "아ㅋㅋ" (the IME glued the first ㅋ as a final consonant).
9. ``repeats``: runs collapsed, never deleted: ㅋㅋㅋ -> ㅋㅋ, !!!!! -> !!, ^_^ -> ^^ ...
10. ``emoji_repeats``: three or more of the same emoji -> two.

Finally the text is cut to ``max_chars`` and, always, to the length of the raw text: NFKC can
still grow a string through canonical reordering of combining marks ("ǖ" + U+0328 -> 3 chars),
so the cap is what makes ``len(text_norm) <= len(text_raw)`` hold for every input. A cut never
leaves a trailing space or a dangling ZWJ. Rows cut for either reason are flagged ``truncated``.

Unicode version: Polars' NFKC tables are newer than Python 3.11's Unicode 14, while every class
and table here comes from Python's ``unicodedata``. The paths can therefore differ only on the
99 characters unassigned in Unicode 14 that Polars' NFKC maps (U+1CCD6.., U+1E030..; the fast
path's NFKC mask may also skip them), which the parity tests leave out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import emoji as _emoji
import polars as pl

__all__ = [
    "FEATURE_COLUMNS",
    "RULES",
    "Rule",
    "feature_exprs",
    "features_reference",
    "normalize_expr",
    "normalize_frame",
    "normalize_text",
    "normalize_text_reference",
]


@dataclass(frozen=True)
class Rule:
    """One row of the rule table: ``normalize_text(example_in) == example_out``."""

    name: str
    step: str
    example_in: str
    example_out: str
    why: str


# fmt: off
RULES: tuple[Rule, ...] = (
    Rule("invisible_dropped", "invisible", "좋\u200b아\u00ad요\ufeff", "좋아요",
         "zero-width spaces, soft hyphens and BOMs split words for tokenizers and are invisible"),
    Rule("controls_dropped", "invisible", "굿\x07굿\x00", "굿굿",
         "control characters are scraping debris"),
    Rule("bidi_and_fillers_dropped", "invisible", "\u202e최고\u3164", "최고",
         "bidi overrides and the Hangul filler (blank nicknames) carry no text"),
    Rule("zwj_family_kept", "emoji_joiners",
         "👨\u200d👩\u200d👧 가족영화", "👨\u200d👩\u200d👧 가족영화",
         "a ZWJ inside an emoji sequence makes one emoji out of three"),
    Rule("zwj_outside_emoji_dropped", "emoji_joiners", "좋\u200d아요", "좋아요",
         "a ZWJ between letters is invisible debris"),
    Rule("skin_tone_kept", "emoji_joiners", "👍🏽 최고", "👍🏽 최고",
         "skin-tone modifiers stay attached to their emoji"),
    Rule("variation_selector_kept", "emoji_joiners", "❤️ 인생영화", "❤️ 인생영화",
         "VS16 selects the emoji presentation of the heart"),
    Rule("nfkc_fullwidth", "nfkc", "ＡＢＣ １２３！", "ABC 123!",
         "fullwidth Latin, digits and punctuation mean the ASCII ones"),
    Rule("nfd_hangul_composed", "nfkc", unicodedata.normalize("NFD", "한글 자막"), "한글 자막",
         "text pasted from macOS arrives decomposed into conjoining jamo"),
    Rule("compat_jamo_kept", "nfkc", "ㅋㅋ 최고ㄳ", "ㅋㅋ 최고ㄳ",
         "plain NFKC turns ㄳ into a final consonant that fuses with 고 into 곣"),
    Rule("halfwidth_jamo_mapped", "nfkc", "\uffbb\uffbb", "ㅋㅋ",
         "halfwidth jamo are the same letters; NFKC would make them conjoining jamo"),
    Rule("expanding_chars_kept", "nfkc", "3㎏ 빠짐…", "3㎏ 빠짐…",
         "NFKC would lengthen these (㎏ -> kg); the text must never grow"),
    Rule("entities_decoded", "entities", "&#39;명작&#39; &amp; 수작", "'명작' & 수작",
         "scraped HTML keeps its escapes"),
    Rule("double_escaped_entities", "entities", "&amp;lt;3 좋아", "<3 좋아",
         "double escaping is common; decode it in one pass so a second pass changes nothing"),
    Rule("escaped_tags_removed", "tags", "&lt;b&gt;굿&lt;/b&gt;", "굿",
         "escaped markup becomes markup, then goes"),
    Rule("tags_removed", "tags", "재밌다<br/>또 볼래요", "재밌다 또 볼래요",
         "markup is not review text; a space keeps words apart"),
    Rule("heart_kept", "tags", "<3 사랑해요", "<3 사랑해요",
         "only <letter...> is a tag, so the <3 heart stays"),
    Rule("urls_removed", "urls", "http://x.y/z 광고", "광고",
         "links are ads or references, not opinion"),
    Rule("whitespace_collapsed", "whitespace", "  너무\t\n좋다\u3000 ", "너무 좋다",
         "runs of spaces, tabs and newlines become one space"),
    Rule("glued_final_split", "jamo_split", "앜ㅋㅋ", "아ㅋㅋ",
         "the IME glued the first ㅋ to the syllable as its final consonant"),
    Rule("glued_final_split_eo", "jamo_split", "엌ㅋㅋㅋ", "어ㅋㅋ",
         "same for 어 + ㅋ (the rare 부엌 'kitchen' + ㅋㅋ is split too: accepted)"),
    Rule("glued_final_split_h", "jamo_split", "좋앟ㅎㅎ", "좋아ㅎㅎ",
         "same for ㅎ"),
    Rule("other_final_kept", "jamo_split", "헐ㅋㅋ", "헐ㅋㅋ",
         "only a final equal to the following jamo is IME gluing"),
    Rule("stem_final_kept", "jamo_split", "좋ㅎㅎ", "좋ㅎㅎ",
         "좋/놓/넣/... end in ㅎ as real words; they are never split"),
    Rule("laugh_kk", "repeats", "ㅋㅋㅋㅋㅋ", "ㅋㅋ", "a laugh is a laugh; its length is noise"),
    Rule("laugh_hh", "repeats", "ㅎㅎㅎ", "ㅎㅎ", "same for ㅎ"),
    Rule("cry_pp", "repeats", "감동ㅠㅠㅠㅠ", "감동ㅠㅠ",
         "crying is kept (감동ㅠㅠ is praise), shortened"),
    Rule("cry_uu", "repeats", "ㅜㅜㅜ", "ㅜㅜ", "same for ㅜ"),
    Rule("cry_mixed", "repeats", "ㅠㅜㅠ", "ㅠㅠ",
         "mixed ㅠ/ㅜ runs mean the same: one canonical form"),
    Rule("cry_kept", "repeats", "ㅠㅠ ㅜㅜ", "ㅠㅠ ㅜㅜ", "short cries are already canonical"),
    Rule("bang", "repeats", "최고!!!!!", "최고!!", "emphasis kept as !!"),
    Rule("question", "repeats", "뭐지??????", "뭐지??", "kept as ??"),
    Rule("dots", "repeats", "글쎄......", "글쎄...", "trailing off kept as ..."),
    Rule("ellipsis_chars", "repeats", "글쎄……", "글쎄…", "runs of … become one"),
    Rule("tilde", "repeats", "좋아요~~~~", "좋아요~~", "kept as ~~"),
    Rule("semicolons", "repeats", "헐;;;;", "헐;;", "embarrassment kept as ;;"),
    Rule("tremble", "repeats", "무서워요 ㄷㄷㄷㄷ", "무서워요 ㄷㄷ",
         "덜덜 (trembling; horror praise) kept as ㄷㄷ"),
    Rule("flat_face", "repeats", "ㅡㅡㅡ", "ㅡㅡ", "annoyance kept as ㅡㅡ"),
    Rule("hearts", "repeats", "♡♡♡♡", "♡♡",
         "♡ is not an emoji code point but repeats like one"),
    Rule("smile_faces", "repeats", "좋아요^_^ ^-^ ^^^^", "좋아요^^ ^^ ^^",
         "^_^, ^-^, ^^^ all mean ^^"),
    Rule("faces_kept", "repeats", "-_- -.- ;; ㅡㅡ", "-_- -.- ;; ㅡㅡ",
         "emoticons are signal: canonical ones stay"),
    Rule("rating_text_kept", "repeats", "6.3점 준다", "6.3점 준다",
         "a rating written in the text stays (text_rating reads it too)"),
    Rule("stars_kept", "repeats", "★★★★☆", "★★★★☆", "star ratings are never collapsed"),
    Rule("emoji_run", "emoji_repeats", "😬😬😬😬", "😬😬",
         "three or more of the same emoji -> two (😬 fooled earlier models: keep it)"),
    Rule("emoji_run_vs16", "emoji_repeats", "❤️❤️❤️", "❤️❤️", "the unit includes its VS16"),
    Rule("emoji_run_skin", "emoji_repeats", "👍🏽👍🏽👍🏽", "👍🏽👍🏽", "and its skin tone"),
    Rule("emoji_pair_kept", "emoji_repeats", "😂😂 웃김", "😂😂 웃김", "two stay two"),
)
# fmt: on

STEPS: tuple[str, ...] = tuple(dict.fromkeys(r.step for r in RULES))

FEATURE_COLUMNS: tuple[str, ...] = (
    "laugh_count",
    "cry_count",
    "emoji_count",
    "emojis",
    "text_rating",
    "hangul_ratio",
    "length",
)

# --------------------------------------------------------------------------------------------
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
# and below, importing this module takes ~0.2 s).

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

# Tags: ASCII only (so Hangul is never deleted), and a chain of unclosed "<x" starts is eaten
# with the tag that closes them, so removing an inner tag never forms a new one ("<a<b>>").
_TAG_BODY = r"[\t\n\x0B\x0C\r\x20-\x3B\x3D\x3F-\x7E]*"
_TAG = rf"</?[A-Za-z]{_TAG_BODY}(?:</?[A-Za-z]{_TAG_BODY})*>"
_URL = r"(?:[Hh][Tt][Tt][Pp][Ss]?://|[Ww][Ww][Ww]\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*"

# --------------------------------------------------------------------------------------------
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

# --------------------------------------------------------------------------------------------
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


# Emoji runs: identity of emoji units cannot be written in Rust regex without backreferences (an
# alternation over ~1,400 emoji compiled for seconds), so the text is cut into tokens (an emoji
# with its modifier, or a run of anything else) and a token equal to the two before it is
# dropped. Only emoji tokens can repeat: the other runs are maximal.
_EMOJI_UNIT = f"{_cls(_EMOJI_REPEATABLE)}{_MOD}?"
_EMOJI_TOKENS = f"{_EMOJI_UNIT}|{_cls(_EMOJI_REPEATABLE, negate=True)}+"
_EMOJI_RUN_MASK = f"(?:{_EMOJI_UNIT}){{3,}}"  # no row without it can change

# --------------------------------------------------------------------------------------------
# Polars steps.

_INVISIBLE_CLS = _cls(_INVISIBLE)


def _pl_invisible(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(_INVISIBLE_CLS, "")


# Pass A: drop ZWJ runs not preceded by an emoji or modifier (the preceding character is matched
# and written back); collapse the other runs to one ZWJ. Pass B: drop a (now single) ZWJ not
# followed by an emoji (the follower is written back). Two passes, because one match that ate the
# follower would hide it as the predecessor of the next ZWJ.
_ZWJ_PASS_A = f"(^|{_cls([*_E_OR_MOD, ZWJ], negate=True)})\\u200D+|(\\u200D)\\u200D+"
_ZWJ_PASS_B = f"\\u200D({_cls(EMOJI_CHARS, negate=True)}|{_end('rust')})"


def _pl_emoji_joiners(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(_ZWJ_PASS_A, "${1}${2}").str.replace_all(_ZWJ_PASS_B, "${1}")


def _pl_nfkc(e: pl.Expr) -> pl.Expr:
    e = e.str.replace_many(_SHIELD).str.normalize("NFKC")
    return e.str.replace_many(_UNSHIELD)


def _pl_entities(e: pl.Expr) -> pl.Expr:
    e = e.str.replace_all(_AMP_CHAIN, "&").str.replace_many(ENTITIES)
    return e.str.replace_all(_ANGLE_MARKS, "${1}")


def _pl_tags(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(_TAG, " ")


def _pl_urls(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(_URL, " ")


# Any run of spaces that is not already one " " (writing " " over " " costs a copy per word).
_SPACE_FIX = f" {_cls(_SPACE)}+|{_cls(set(_SPACE) - {0x20})}{_cls(_SPACE)}*"


def _pl_whitespace(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(_SPACE_FIX, " ").str.strip_chars(" ")


def _pl_jamo_split(e: pl.Expr) -> pl.Expr:
    return e.str.replace_many(JAMO_SPLIT)


def _pl_repeats(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(_REPEATS, _REPEATS_TO)


def _pl_emoji_repeats(e: pl.Expr) -> pl.Expr:
    tok = pl.element()
    third = (tok == tok.shift(1)).fill_null(False) & (tok == tok.shift(2)).fill_null(False)
    kept = e.str.extract_all(_EMOJI_TOKENS).list.eval(tok.filter(~third))
    return kept.list.join("")


# --------------------------------------------------------------------------------------------
# Reference steps: plain Python, one string, written differently where it matters (backrefs,
# loops over characters or tokens, NFKC per stretch instead of placeholders), so that agreement
# with the Polars path means something. Shared: the character classes and tables.

_RX_INVISIBLE = re.compile(_INVISIBLE_CLS)
_E_OR_MOD_SET = frozenset(chr(cp) for cp in _E_OR_MOD)
_EMOJI_SET = frozenset(chr(cp) for cp in EMOJI_CHARS)
_SHIELDED_SET = frozenset(_SHIELDED) | frozenset(_HALFWIDTH_TO_COMPAT)
_RX_AMP = re.compile(_AMP_CHAIN)
_RX_ENTITY = re.compile(r"&#?[A-Za-z0-9]+;")
_RX_ANGLE_MARKS = re.compile(_ANGLE_MARKS)
_RX_TAG = re.compile(_TAG)
_RX_URL = re.compile(_URL)
_RX_SPACE = re.compile(f"{_cls(_SPACE)}+")
_RX_SMILE = re.compile(r"\^(?:[_.\-]?\^)+")
_RX_CRY = re.compile("[ㅠㅜ]{2,}")
_RX_RUN = re.compile(f"([{re.escape(_REPEAT_CHARS)}])\\1{{2,}}")
_RX_DOTS = re.compile(r"\.{4,}")
_RX_ELLIPSIS = re.compile("…{2,}")
_RX_EMOJI_UNIT = re.compile(_EMOJI_UNIT)


def _py_invisible(s: str) -> str:
    return _RX_INVISIBLE.sub("", s)


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


def _py_entities(s: str) -> str:
    s = _RX_AMP.sub("&", s)
    s = _RX_ENTITY.sub(lambda m: ENTITIES.get(m.group(0), m.group(0)), s)
    return _RX_ANGLE_MARKS.sub(r"\1", s)


def _py_tags(s: str) -> str:
    return _RX_TAG.sub(" ", s)


def _py_urls(s: str) -> str:
    return _RX_URL.sub(" ", s)


def _py_whitespace(s: str) -> str:
    return _RX_SPACE.sub(" ", s).strip(" ")


def _py_jamo_split(s: str) -> str:
    out = list(s)
    for i in range(len(s) - 1):
        code, nxt = ord(s[i]) - 0xAC00, s[i + 1]
        glued = 0 <= code < 11172 and nxt in _JONG_INDEX and code % 28 == _JONG_INDEX[nxt]
        if glued and s[i] not in _SPLIT_EXCEPTIONS:
            out[i] = chr(0xAC00 + code - code % 28)
    return "".join(out)


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
# Features.
#
# laugh_count: maximal runs of ㅋ/ㅎ; a run of only ㅎ right before ㄷ is 후덜덜 (ㅎㄷㄷ, fear),
#   not laughter. cry_count: runs of ㅠ/ㅜ, where ㅠ_ㅠ / ㅜ.ㅜ count once.
# emojis: the emoji sequences of text_norm, in order (runs already shortened to two).
# emoji_count: emoji sequences in the *raw* text, repeats included (😬😬😬😬 -> 4): intensity.
# hangul_ratio: Hangul syllables and jamo over non-space characters of text_norm (0.0 if none).
# length: characters of text_norm.
# text_rating: a rating written in the text on the 0-10 scale, first pattern that matches:
#   1. "10점 만점에 8점" / "5점만점에 4" -> 8/10*10, 4/5*10 (null if the score exceeds the scale)
#   2. "10점도 아깝지 않다" (even 10 is not too much) -> the points, as in 7.
#   3. "1점도 아깝다" / "1점 주기도 아깝다" (idiom: even N is too much) -> N - 1, floored at 0:
#      "1점도 아깝다" means very bad, so 0.0.
#   4. "8/10", "4/5", "85/100" (denominator 5, 10 or 100; numerator <= denominator)
#   5. a run of exactly 5 or 10 ★/☆ -> filled share * 10 ("★★★★☆" -> 8.0); other runs are
#      decoration ("★강추★")
#   6. "별 4개" / "별3.5개" -> stars * 2
#   7. "6.3점" -> 6.3; "85점" (11-100) -> 8.5 (the 100-point scale); above 100 -> null;
#      "8점대" ("in the 8s", said of the site's average) is not the reviewer's rating.
# Within a pattern the first match wins ("9점 주려다 10점 드림" -> 9.0): a heuristic feature
# for models and analysts, not a replacement for the site's own rating column.

_NUM = r"([0-9]+(?:\.[0-9]+)?)"
_PRE = r"(?:^|[^0-9])\.*"  # a number starts after a non-digit (and any dots: "좋음..6점")
_GIVE = r"(?: ?주기| ?주는 ?것)?도 ?아깝"
_RATING_TEMPLATES = {
    "out_of": f"{_PRE}{_NUM} ?점 ?만점(?:에서|에|중)? ?{_NUM}",
    "idiom_not": f"{_PRE}{_NUM} ?점{_GIVE}지 ?않",
    "idiom": f"{_PRE}{_NUM} ?점{_GIVE}",
    "fraction": f"{_PRE}{_NUM} ?/ ?(100|10|5)(?:[^0-9.]|\\.[^0-9]|\\.END|END)",
    "stars": "(?:^|[^★☆])([★☆]{10}|[★☆]{5})(?:[^★☆]|END)",
    "star_count": r"별 ?([0-5](?:\.5)?) ?개",
    "points": f"{_PRE}{_NUM} ?점(?:[^심프대]|END)",  # not 점심, 점프, 8점대 (an average)
}
# Every rating pattern needs one of these; other rows skip the rating regexes.
_RATING_MASK = "[0-9★☆]"
# Every emoji sequence holds one of these (NFKC never makes an emoji out of something else).
_EMOJI_MASK = _cls(EMOJI_CHARS | set(_RI) | {0x20E3})


def _rating_patterns(engine: str) -> dict[str, str]:
    return {k: v.replace("END", _end(engine)) for k, v in _RATING_TEMPLATES.items()}


_RATING_RS = _rating_patterns("rust")
_RATING_PY = {k: re.compile(v) for k, v in _rating_patterns("python").items()}
_LAUGH = "[ㅋㅎ]*ㅋ[ㅋㅎ]*|ㅎ+(?:[^ㅋㅎㄷ]|END)"
_CRY = "[ㅠㅜ]+(?:[_.][ㅠㅜ]+)*"
# Runs of what is neither ASCII nor Hangul (rare in reviews, so few matches to replace).
_OTHER_RUN = _cls([*range(0x80), *_HANGUL_CPS], negate=True) + "+"


def _div(n: pl.Expr, d: float) -> pl.Expr:
    # Polars divides by a scalar as a multiplication by its reciprocal (12 / 10 gives
    # 1.2000000000000002); dividing by a column is the correctly rounded IEEE division that
    # Python does. n is finite here (rows where it is not never reach the division).
    return n / (n * 0 + d)


def _points(n: pl.Expr) -> pl.Expr:
    return pl.when(n <= 10).then(n).when(n <= 100).then(_div(n, 10))


def _rating_expr(src: pl.Expr) -> pl.Expr:
    def grab(name: str) -> pl.Expr:
        return src.str.extract(_RATING_RS[name], 1).cast(pl.Float64)

    out_of = src.str.extract_groups(_RATING_RS["out_of"]).struct
    scale, score = out_of.field("1").cast(pl.Float64), out_of.field("2").cast(pl.Float64)
    fraction = src.str.extract_groups(_RATING_RS["fraction"]).struct
    num, den = fraction.field("1").cast(pl.Float64), fraction.field("2").cast(pl.Float64)
    run = src.str.extract(_RATING_RS["stars"], 1)
    stars = run.str.count_matches("★").cast(pl.Float64) / run.str.len_chars().cast(pl.Float64)
    return pl.coalesce(
        pl.when((scale > 0) & (score <= scale)).then(score / scale * 10),
        _points(grab("idiom_not")),
        (_points(grab("idiom")) - 1).clip(lower_bound=0.0),
        pl.when(num <= den).then(num / den * 10),
        stars * 10,
        grab("star_count") * 2,
        _points(grab("points")),
    )


def _hangul_only(norm: pl.Expr) -> pl.Expr:
    # Counting Hangul one regex match at a time is slow (most characters are Hangul). Dropping
    # the rare rest instead leaves ASCII (1 byte) and Hangul (all 3 bytes in UTF-8), so the
    # Hangul count is (bytes - chars) / 2.
    return norm.str.replace_all(_OTHER_RUN, "")


def _feature_exprs(
    raw: pl.Expr,
    norm: pl.Expr,
    *,
    rating_src: pl.Expr,
    raw_emoji: pl.Expr,
    norm_emoji: pl.Expr,
    hangul_only: pl.Expr,
) -> list[pl.Expr]:
    """``rating_src``/``*_emoji`` are ``norm``/``raw`` themselves, or copies that are null where
    a mask says nothing can match; the fast path passes them, and ``hangul_only``, as columns
    so that no expression is evaluated twice (eager Polars does not share subexpressions)."""
    non_space = norm.str.len_chars() - norm.str.count_matches(" ", literal=True)
    bytes_, chars = hangul_only.str.len_bytes(), hangul_only.str.len_chars()
    hangul = (bytes_.cast(pl.Int64) - chars.cast(pl.Int64)) // 2
    return [
        norm.str.count_matches(_LAUGH.replace("END", _end("rust"))).alias("laugh_count"),
        norm.str.count_matches(_CRY).alias("cry_count"),
        pl.when(raw.is_not_null())
        .then(raw_emoji.str.count_matches(_EMOJI_SEQ).fill_null(0))
        .alias("emoji_count"),
        pl.when(norm.is_not_null())
        .then(norm_emoji.str.extract_all(_EMOJI_SEQ).fill_null(pl.lit([], pl.List(pl.Utf8))))
        .alias("emojis"),
        _rating_expr(rating_src).alias("text_rating"),
        # 0 / 0 (no non-space character) is NaN: such a text has no Hangul, ratio 0.
        (hangul / non_space).fill_nan(0.0).alias("hangul_ratio"),
        norm.str.len_chars().alias("length"),
    ]


def feature_exprs(raw_col: str | pl.Expr, norm_col: str | pl.Expr) -> list[pl.Expr]:
    """Expressions for ``FEATURE_COLUMNS`` from the raw and the normalized text."""
    raw, norm = _col(raw_col), _col(norm_col)
    return _feature_exprs(
        raw, norm, rating_src=norm, raw_emoji=raw, norm_emoji=norm, hangul_only=_hangul_only(norm)
    )


# --------------------------------------------------------------------------------------------
# Normalization: public API.

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
_TMP = "__kreview_norm"  # temporary columns of normalize_frame start with this


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


def _reference_full(s: str) -> str:
    for step in _STEPS.values():
        s = step.python(s)
    return s


def _reference_cut(raw: str, full: str, max_chars: int | None) -> tuple[str, bool]:
    limit = len(raw) if max_chars is None else min(len(raw), max_chars)
    return (full[:limit].rstrip(" \u200d"), True) if len(full) > limit else (full, False)


def normalize_text_reference(s: str, *, max_chars: int | None = None) -> str:
    """The same rules in plain Python, one string at a time: the benchmark baseline and the
    tests' oracle. Equals ``normalize_text`` on every input (of Unicode 14 characters)."""
    _check_max_chars(max_chars)
    return _reference_cut(s, _reference_full(s), max_chars)[0]


_RX_EMOJI_SEQ = re.compile(_EMOJI_SEQ)
_RX_HANGUL = re.compile(_HANGUL)


def _rating_reference(norm: str) -> float | None:
    def grab(name: str, group: int = 1) -> float | None:
        m = _RATING_PY[name].search(norm)
        return float(m.group(group)) if m else None

    def points(n: float | None) -> float | None:
        if n is None:
            return None
        return n if n <= 10 else n / 10 if n <= 100 else None

    def out_of() -> float | None:
        if not (m := _RATING_PY["out_of"].search(norm)):
            return None
        scale, score = float(m.group(1)), float(m.group(2))
        return score / scale * 10 if scale > 0 and score <= scale else None

    def idiom() -> float | None:
        p = points(grab("idiom"))
        return None if p is None else max(p - 1, 0.0)

    def fraction() -> float | None:
        if not (m := _RATING_PY["fraction"].search(norm)):
            return None
        num, den = float(m.group(1)), float(m.group(2))
        return num / den * 10 if num <= den else None

    def stars() -> float | None:
        if not (m := _RATING_PY["stars"].search(norm)):
            return None
        return m.group(1).count("★") / len(m.group(1)) * 10

    def star_count() -> float | None:
        n = grab("star_count")
        return None if n is None else n * 2

    for rule in (
        out_of,
        lambda: points(grab("idiom_not")),
        idiom,
        fraction,
        stars,
        star_count,
        lambda: points(grab("points")),
    ):
        if (value := rule()) is not None:
            return value
    return None


def _laughs_reference(s: str) -> int:
    count = 0
    for m in re.finditer("[ㅋㅎ]+", s):
        trembling = set(m.group(0)) == {"ㅎ"} and s[m.end() : m.end() + 1] == "ㄷ"
        count += not trembling
    return count


def features_reference(raw: str, *, max_chars: int | None = None) -> dict[str, object]:
    """``text_norm``, ``truncated`` and ``FEATURE_COLUMNS`` for one string, in plain Python."""
    _check_max_chars(max_chars)
    norm, truncated = _reference_cut(raw, _reference_full(raw), max_chars)
    non_space = len(norm) - norm.count(" ")
    return {
        "text_norm": norm,
        "truncated": truncated,
        "laugh_count": _laughs_reference(norm),
        "cry_count": len(re.findall(_CRY, norm)),
        "emoji_count": len(_RX_EMOJI_SEQ.findall(raw)),
        "emojis": _RX_EMOJI_SEQ.findall(norm),
        "text_rating": _rating_reference(norm),
        "hangul_ratio": len(_RX_HANGUL.findall(norm)) / non_space if non_space else 0.0,
        "length": len(norm),
    }
