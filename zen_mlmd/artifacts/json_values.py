"""Python builtins <-> JSON text, with their exact Python types kept.

Plain JSON loses two things a pipeline step cares about: tuples come back as
lists, and a dict key such as ``"$tuple"`` could be confused with a marker.
The encoding stays plain JSON for the common case and only tags what JSON
cannot say:

- a tuple is written ``{"$tuple": [...]}``;
- a dict with a key starting with ``$`` is written ``{"$dict": {...}}`` so that
  no user key is ever read as a marker.

Floats keep their exact value (``repr`` round-trips), including ``nan``,
``inf`` and ``-inf``, which are written as the ``NaN``/``Infinity`` tokens
Python's and JavaScript's JSON readers accept. Ints stay ints, bools stay
bools. Only exact builtin types are accepted (not subclasses such as
``IntEnum`` or numpy scalars), because they would not come back as themselves.
"""
from __future__ import annotations

import json
from typing import Any

_TUPLE = "$tuple"
_DICT = "$dict"
_SCALARS = (type(None), bool, int, float, str)


def is_json_native(obj: object, _depth: int = 0) -> bool:
    """True if `obj` round-trips exactly through `dumps`/`loads`.

    That is None, bool, int, float, str, and lists, tuples and dicts with str
    keys made of those, nested less than 500 levels deep.
    """
    if _depth > 500:
        return False
    kind = type(obj)
    if kind in _SCALARS:
        return True
    if kind is list or kind is tuple:
        return all(is_json_native(item, _depth + 1) for item in obj)
    if kind is dict:
        return all(
            type(key) is str and is_json_native(value, _depth + 1)
            for key, value in obj.items()
        )
    return False


def encode(obj: Any) -> Any:
    """The JSON-ready form of a JSON-native object (see the module docstring)."""
    kind = type(obj)
    if kind in _SCALARS:
        return obj
    if kind is list:
        return [encode(item) for item in obj]
    if kind is tuple:
        return {_TUPLE: [encode(item) for item in obj]}
    if kind is dict:
        encoded = {key: encode(value) for key, value in obj.items()}
        if any(key.startswith("$") for key in obj):
            return {_DICT: encoded}
        return encoded
    raise TypeError(f"{kind.__module__}.{kind.__qualname__} is not JSON-native")


def decode(data: Any) -> Any:
    """The inverse of `encode`."""
    if isinstance(data, list):
        return [decode(item) for item in data]
    if isinstance(data, dict):
        if len(data) == 1 and _TUPLE in data:
            return tuple(decode(item) for item in data[_TUPLE])
        if len(data) == 1 and _DICT in data:
            return {key: decode(value) for key, value in data[_DICT].items()}
        return {key: decode(value) for key, value in data.items()}
    return data


def dumps(obj: Any) -> str:
    """JSON text for a JSON-native object; raises TypeError for anything else."""
    if not is_json_native(obj):
        kind = type(obj)
        raise TypeError(
            f"{kind.__module__}.{kind.__qualname__} (or something inside it) is not "
            "JSON-native: only None, bool, int, float, str, list, tuple and dicts "
            "with str keys are"
        )
    return json.dumps(encode(obj), ensure_ascii=False, allow_nan=True)


def loads(text: str) -> Any:
    """The object `dumps` wrote."""
    return decode(json.loads(text))
