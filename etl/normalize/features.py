"""The feature columns of a normalized review (``FEATURE_COLUMNS``): laughs, cries, emoji, a
rating written in the text, the Hangul ratio and the length; as Polars expressions
(``feature_exprs``, and the fast path's in ``normalize_frame``) and in plain Python
(``features_reference``, with ``text_norm`` and ``truncated``).
"""

from __future__ import annotations

import re

import polars as pl

from etl.normalize.chars import _EMOJI_SEQ, _HANGUL, _HANGUL_CPS, _RI, EMOJI_CHARS, _cls, _end
from etl.normalize.steps import _check_max_chars, _col, _reference_cut, _reference_full

FEATURE_COLUMNS: tuple[str, ...] = (
    "laugh_count",
    "cry_count",
    "emoji_count",
    "emojis",
    "text_rating",
    "hangul_ratio",
    "length",
)

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
# The same features in plain Python, one string at a time.

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
