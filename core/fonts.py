"""A font with Hangul glyphs for the charts, found through matplotlib's font manager.

Charts are drawn with their text turned into paths (etl/report/glyphs.py), so the report shows
Korean labels on any machine; the font only has to exist where the report is built. Without
one, the labels would be empty boxes (tofu): the report stops instead, naming the package to
install. Training plots (models/evaluate.py) use the same font and only warn without one.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

# Preferred families, best first: Debian's fonts-nanum, then fonts-noto-cjk and common others.
PREFERRED = (
    "NanumGothic",
    "NanumBarunGothic",
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "Source Han Sans KR",
    "UnDotum",
    "Malgun Gothic",
    "Apple SD Gothic Neo",
)
HANGUL_PROBE = "가한글"  # a font with these has the Hangul syllables block
INSTALL_HINT = (
    "install one, e.g. `apt-get install fonts-nanum` (or fonts-noto-cjk; `make system-deps` "
    "does it), or set report.font to a .ttf/.otf file with Hangul"
)


class HangulFontMissing(RuntimeError):
    """No font with Hangul glyphs is available to draw the charts."""


def has_hangul(path: Path) -> bool:
    from matplotlib.ft2font import FT2Font

    try:
        charmap = FT2Font(str(path)).get_charmap()
    except (OSError, RuntimeError, ValueError):  # unreadable or not a font FreeType knows
        return False
    return all(ord(ch) in charmap for ch in HANGUL_PROBE)


def _system_fonts() -> list[Path]:
    from matplotlib import font_manager

    # fontManager.ttflist is cached on disk: a font installed after the cache was written is
    # missing there, so the system folders are listed too.
    known = {Path(f.fname) for f in font_manager.fontManager.ttflist}
    return sorted(known | {Path(p) for p in font_manager.findSystemFonts()})


def _family(path: Path) -> str:
    from matplotlib import font_manager

    return font_manager.FontProperties(fname=str(path)).get_name()


def pick(fonts: Iterable[Path], preferred: str | None = None) -> Path:
    """The font file to draw with: ``preferred`` (a file, or a family name among ``fonts``),
    else the first family of PREFERRED present, else any font that has Hangul."""
    fonts = list(fonts)
    if preferred:
        as_file = Path(preferred).expanduser()
        wanted = [as_file] if as_file.is_file() else []
        wanted += [p for p in fonts if _family(p).casefold() == preferred.casefold()]
        for path in wanted:
            if has_hangul(path):
                return path
        raise HangulFontMissing(
            f"report.font = {preferred!r}: no such font with Hangul glyphs; {INSTALL_HINT}"
        )
    by_family: dict[str, list[Path]] = {}
    for path in fonts:
        by_family.setdefault(_family(path).casefold(), []).append(path)
    for family in PREFERRED:
        # Regular before Bold: the shortest file name of the family ("NanumGothic.ttf").
        for path in sorted(by_family.get(family.casefold(), []), key=lambda p: len(p.name)):
            if has_hangul(path):
                return path
    for path in fonts:
        if path.suffix.lower() in (".ttf", ".otf", ".ttc") and has_hangul(path):
            return path
    raise HangulFontMissing(
        f"no font with Hangul glyphs found for the report's charts; {INSTALL_HINT}"
    )


@cache
def hangul_font_file(preferred: str | None = None) -> Path:
    """The file of a font with Hangul glyphs (found once per process); the report's charts
    draw their text with its outlines."""
    return pick(_system_fonts(), preferred)


@cache
def hangul_font(preferred: str | None = None) -> str:
    """Family name of a Hangul font registered with matplotlib (found once per process), for
    figures drawn with matplotlib (models/evaluate.py)."""
    from matplotlib import font_manager

    path = hangul_font_file(preferred)
    font_manager.fontManager.addfont(str(path))
    return _family(path)
