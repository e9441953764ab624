"""Text normalization: every rule-table row, real review strings, features, and parity between
the Polars path, the fast frame path and the plain-Python reference."""

from __future__ import annotations

import gzip
import unicodedata

import polars as pl
import pytest

from bench.corpus import POOL
from etl.normalize import (
    FEATURE_COLUMNS,
    RULES,
    STEPS,
    feature_exprs,
    features_reference,
    normalize_expr,
    normalize_frame,
    normalize_text,
    normalize_text_reference,
)

OUT_COLUMNS = ["text_norm", "truncated", *FEATURE_COLUMNS]


def frame_rows(texts: list[str | None], max_chars: int | None = None) -> list[dict]:
    df = pl.DataFrame({"text_raw": texts}, schema={"text_raw": pl.Utf8})
    return normalize_frame(df, max_chars=max_chars).select(OUT_COLUMNS).to_dicts()


def features(text: str, max_chars: int | None = None) -> dict:
    """Features by the fast path, checked against the reference on the way."""
    (row,) = frame_rows([text], max_chars)
    assert row == features_reference(text, max_chars=max_chars)
    return row


# --- the rule table ---------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_rule_row(rule) -> None:
    assert normalize_text(rule.example_in) == rule.example_out
    assert normalize_text_reference(rule.example_in) == rule.example_out
    assert frame_rows([rule.example_in])[0]["text_norm"] == rule.example_out


def test_rule_table_is_complete_and_documented() -> None:
    assert len({r.name for r in RULES}) == len(RULES)
    assert all(r.why.strip() for r in RULES)
    # NFKC and the jamo mapping come first, entities before tags, repeats last.
    assert STEPS.index("invisible") < STEPS.index("nfkc") < STEPS.index("entities")
    assert STEPS.index("entities") < STEPS.index("tags") < STEPS.index("whitespace")
    assert STEPS.index("whitespace") < STEPS.index("repeats") < STEPS.index("emoji_repeats")


def test_plain_nfkc_would_break_jamo() -> None:
    """Why the nfkc step shields jamo: the trap is real in this Python and this Polars."""
    assert unicodedata.normalize("NFKC", "ㅋㅋ") == "\u110f\u110f"  # conjoining, not ㅋ
    assert unicodedata.normalize("NFKC", "최고ㄳ") == "최곣"  # ㄳ fused into the syllable
    plain = pl.select(pl.lit("좋아요ㄳ").str.normalize("NFKC")).item()
    assert plain == "좋아욗"
    assert normalize_text("좋아요ㄳ ㅋㅋ") == "좋아요ㄳ ㅋㅋ"
    # halfwidth jamo and stray conjoining jamo come out as compatibility jamo
    assert normalize_text("\uffbe\uffbe \u110f\u110f") == "ㅎㅎ ㅋㅋ"


# --- real strings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("감동ㅠㅠㅠㅠ 최고!!!!!", "감동ㅠㅠ 최고!!"),
        ("무서워요 ㄷㄷㄷㄷ 진짜 잘만듦", "무서워요 ㄷㄷ 진짜 잘만듦"),
        ("6.3점 준다", "6.3점 준다"),
        ("10점 만점에 8점", "10점 만점에 8점"),
        ("😬😬😬😬", "😬😬"),
        ("&lt;b&gt;굿&lt;/b&gt;", "굿"),
        ("http://x.y/z 광고", "광고"),
        ("앜ㅋㅋㅋㅋ 개웃김 ㅋㅋㅋㅋㅋㅋㅋ", "아ㅋㅋ 개웃김 ㅋㅋ"),
        ("헐;;;; 이게 뭐야 -_-;;;", "헐;; 이게 뭐야 -_-;;"),
        ("재밌어요^_^~~~~♡♡♡", "재밌어요^^~~♡♡"),
        ("최고예요 👍🏽👍🏽👍🏽 ❤️❤️❤️❤️", "최고예요 👍🏽👍🏽 ❤️❤️"),
        ("가족이랑 👨\u200d👩\u200d👧 봤어요", "가족이랑 👨\u200d👩\u200d👧 봤어요"),
        ("ＯＳＴ 최고…… 또 볼래요.......", "OST 최고… 또 볼래요..."),
        ("<a href='http://spam.kr'>무료보기</a> www.spam.kr/x 클릭", "무료보기 클릭"),
        ("ㅋㅋㅋㅋㅋㅋㅋㅋ", "ㅋㅋ"),
        ("ㅠㅜㅠㅜ 슬퍼", "ㅠㅠ 슬퍼"),
        ("\u3000\u200b 좋다 \u200b\n", "좋다"),
    ],
)
def test_real_strings(raw: str, norm: str) -> None:
    assert normalize_text(raw) == norm
    assert features(raw)["text_norm"] == norm


def test_invisible_cleanup_keeps_emoji_sequences() -> None:
    family, thumbs, heart = "👨\u200d👩\u200d👧", "👍🏽", "❤\ufe0f"
    raw = f"\u200b{family}\u200b{thumbs}\u2060{heart}\u200d"
    assert normalize_text(raw) == family + thumbs + heart
    assert features(raw)["emojis"] == [family, thumbs, heart]


# --- features ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "rating"),
    [
        ("6.3점 준다", 6.3),
        ("뻔한 스토리지만 괜찮음..6점", 6.0),
        ("10점 만점에 8점", 8.0),
        ("5점 만점에 4점", 8.0),  # the 0-10 scale, not 4
        ("5점만점에 4.5", 9.0),
        ("★★★★☆", 8.0),
        ("★★★☆☆☆☆☆☆☆ 별로", 3.0),
        ("8/10", 8.0),
        ("4/5 재밌음", 8.0),
        ("85/100", 8.5),
        ("1점도 아깝다", 0.0),  # idiom: even one point is too much
        ("1점 주기도 아깝다", 0.0),
        ("3점도 아깝다", 2.0),
        ("10점도 아깝지 않다", 10.0),  # negated: deserves all ten
        ("85점짜리 영화", 8.5),  # the 100-point scale
        ("10점 만점!", 10.0),
        ("별 4개", 8.0),
        ("１０점", 10.0),  # fullwidth digits, via NFKC
        ("1000점", None),
        ("★강추★", None),  # decoration, not a rating
        ("2019/10 개봉", None),
        ("점심 12시에 봄", None),
        ("왜 5점대밖에 안 되지", None),  # the site's average, not a rating
        ("재밌다", None),
    ],
)
def test_text_rating(raw: str, rating: float | None) -> None:
    assert features(raw)["text_rating"] == (None if rating is None else pytest.approx(rating))


@pytest.mark.parametrize(
    ("raw", "laughs", "cries"),
    [
        ("ㅋㅋㅋ 재밌다 ㅎㅎ", 2, 0),
        ("ㅋㅋㅎㅎㅋ", 1, 0),
        ("ㅎㄷㄷ 무서워", 0, 0),  # 후덜덜: trembling, not laughing
        ("ㅠㅠ 감동 ㅜㅜ ㅠ_ㅠ", 0, 3),
        ("감동ㅠㅠㅠㅠ 최고!!!!!", 0, 1),
    ],
)
def test_laugh_and_cry_counts(raw: str, laughs: int, cries: int) -> None:
    row = features(raw)
    assert (row["laugh_count"], row["cry_count"]) == (laughs, cries)


def test_emoji_features() -> None:
    row = features("😬😬😬😬 최고 👍🏽 🇰🇷 1️⃣")
    assert row["emoji_count"] == 7  # raw text: the intensity of the run counts
    assert row["emojis"] == ["😬", "😬", "👍🏽", "🇰🇷", "1️⃣"]  # text_norm: run cut to two


def test_hangul_ratio_and_length() -> None:
    assert features("ㅋㅋ abc")["hangul_ratio"] == pytest.approx(2 / 5)
    assert features("한국 영화 최고")["hangul_ratio"] == 1.0
    assert features("   ")["hangul_ratio"] == 0.0
    assert features("This movie was great")["hangul_ratio"] == 0.0
    assert features("최고!!!!!")["length"] == 4


def test_truncation_and_never_longer_than_raw() -> None:
    row = features("가나다라마 바사" * 100, max_chars=12)
    assert row["truncated"] is True and row["length"] <= 12
    assert not row["text_norm"].endswith(" ")
    # NFKC reorders marks and grows this pair to three characters; the cap keeps two.
    grows = "\u01d6\u0328"
    assert len(unicodedata.normalize("NFKC", grows)) == 3
    row = features(grows)
    assert row["length"] <= 2 and row["truncated"] is True
    # a cut never leaves half an emoji sequence dangling
    family = "👨\u200d👩\u200d👧"
    assert normalize_text("가나다" + family, max_chars=5) == "가나다👨"


def test_nulls_and_frame_types() -> None:
    rows = frame_rows([None, ""])
    assert rows[0] == dict.fromkeys(OUT_COLUMNS)
    assert rows[1]["text_norm"] == "" and rows[1]["emoji_count"] == 0 and rows[1]["emojis"] == []
    lazy = normalize_frame(pl.LazyFrame({"text_raw": ["ㅋㅋㅋ"]}))
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect()["text_norm"].to_list() == ["ㅋㅋ"]
    out = normalize_frame(pl.DataFrame({"review": ["ㅋㅋㅋ"], "id": [1]}), "review")
    assert out.columns == ["review", "id", "text_norm", "truncated", *FEATURE_COLUMNS]


def test_max_chars_is_validated() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        normalize_expr("t", max_chars=0)
    with pytest.raises(ValueError, match="max_chars"):
        normalize_frame(pl.DataFrame({"text_raw": ["a"]}), max_chars=-1)


def test_expression_api_matches_frame_path() -> None:
    texts = [r.example_in for r in RULES] + ["6.3점 😬😬😬 ㅋㅋㅋ &amp;lt;3", None]
    df = pl.DataFrame({"text_raw": texts}, schema={"text_raw": pl.Utf8})
    norm = normalize_expr("text_raw", max_chars=20)
    by_expr = df.with_columns(norm.alias("text_norm")).with_columns(
        feature_exprs("text_raw", "text_norm")
    )
    by_frame = normalize_frame(df, max_chars=20)
    columns = ["text_norm", *FEATURE_COLUMNS]
    assert by_expr.select(columns).to_dicts() == by_frame.select(columns).to_dicts()


@pytest.mark.skipif(not POOL.exists(), reason="shared NSMC pool not present")
def test_parity_on_real_reviews() -> None:
    with gzip.open(POOL, "rt", encoding="utf-8") as f:
        header = next(f).rstrip("\n").split("\t")
        col = header.index("document")
        lines = [next(f) for _ in range(3000)]
    texts = [line.rstrip("\n").split("\t")[col] for line in lines]
    rows = frame_rows(texts, max_chars=100)
    expected = [features_reference(t, max_chars=100) for t in texts]
    assert [(t, r) for t, r, e in zip(texts, rows, expected, strict=True) if r != e] == []
