"""Python builtins <-> JSON text, with their exact Python types kept.

Plain JSON loses two things a pipeline step cares about: tuples come back as
lists, and a dict key such as ``"$tuple"`` could be confused with a marker.
The encoding stays plain JSON for the common case and only tags what JSON
cannot say:

- a tuple is written ``{"$tuple": [...]}``;
- a dict with a key starting with ``$`` is written ``{"$dict": {...}}`` so that
  no user key is ever read as a marker.

- a NumPy bool, integer or float scalar (a metric computed with NumPy) is
  written ``{"$numpy": ["float64", 0.93]}``: its dtype name and its exact
  Python value, so it reads back as the same NumPy type and value.

Floats keep their exact value (``repr`` round-trips), including ``nan``,
``inf`` and ``-inf``, which are written as the ``NaN``/``Infinity`` tokens
Python's and JavaScript's JSON readers accept. Ints stay ints, bools stay
bools. Only exact builtin types and those NumPy scalars are accepted (not
subclasses such as ``IntEnum``, nor ``longdouble`` or complex scalars),
because anything else would not come back as itself.
"""
from __future__ import annotations

import json
import sys
from typing import Any

_TUPLE = "$tuple"
_DICT = "$dict"
_NUMPY = "$numpy"
#: One encoder for every call (`json.dumps` with options builds one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=True)
_SCALARS = (type(None), bool, int, float, str)
#: NumPy scalar types whose `.item()` is a Python value that converts back
#: exactly (float16/32 widen to a Python float without loss).
_NUMPY_SCALARS = frozenset({
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64",
})


def _numpy_dtype(obj: object) -> str | None:
    """The dtype name of a NumPy scalar kept exactly by the `$numpy` tag, else None.

    numpy is not imported here: an object of its types exists only once it is.
    """
    kind = type(obj)
    if kind.__module__ != "numpy" or kind.__name__ not in _NUMPY_SCALARS:
        return None
    numpy = sys.modules["numpy"]
    # an alias type with the same dtype (np.longlong beside np.int64) would read back as the other
    return kind.__name__ if numpy.dtype(kind.__name__).type is kind else None


def is_json_native(obj: object, _depth: int = 0) -> bool:
    """True if `obj` round-trips exactly through `dumps`/`loads`.

    That is None, bool, int, float, str, NumPy bool, integer and float16/32/64
    scalars, and lists, tuples and dicts with str keys made of those, nested
    at most 500 levels deep in the JSON text (a tuple, or a dict with a key
    starting with ``$``, takes two: its tag and its items).
    """
    if _depth > 500:
        return False
    kind = type(obj)
    if kind in _SCALARS:
        return True
    child = _depth + 1  # the JSON depth of its items: a tag is one level more
    if kind is list or kind is tuple:
        items = obj
        child += kind is tuple
    elif kind is dict:
        for key in obj:
            if type(key) is not str:
                return False
            if key.startswith("$"):
                child = _depth + 2
        items = obj.values()
    else:
        return _numpy_dtype(obj) is not None
    if child > 500 and items:
        return False
    for item in items:  # scalars checked here: no call per leaf
        if type(item) not in _SCALARS and not is_json_native(item, child):
            return False
    return True


def _plain(obj: object, _depth: int = 0) -> bool:
    """True if `obj` is plain JSON already: `encode` would return an equal copy of it.

    Lists, and dicts with str keys not starting with ``$``, of None, bool,
    int, float and str (no tuple, NumPy scalar or marker-like key).
    """
    if _depth > 500:
        return False
    kind = type(obj)
    if kind is list:
        items = obj
    elif kind is dict:
        for key in obj:
            if type(key) is not str or key.startswith("$"):
                return False
        items = obj.values()
    else:
        return kind in _SCALARS
    if _depth >= 500 and items:  # its items would be 501 levels deep
        return False
    for item in items:  # scalars checked here: no call per leaf
        if type(item) not in _SCALARS and not _plain(item, _depth + 1):
            return False
    return True


def encode(obj: Any, _depth: int = 0) -> Any:
    """The JSON-ready form of a JSON-native object (see the module docstring).

    Loops rather than comprehensions: one Python frame per level, so that
    500 levels stay within Python's default recursion limit (so in `decode`).

    Raises:
        TypeError: `obj` is not JSON-native (see `is_json_native`).
    """
    if _depth > 500:
        raise TypeError("nested more than 500 levels deep")
    kind = type(obj)
    if kind in _SCALARS:
        return obj
    if kind is list or kind is tuple or kind is dict:
        if kind is dict and any(type(key) is not str for key in obj):
            raise TypeError("a dict key is not a str")
        tagged = kind is tuple or (kind is dict and any(key.startswith("$") for key in obj))
        child = _depth + 1 + tagged  # the JSON depth of its items
        if child > 500 and obj:
            raise TypeError("nested more than 500 levels deep")
    if kind is list or kind is tuple:
        items = []
        for item in obj:
            items.append(item if type(item) in _SCALARS else encode(item, child))
        return {_TUPLE: items} if kind is tuple else items
    if kind is dict:
        encoded = {}
        for key, value in obj.items():
            encoded[key] = value if type(value) in _SCALARS else encode(value, child)
        return {_DICT: encoded} if tagged else encoded
    dtype = _numpy_dtype(obj)
    if dtype is not None:
        return {_NUMPY: [dtype, obj.item()]}
    raise TypeError(f"{kind.__module__}.{kind.__qualname__} is not JSON-native")


def decode(data: Any) -> Any:
    """The inverse of `encode` (one Python frame per level, as `encode`)."""
    if isinstance(data, list):
        items = []
        for item in data:
            items.append(decode(item))
        return items
    if isinstance(data, dict):
        if len(data) == 1 and _TUPLE in data:
            items = []
            for item in data[_TUPLE]:
                items.append(decode(item))
            return tuple(items)
        if len(data) == 1 and _DICT in data:
            data = data[_DICT]
        elif len(data) == 1 and _NUMPY in data:
            import numpy

            dtype, value = data[_NUMPY]
            if dtype not in _NUMPY_SCALARS:
                raise ValueError(f"{dtype!r} is not a NumPy scalar type this format writes")
            return numpy.dtype(dtype).type(value)
        decoded = {}
        for key, value in data.items():
            decoded[key] = decode(value)
        return decoded
    return data


def dumps(obj: Any) -> str:
    """JSON text for a JSON-native object; raises TypeError for anything else."""
    if _plain(obj):  # the common case: no tags, so no copy to build
        return _ENCODER.encode(obj)
    try:
        encoded = encode(obj)
    except TypeError as exc:
        kind = type(obj)
        raise TypeError(
            f"{kind.__module__}.{kind.__qualname__} (or something inside it) is not "
            f"JSON-native ({exc}): only None, bool, int, float, str, NumPy bool/int/float "
            "scalars, list, tuple and dicts with str keys are"
        ) from None
    return _ENCODER.encode(encoded)


def loads(text: str) -> Any:
    """The object `dumps` wrote."""
    return decode(json.loads(text))
