"""Chart text as SVG paths, from the outlines of a Hangul font: a chart shows its Korean
labels on any machine, with no font needed where the report is viewed.

The outline of each distinct (text, size) is computed once per process and reused: chart
labels repeat across hundreds of pages (axis titles, tick numbers, the 44 emotion names), so
text costs microseconds per chart instead of the ~1 s per page matplotlib spent drawing it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from core.fonts import HangulFontMissing

# Path codes of matplotlib.path.Path and the number of coordinates each one takes.
_MOVETO, _LINETO, _CURVE3, _CURVE4, _CLOSEPOLY = 1, 2, 3, 4, 79
_SVG_OP = {_MOVETO: "M", _LINETO: "L", _CURVE3: "Q", _CURVE4: "C"}


@dataclass(frozen=True)
class Outline:
    d: str  # SVG path data, baseline at y = 0, text starting at x = 0
    x0: float  # ink extent along the baseline, for alignment
    x1: float


def coord(v: float) -> str:
    """A coordinate with one decimal (a tenth of a pixel), without a trailing '.0'."""
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else ("0" if s == "-0.0" else s)


def _tenths(t: int) -> str:
    """A number given in tenths, as short as SVG allows: 15 -> '1.5', -5 -> '-.5', 20 -> '2'."""
    sign, t = ("-", -t) if t < 0 else ("", t)
    whole, tenth = divmod(t, 10)
    if not tenth:
        return f"{sign}{whole}"
    return f"{sign}{whole or ''}.{tenth}"


def _join(numbers: list[str]) -> str:
    """Numbers of one command, with a separator only where SVG's grammar needs one."""
    out = numbers[0]
    for prev, cur in itertools.pairwise(numbers):
        glued = cur[0] == "-" or (cur[0] == "." and "." in prev)
        out += cur if glued else " " + cur
    return out


def _flat(start: tuple[int, int], pts: list[tuple[int, int]]) -> bool:
    """Whether the control points lie within one tenth of the chord from start to the end."""
    (x0, y0), (x1, y1) = start, pts[-1]
    length = math.hypot(x1 - x0, y1 - y0)
    if length == 0:
        return all(p == start for p in pts)
    return all(abs((x1 - x0) * (y0 - y) - (x0 - x) * (y1 - y0)) / length <= 1 for x, y in pts[:-1])


def _segments(vertices: list[tuple[float, float]], codes: list[int]) -> list[tuple[str, list[int]]]:
    """(command, relative numbers in tenths of a pixel) of a matplotlib path (y up) drawn with
    y down. Points are rounded before differences are taken, so they never drift."""
    out: list[tuple[str, list[int]]] = []
    px = py = 0
    start = (0, 0)
    i = 0
    while i < len(codes):
        code = codes[i]
        if code == _CLOSEPOLY:
            out.append(("z", []))
            px, py = start
            i += 1
            continue
        take = {_MOVETO: 1, _LINETO: 1, _CURVE3: 2, _CURVE4: 3}[code]
        pts = [(round(x * 10), round(-y * 10)) for x, y in vertices[i : i + take]]
        i += take
        op = _SVG_OP[code].lower()
        if op in ("q", "c") and _flat((px, py), pts):
            op, pts = "l", pts[-1:]  # a curve within a tenth of its chord: a line draws the same
        deltas = [v for x, y in pts for v in (x - px, y - py)]
        px, py = pts[-1]
        if op == "m":
            start = (px, py)
        elif op == "l" and deltas == [0, 0]:
            continue
        elif op == "l" and 0 in deltas:
            op, deltas = ("v", deltas[1:]) if deltas[0] == 0 else ("h", deltas[:1])
        prev = out[-1] if out else None
        if prev and op in ("h", "v") and prev[0] == op and (prev[1][0] > 0) == (deltas[0] > 0):
            prev[1][0] += deltas[0]  # straight on in the same direction: one longer line
            continue
        out.append((op, deltas))
    return out


def path_data(vertices: list[tuple[float, float]], codes: list[int]) -> str:
    """Compact SVG path data (glyph outlines are most of a title page's bytes): relative
    commands, numbers as short as SVG's grammar allows, a repeated command without its letter."""
    out: list[str] = []
    last_op, last_num = "", ""
    for op, deltas in _segments(vertices, codes):
        nums = [_tenths(v) for v in deltas]
        if op == last_op and op not in ("m", "z"):
            glued = nums[0][0] == "-" or (nums[0][0] == "." and "." in last_num)
            out.append(("" if glued else " ") + _join(nums))
        else:
            out.append(op + (_join(nums) if nums else ""))
        last_op, last_num = op, (nums[-1] if nums else "")
    return "".join(out)


@dataclass(frozen=True)
class Glyphs:
    """Text drawn with the font at ``path`` (a font with Hangul glyphs)."""

    path: Path

    @cached_property
    def _charmap(self) -> frozenset[int]:
        from matplotlib.ft2font import FT2Font

        return frozenset(FT2Font(str(self.path)).get_charmap())

    def outline(self, text: str, size: float) -> Outline:
        missing = sorted({c for c in text if not c.isspace() and ord(c) not in self._charmap})
        if missing:
            raise HangulFontMissing(
                f"chart text {text!r}: the font {self.path.name} has no glyph for "
                f"{''.join(missing)!r}"
            )
        return _outline(str(self.path), text, size)

    def text(
        self,
        s: str,
        x: float,
        y: float,
        *,
        size: float = 10,
        anchor: str = "start",
        rotate: bool = False,
        fill: str = "#1d2329",
    ) -> str:
        """``s`` as a path with its baseline at ``y``; ``anchor`` start, middle or end aligns
        the ink on ``x``. ``rotate``: read bottom to top (a y-axis title), centred on (x, y)
        along the axis when anchor is middle."""
        o = self.outline(s, size)
        shift = {"start": -o.x0, "middle": -(o.x0 + o.x1) / 2, "end": -o.x1}[anchor]
        turn = " rotate(-90)" if rotate else ""
        return (
            f'<path d="{o.d}" fill="{fill}" '
            f'transform="translate({coord(x)} {coord(y)}){turn} translate({coord(shift)} 0)"/>'
        )


@cache
def _outline(font_file: str, text: str, size: float) -> Outline:
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    if not text.strip():
        return Outline("", 0.0, 0.0)
    tp = TextPath((0, 0), text, size=size, prop=FontProperties(fname=font_file))
    ext = tp.get_extents()
    return Outline(path_data(tp.vertices.tolist(), tp.codes.tolist()), ext.x0, ext.x1)
