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


def masked_text(text: str) -> str:
    """Free text naming values (a cache decision's reasons) with the values of secrets hidden.

    The reasons say what changed with its old and new values, each after
    its name: ``parameters changed (api_token: 'a' -> 'b', rows: 1 -> 2)``,
    ``global API_KEY changed: 'a' -> 'b'``, ``global CONFIG changed:
    password 'a' -> 'b'``. The text is cut into changes at ``, `` outside
    quoted strings; in a change that names something secret-looking
    (`is_secret_key`), whatever follows the name is masked, and so is every
    following piece that does not start with a name of its own (the rest of
    an unquoted value holding ``, ``). Passwords in URLs are masked as by
    `masked`.
    """
    shown: list[str] = []
    hidden: list[str] | None = None  # the masked text of the secret being read, if any
    for change in _changes(masked(str(text))):
        name = next((m for m in _NAME.finditer(change) if is_secret_key(m.group())), None)
        if name is None and hidden is not None and not _NAMED_CHANGE.match(change):
            hidden.append(change)  # the rest of a secret's value
            continue
        if hidden is not None:
            shown[-1] += _closers("".join(hidden))
            hidden = None
        if name is None:
            shown.append(change)
            continue
        rest = change[name.end():]
        kept = _AFTER_NAME.match(rest).group()
        if not rest[len(kept):]:
            shown.append(change)  # names a secret, shows no value
            continue
        shown.append(change[:name.end()] + kept + MASK)
        hidden = [rest[len(kept):]]
    if hidden is not None:
        shown[-1] += _closers("".join(hidden))
    return ", ".join(shown)


def _closers(hidden: str) -> str:
    """The brackets closed in `hidden` that were opened before it, so that the text stays balanced."""
    depth, closers = 0, ""
    for char in hidden:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth:
                depth -= 1
            else:
                closers += char
    return closers


#: A name, wherever it stands (quoted dict keys too); dotted names are cut at dots.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
#: What stays between a secret's name and its masked value: a closing quote, "changed", ":", "(".
_AFTER_NAME = re.compile(r"['\"]?(?: changed)?:?\s*\(?")
#: A change that starts with a name (``rows: 1 -> 2``, ``depth 3 -> 4``), not a value's rest.
_NAMED_CHANGE = re.compile(r"[A-Za-z_][\w.\-\[\]]*:? ")


def _changes(text: str) -> list[str]:
    """`text` cut at each ``, `` that is not inside a quoted string."""
    parts, start, quote, i = [], 0, "", 0
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"" and (i == 0 or text[i - 1] in " ([{:,"):
            quote = char
        elif text.startswith(", ", i):
            parts.append(text[start:i])
            start = i + 2
            i += 1
        i += 1
    parts.append(text[start:])
    return parts


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
