"""The rule table of text normalization: which step does what, with an example and why.

``RULES`` below is the rule table. Each row names the pipeline step that implements it, an
example and why the rule exists; the order of the rows is the order of the steps (a step runs
at its first row). Every step has a Polars implementation and a plain-Python one, registered
together in ``_STEPS`` (``etl.normalize.steps``); the tests run every row through both, so
table, code and tests agree.

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
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


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
