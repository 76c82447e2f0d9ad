"""A metric over time as an inline SVG line chart, drawn on the server (no chart library)."""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Sequence
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 900, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 50


@dataclass(frozen=True)
class Point:
    """One run's value of the metric: when the run started, the value, where its page is."""

    time: _dt.datetime
    value: float
    run: str
    url: str
    highlighted: bool = False


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (both finite).

    A span too wide or too narrow for a float to step through (near the
    float limits) gets the two ends as ticks.
    """
    if high == low:
        span = abs(high) or 1.0
        low, high = low - span / 2, high + span / 2
    raw = (high - low) / max(count - 1, 1)
    if not math.isfinite(raw) or raw <= 0:
        return [low, high]
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def line_chart(points: Sequence[Point], metric: str) -> str:
    """An SVG chart of `points` (oldest left); each point links to its run and says its value.

    Points whose value is NaN or infinite have no place on an axis: they are
    left out (callers say how many, see `finite`); "" when no point is left.
    """
    points = sorted(finite(points), key=lambda p: p.time)
    if not points:
        return ""
    values = [p.value for p in points]
    ticks = nice_ticks(min(values), max(values))
    low, high = ticks[0], ticks[-1]
    start, end = points[0].time.timestamp(), points[-1].time.timestamp()
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(point: Point) -> float:
        if end == start:
            return LEFT + plot_w / 2 if len(points) == 1 else LEFT + plot_w * points.index(point) / (len(points) - 1)
        return LEFT + plot_w * (point.time.timestamp() - start) / (end - start)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - low) / (high - low))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label={quoteattr(f"{metric} over time")} class="metric-chart">']
    for tick in ticks:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="#e3e8ee"/><text x="{LEFT - 8}" y="{y(tick) + 4:.1f}" text-anchor="end" '
                     f'font-size="11" fill="#66788a">{escape(_number(tick))}</text>')
    for point in (points[0], points[-1]) if len(points) > 1 else points[:1]:
        anchor = "start" if point is points[0] and len(points) > 1 else "end" if len(points) > 1 else "middle"
        parts.append(f'<text x="{x(point):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="{anchor}" font-size="11" '
                     f'fill="#66788a">{escape(point.time.strftime("%Y-%m-%d %H:%M"))}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="12" '
                 f'fill="#1f2933">{escape(metric)} by run start time (UTC)</text>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{x(p):.1f},{y(p.value):.1f}" for i, p in enumerate(points))
    parts.append(f'<path d="{path}" fill="none" stroke="#1a56db" stroke-width="2"/>')
    for point in points:
        color = "#f57f17" if point.highlighted else "#1a56db"
        radius = 6 if point.highlighted else 4
        title = f"{point.run}: {_number(point.value)} ({point.time.strftime('%Y-%m-%d %H:%M:%S')})"
        parts.append(f'<a href={quoteattr(point.url)}><circle cx="{x(point):.1f}" cy="{y(point.value):.1f}" '
                     f'r="{radius}" fill="{color}" class="point" data-run={quoteattr(point.run)} '
                     f'data-value="{point.value!r}"><title>{escape(title)}</title></circle></a>')
    parts.append("</svg>")
    return "".join(parts)


def finite(points: Sequence[Point]) -> list[Point]:
    """The points whose value can be drawn (not NaN, not infinite)."""
    return [p for p in points if math.isfinite(p.value)]


def _number(value: float) -> str:
    return f"{value:.6g}"
