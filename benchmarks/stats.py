"""Medians, percentiles and plain-text tables."""
from __future__ import annotations

import math
from typing import Iterable, Sequence


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method); nan for no values."""
    data = sorted(values)
    if not data:
        return math.nan
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summary(values_s: Sequence[float]) -> dict:
    """Median and p90 in milliseconds of durations given in seconds."""
    ms = [v * 1000.0 for v in values_s]
    return {"median_ms": median(ms), "p90_ms": percentile(ms, 90), "n": len(ms)}


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.{digits}f}"
    return str(value)


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def table(title: str, header: Sequence[str], rows: Iterable[Sequence]) -> str:
    rows = [[fmt(c) if not isinstance(c, str) else c for c in row] for row in rows]
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    line = "+".join("-" * (w + 2) for w in widths)
    out = [f"\n{title}", line]
    out.append("|".join(f" {h:<{w}} " for h, w in zip(header, widths)))
    out.append(line)
    for row in rows:
        out.append("|".join(f" {c:>{w}} " if i else f" {c:<{w}} "
                            for i, (c, w) in enumerate(zip(row, widths))))
    out.append(line)
    return "\n".join(out)
