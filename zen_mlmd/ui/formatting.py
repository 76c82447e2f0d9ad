"""How values look on the pages: times, durations, parameters, and secrets masked.

Registered as Jinja filters by `zen_mlmd.ui.app`. Masking is the last line
of defence: zen_mlmd never records a secret literal itself, but parameters,
properties and configs written by users or other tools might hold one.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import re
from typing import Any, Mapping

from zen_mlmd.secrets import is_secret_key

MASK = "••••••"
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@", re.I)


def masked(value: Any, key: object = "") -> Any:
    """`value` with secrets masked: values under secret-looking keys, passwords inside URLs."""
    if key and is_secret_key(key) and value not in (None, "", {}, []):
        return MASK
    if isinstance(value, str):
        return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", value)
    if isinstance(value, Mapping):
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    return value


def time(value: _dt.datetime | None) -> str:
    """A UTC time as ``2024-05-01 12:03:04``; "-" for none."""
    if value is None:
        return "-"
    return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def iso(value: _dt.datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def duration(value: _dt.timedelta | float | None) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 07 min``; "-" for none."""
    if value is None:
        return "-"
    seconds = value.total_seconds() if isinstance(value, _dt.timedelta) else float(value)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def value(item: Any, limit: int = 200) -> str:
    """A parameter, property or metric as short text (floats to 6 significant digits)."""
    if isinstance(item, bool) or item is None:
        text = json.dumps(item)
    elif isinstance(item, float):
        text = "nan" if math.isnan(item) else f"{item:.6g}"
        if not any(c in text for c in ".eEn"):  # a float stays visibly a float
            text += ".0"
    elif isinstance(item, (int, str)):
        text = str(item)
    else:
        try:
            text = json.dumps(item, default=str, ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError):
            text = str(item)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def short_type(type_name: str) -> str:
    """The last part of a dotted type name: ``zen_mlmd.Model`` -> ``Model``."""
    return type_name.rsplit(".", 1)[-1] if type_name else ""


def size(n: int | None) -> str:
    """A byte count as ``812 B``, ``4.2 KB``, ``1.3 MB``."""
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


FILTERS = {
    "masked": masked, "time": time, "iso": iso, "duration": duration, "value": value,
    "short_type": short_type, "size": size,
}
