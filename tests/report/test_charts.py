"""The hand-drawn charts: compact glyph paths that decode to the outline's points, axis ticks,
and the index's sparkline (pure string formatting)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.fonts import HangulFontMissing
from etl.report.charts import nice_ticks, sparkline, tick_label
from etl.report.glyphs import Glyphs, path_data
from tests.report.test_fonts import NANUM, _dejavu, needs_nanum

M, L, Q, C, Z = 1, 2, 3, 4, 79


def decode(d: str) -> list[tuple[str, list[tuple[float, float]]]]:
    """Absolute points of relative path data (m l h v q c z), as an SVG reader sees them."""
    tokens = re.findall(r"[mlhvqcz]|-?(?:\d+\.?\d*|\.\d+)", d)
    out: list[tuple[str, list[tuple[float, float]]]] = []
    x = y = sx = sy = 0.0
    op = ""
    i = 0
    arity = {"m": 2, "l": 2, "h": 1, "v": 1, "q": 4, "c": 6, "z": 0}
    while i < len(tokens):
        if tokens[i].isalpha():
            op = tokens[i]
            i += 1
            if op == "z":
                x, y = sx, sy
                out.append(("z", []))
                continue
        nums = [float(t) for t in tokens[i : i + arity[op]]]
        i += arity[op]
        if op == "h":
            pts = [(x + nums[0], y)]
        elif op == "v":
            pts = [(x, y + nums[0])]
        else:
            pts = [(x + nums[k], y + nums[k + 1]) for k in range(0, len(nums), 2)]
        x, y = pts[-1]
        if op == "m":
            sx, sy = x, y
        out.append((op, [(round(a, 1), round(b, 1)) for a, b in pts]))
    return out


def test_path_data_is_compact_and_decodes_to_the_rounded_points() -> None:
    # a square (y up), a straight run split in two, then a real curve and a cubic
    verts = [
        (1.04, 2.0),
        (3.0, 2.0),
        (4.5, 2.0),
        (4.5, 0.5),
        (1.0, 0.5),
        (0, 0),
        (6.0, 1.0),
        (7.0, 3.0),
        (8.0, 1.0),
        (9.0, 2.0),
        (10.0, 0.0),
        (11.0, 1.0),
        (0, 0),
    ]
    codes = [M, L, L, L, L, Z, M, Q, Q, C, C, C, Z]  # fmt: skip
    d = path_data(verts, codes)
    assert d.startswith("m1-2h3.5v1.5h-3.5z")  # the two lines right are one h
    assert decode(d) == [
        ("m", [(1.0, -2.0)]),
        ("h", [(4.5, -2.0)]),
        ("v", [(4.5, -0.5)]),
        ("h", [(1.0, -0.5)]),
        ("z", []),
        ("m", [(6.0, -1.0)]),
        ("q", [(7.0, -3.0), (8.0, -1.0)]),
        ("c", [(9.0, -2.0), (10.0, 0.0), (11.0, -1.0)]),
        ("z", []),
    ]


def test_a_curve_that_is_a_line_at_a_tenth_of_a_pixel_becomes_one() -> None:
    d = path_data([(0, 0), (1.0, 0.52), (2.0, 1.0)], [M, Q, Q])
    assert decode(d) == [("m", [(0.0, 0.0)]), ("l", [(2.0, -1.0)])]


@needs_nanum
def test_korean_text_is_drawn_as_a_path_and_cached() -> None:
    g = Glyphs(NANUM)
    a = g.outline("감동/감탄", 9)
    assert a is g.outline("감동/감탄", 9)  # computed once per process
    assert a.d.startswith("m") and "<" not in a.d and 30 < a.x1 - a.x0 < 45
    svg = g.text("감동", 100, 50, anchor="end")
    assert svg.startswith('<path d="m') and "translate(100 50)" in svg


def test_a_font_without_hangul_stops_the_chart() -> None:
    with pytest.raises(HangulFontMissing, match="no glyph for '감'"):
        Glyphs(_dejavu()).outline("감 reviews", 9)
    assert Glyphs(Path(_dejavu())).outline("reviews 0.5", 9).d  # Latin and digits are there


def test_nice_ticks_and_labels() -> None:
    assert nice_ticks(13, integer=True) == [0, 5, 10, 15]
    assert nice_ticks(1, integer=True) == [0, 1]
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(0.31) == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert nice_ticks(1.1) == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
    assert [tick_label(v, [0, 0.25]) for v in (0, 0.25, 1.0)] == ["0.00", "0.25", "1.00"]
    assert tick_label(15, [0, 5, 10, 15]) == "15"


def test_sparkline_is_a_polyline_on_a_fixed_scale() -> None:
    svg = sparkline([None, 0.0, 10.0, 5.0, 12.5], width=120, height=24)
    assert 'points="0,22 40,2 80,12 120,2"' in svg  # 0 at the bottom, 10 (and above) at the top
    assert 'data-points="0.000 10.000 5.000 12.500"' in svg
    assert 'points="0,12 120,12"' in sparkline([5.0])  # one day: a flat line
    assert sparkline([None]) == '<span class="muted">–</span>'
    assert re.fullmatch(r"<svg [^<>]*><polyline [^<>]*/></svg>", svg)
