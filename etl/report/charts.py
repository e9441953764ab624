"""Charts drawn at build time as small hand-written inline SVG: bars, lines and axes as SVG
shapes, text as paths from a Hangul font's outlines (etl/report/glyphs.py), so Korean labels
show on any machine with no font or network needed at view time.

Each function takes view rows and only draws them: pure functions from rows to an SVG string.
Every coordinate is a number this module formats and every label is drawn as a path, so no
text from the warehouse is ever written into the SVG markup. Bars and points carry the value
they draw in ``data-value``. matplotlib drew these at ~1 s per page; this takes milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Any

from etl.report.glyphs import Glyphs, coord
from etl.sources.table import ALL_SCOPE, LABELS, NAMES, SOURCES

Row = dict[str, Any]
POSITIVE, NEGATIVE, NEUTRAL, ACCENT = "#2f7d4f", "#b8453a", "#9aa3ad", "#2d5fa8"
AXIS, GRID, BAR = "#5d6670", "#e6e9ed", "#d5dbe2"
SOURCE_COLORS = {s.name: s.color for s in SOURCES}
SOURCE_NAMES = {**LABELS, ALL_SCOPE: ALL_SCOPE}
WIDTH, HEIGHT = 600, 280
TICK, LABEL = 11, 12  # font sizes (px) of tick labels and axis titles


def nice_ticks(top: float, integer: bool = False, n: int = 5) -> list[float]:
    """Ticks from 0 to the first multiple of a 1-2-2.5-5 step at or above ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1.0, math.ceil(step))
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def tick_label(value: float, ticks: Sequence[float]) -> str:
    """``value`` with as many decimals as the step between ticks needs (0.25 -> 2)."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    digits = next(d for d in range(7) if abs(step * 10**d - round(step * 10**d)) < 1e-6)
    return f"{value:.{digits}f}"


@dataclass(frozen=True)
class Frame:
    """The plot area inside a chart of ``width`` × ``height`` px and its margins."""

    width: int
    height: int
    left: float
    right: float
    top: float = 12
    bottom: float = 44

    @property
    def x0(self) -> float:
        return self.left

    @property
    def x1(self) -> float:
        return self.width - self.right

    @property
    def y0(self) -> float:  # the bottom of the plot area (SVG y grows downwards)
        return self.height - self.bottom

    @property
    def y1(self) -> float:
        return self.top

    def sx(self, v: float, lo: float, hi: float) -> float:
        return self.x0 + (v - lo) / ((hi - lo) or 1) * (self.x1 - self.x0)

    def sy(self, v: float, lo: float, hi: float) -> float:
        return self.y0 - (v - lo) / ((hi - lo) or 1) * (self.y0 - self.y1)


def svg(frame: Frame, label: str, parts: Sequence[str]) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{frame.width}"'
        f' height="{frame.height}" viewBox="0 0 {frame.width} {frame.height}">'
        + "".join(parts)
        + "</svg>"
    )


def line(x1: float, y1: float, x2: float, y2: float, stroke: str = AXIS, w: float = 1) -> str:
    return (
        f'<line x1="{coord(x1)}" y1="{coord(y1)}" x2="{coord(x2)}" y2="{coord(y2)}"'
        f' stroke="{stroke}" stroke-width="{w}"/>'
    )


def rect(x: float, y: float, w: float, h: float, fill: str, value: Any = None) -> str:
    data = "" if value is None else f' data-value="{float(value)!r}"'
    return (
        f'<rect x="{coord(x)}" y="{coord(y)}" width="{coord(max(w, 0))}"'
        f' height="{coord(max(h, 0))}" fill="{fill}"{data}/>'
    )


def y_axis(
    g: Glyphs,
    f: Frame,
    ticks: Sequence[float],
    title: str,
    *,
    right: bool = False,
    color: str = AXIS,
    grid: bool = True,
) -> list[str]:
    """Ticks, labels and title of a vertical axis on the left (or right) of the plot."""
    lo, hi = ticks[0], ticks[-1]
    x = f.x1 if right else f.x0
    out = [line(x, f.y0, x, f.y1, color)]
    for v in ticks:
        y = f.sy(v, lo, hi)
        if grid and not right and v != lo:
            out.append(line(f.x0, y, f.x1, y, GRID))
        out.append(line(x, y, x + (4 if right else -4), y, color))
        out.append(
            g.text(
                tick_label(v, ticks),
                x + (7 if right else -7),
                y + TICK * 0.35,
                size=TICK,
                anchor="start" if right else "end",
                fill=color,
            )
        )
    widest = max(g.outline(tick_label(v, ticks), TICK).x1 for v in ticks)
    tx = x + 12 + widest + LABEL if right else x - 12 - widest
    out.append(
        g.text(title, tx, (f.y0 + f.y1) / 2, size=LABEL, anchor="middle", rotate=True, fill=color)
    )
    return out


def x_axis(g: Glyphs, f: Frame, ticks: Sequence[tuple[float, str]], title: str) -> list[str]:
    """``ticks``: (x in px, label)."""
    out = [line(f.x0, f.y0, f.x1, f.y0)]
    for x, label in ticks:
        out.append(line(x, f.y0, x, f.y0 + 4))
        out.append(g.text(label, x, f.y0 + 6 + TICK, size=TICK, anchor="middle"))
    if title:
        out.append(g.text(title, (f.x0 + f.x1) / 2, f.height - 6, size=LABEL, anchor="middle"))
    return out


def _bin_ticks(f: Frame, bins: Sequence[Row]) -> list[tuple[float, str]]:
    """Ticks on the ten bins' edges, labelled with p_low / p_high."""
    if not bins:
        return []
    edges = [(r["bin"], r["p_low"]) for r in bins] + [(bins[-1]["bin"] + 1, bins[-1]["p_high"])]
    return [(f.sx(b, 0, len(bins)), f"{p:.1f}") for b, p in edges]


def sentiment_distribution(bins: Sequence[Row], g: Glyphs) -> str:
    """Reviews per bin of p_positive; bins at or above 0.5 in the positive colour."""
    counts = [r["n_reviews"] for r in bins]
    ticks = nice_ticks(max(counts, default=0), integer=True)
    f = Frame(WIDTH, HEIGHT, left=64, right=16)
    n = len(bins)
    out = y_axis(g, f, ticks, "reviews 리뷰 수")
    for r in bins:
        x, x_next = f.sx(r["bin"] + 0.075, 0, n), f.sx(r["bin"] + 0.925, 0, n)
        y = f.sy(r["n_reviews"], ticks[0], ticks[-1])
        color = POSITIVE if r["p_low"] >= 0.5 else NEGATIVE
        out.append(rect(x, y, x_next - x, f.y0 - y, color, r["n_reviews"]))
    out += x_axis(g, f, _bin_ticks(f, bins), "p_positive 긍정 확률")
    return svg(f, "sentiment distribution", out)


def emotion_profile(emotions: Sequence[Row], top_n: int, g: Glyphs) -> str:
    """44 horizontal bars, strongest at the top (rows come strongest first); the first
    ``top_n`` in the accent colour."""
    row_h = 17
    names = [r["emotion"] for r in emotions]
    label_w = max((g.outline(s, TICK).x1 for s in names), default=0)
    f = Frame(WIDTH, int(row_h * max(len(emotions), 1) + 12 + 44), left=label_w + 16, right=16)
    out = []
    for i, r in enumerate(emotions):
        y = f.y1 + i * row_h
        w = f.sx(r["mean_intensity"], 0, 1) - f.x0
        color = ACCENT if i < top_n else NEUTRAL
        out.append(rect(f.x0, y + 2, w, row_h - 4, color, r["mean_intensity"]))
        out.append(
            g.text(r["emotion"], f.x0 - 6, y + row_h / 2 + TICK * 0.35, size=TICK, anchor="end")
        )
    out.append(line(f.x0, f.y0, f.x0, f.y1))
    ticks = [i / 5 for i in range(6)]
    out += x_axis(
        g, f, [(f.sx(v, 0, 1), f"{v:.1f}") for v in ticks], "mean intensity 평균 강도 (0–1)"
    )
    return svg(f, "emotion profile", out)


def _date_ticks(days: Sequence[date], first: date, span: int, f: Frame) -> list[tuple[float, str]]:
    if len(days) <= 8:
        picked = list(days)
    else:  # six evenly spaced dates
        picked = [date.fromordinal(first.toordinal() + round(span * i / 5)) for i in range(6)]
    fmt = "%m-%d" if span <= 180 else "%Y-%m"
    return [
        (
            f.sx(d.toordinal(), first.toordinal() - 0.5, first.toordinal() + span + 0.5),
            d.strftime(fmt),
        )
        for d in picked
    ]


def trend(days: Sequence[Row], g: Glyphs) -> str:
    """Reviews per day as bars (left axis) and the daily title score as a line (right axis,
    0–10), on a calendar axis: days without reviews are gaps."""
    xs: list[date] = [r["day"] for r in days]
    first = min(xs)
    span = max(xs).toordinal() - first.toordinal()
    lo, hi = first.toordinal() - 0.5, first.toordinal() + span + 0.5
    f = Frame(WIDTH, HEIGHT, left=64, right=64)
    counts = nice_ticks(max(r["n_reviews"] for r in days), integer=True)
    out = y_axis(g, f, counts, "reviews 리뷰 수")
    bar_w = max((f.x1 - f.x0) / (span + 1) * 0.8, 1.0)
    for r in days:
        cx = f.sx(r["day"].toordinal(), lo, hi)
        y = f.sy(r["n_reviews"], counts[0], counts[-1])
        out.append(rect(cx - bar_w / 2, y, bar_w, f.y0 - y, BAR, r["n_reviews"]))
    scores = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    out += y_axis(g, f, scores, "title score 점수 (0–10)", right=True, color=ACCENT, grid=False)
    pts = [
        (
            f.sx(r["day"].toordinal(), lo, hi),
            f.sy(r["title_score_0_10"], 0, 10),
            r["title_score_0_10"],
        )
        for r in days
        if r["title_score_0_10"] is not None
    ]
    if pts:
        coords = " ".join(f"{coord(x)},{coord(y)}" for x, y, _ in pts)
        out.append(
            f'<polyline fill="none" stroke="{ACCENT}" stroke-width="1.5" points="{coords}"/>'
        )
        if len(pts) <= 60:  # markers only while they stay apart
            out += [
                f'<circle cx="{coord(x)}" cy="{coord(y)}" r="2.5" fill="{ACCENT}"'
                f' data-value="{float(v)!r}"/>'
                for x, y, v in pts
            ]
    out += x_axis(g, f, _date_ticks(xs, first, span, f), "")
    return svg(f, "trend by day", out)


def source_distributions(dist: dict[str, list[Row]], g: Glyphs) -> str:
    """The sources' sentiment distributions side by side (share of each source's reviews)."""
    shown = [s for s in NAMES if s in dist]
    top = max((r["share"] for s in shown for r in dist[s]), default=0)
    ticks = nice_ticks(top)
    f = Frame(WIDTH, HEIGHT, left=64, right=16, top=28)
    bins = dist[shown[0]] if shown else []
    n = len(bins) or 10
    out = y_axis(g, f, ticks, "share of the source's reviews")
    width = 0.8 / max(len(shown), 1)
    for i, source in enumerate(shown):
        for r in dist[source]:
            left = r["bin"] + 0.1 + width * i
            x, x_next = f.sx(left, 0, n), f.sx(left + width, 0, n)
            y = f.sy(r["share"], ticks[0], ticks[-1])
            out.append(rect(x, y, x_next - x, f.y0 - y, SOURCE_COLORS[source], r["share"]))
        lx = f.x1 - 140 + 72 * i  # the legend, above the plot's right end
        out.append(rect(lx, 8, 10, 10, SOURCE_COLORS[source]))
        out.append(g.text(SOURCE_NAMES[source], lx + 14, 17, size=TICK))
    out += x_axis(g, f, _bin_ticks(f, bins), "p_positive 긍정 확률")
    return svg(f, "sentiment distributions per source", out)


SPARK_POINTS = 30  # the index's sparkline shows a title's last 30 days with reviews


def sparkline(values: Sequence[float | None], width: int = 120, height: int = 24) -> str:
    """A tiny polyline of the values (None skipped) on a fixed 0–10 scale, so lines compare
    across titles; the points it draws are listed (3 decimals) in ``data-points``. Pure string
    formatting: microseconds per title, for indexes of thousands of titles."""
    pts = [float(v) for v in values if v is not None]
    if not pts:
        return '<span class="muted">–</span>'
    step = width / max(len(pts) - 1, 1)
    ys = [coord(height - 2 - (min(max(v, 0.0), 10.0) / 10) * (height - 4)) for v in pts]
    if len(pts) == 1:
        coords = f"0,{ys[0]} {width},{ys[0]}"
    else:
        coords = " ".join(f"{coord(i * step)},{y}" for i, y in enumerate(ys))
    data = " ".join(f"{v:.3f}" for v in pts)
    return (
        f'<svg class="spark" width="{width}" height="{height}" role="img"'
        f' aria-label="daily title score" data-points="{data}">'
        f'<polyline fill="none" stroke="{ACCENT}" stroke-width="1.5" points="{coords}"/></svg>'
    )
