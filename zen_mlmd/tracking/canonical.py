"""A canonical, deterministic encoding of the plain data a step's code can read.

Equal data gives equal bytes in every process (no `hash()`, no memory
addresses), and data that can behave differently gives different bytes:

* every value carries its type: ``1``, ``1.0`` and ``True`` differ, and so do
  a tuple and a list, a str and its subclass;
* floats are encoded exactly (``float.hex``): ``-0.0`` differs from ``0.0``
  (``1 / x`` tells them apart); every NaN encodes the same, so that a NaN
  constant does not make a step miss every time;
* dicts keep their insertion order, which code iterating them sees; sets and
  frozensets are sorted by their items' encodings, since their order is
  not the program's to choose (it follows string hashing, random per process);
* dataclasses (their fields and any other instance attributes) and pydantic
  models (their fields, extra and private values), enums (type, name, value), named tuples and subclasses of the built-in types carry their
  type's identity; numpy arrays and pandas objects are encoded by content
  (dtype, shape, index, values). numpy and pandas are never imported here: an
  object of theirs can only exist once they are;
* a few standard-library value types (`decimal.Decimal`, `fractions.Fraction`,
  `datetime` values, `pathlib` paths, compiled `re` patterns, `uuid.UUID`,
  ``range``) by their exact text.

Anything else is handed to the `reference` callback (functions, classes,
modules and other code, which the fingerprint names and follows); what it
does not accept raises `Unfingerprintable` with where it sits in the value.
"""
from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import fractions
import hashlib
import math
import pathlib
import re
import uuid
from typing import Any, Callable, Optional

Reference = Callable[[Any], Optional[bytes]]

_VALUE_TYPES = (decimal.Decimal, fractions.Fraction, datetime.date, datetime.time,
                datetime.timedelta, datetime.timezone, uuid.UUID, range)
_MAX_DEPTH = 200


class Unfingerprintable(Exception):
    """A value with no canonical encoding.

    Attributes:
        value: the offending object.
        path: where it sits inside the value that was encoded (``"['client']"``,
            ``".model"``; empty at the top).
    """

    def __init__(self, value: Any, path: str = "", why: str = ""):
        self.value = value
        self.path = path
        self.why = why
        super().__init__(f"{type_name(value)}{f' at {path}' if path else ''}")


def type_name(value: Any) -> str:
    """`module.QualName` of a value's type (``dict`` for built-ins)."""
    cls = value if isinstance(value, type) else type(value)
    module = getattr(cls, "__module__", "") or ""
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module == "builtins" else f"{module}.{name}"


class Encoder:
    """Encodes values; `reference(obj)` gives the identity bytes of code objects.

    Args:
        reference: called for objects that are not plain data; returns their
            identity (and may schedule them to be followed), or None when the
            object is not something it knows either.
    """

    def __init__(self, reference: Reference):
        self._reference = reference

    def digest(self, value: Any) -> bytes:
        """sha256 of the encoding of `value`; raises `Unfingerprintable`."""
        out = bytearray()
        self._encode(value, out, "", [])
        return hashlib.sha256(out).digest()

    def encode(self, value: Any) -> bytes:
        out = bytearray()
        self._encode(value, out, "", [])
        return bytes(out)

    # -- the encoding --------------------------------------------------------------
    def _encode(self, v: Any, out: bytearray, path: str, active: list) -> None:
        t = type(v)
        if v is None:
            out += b"N"
        elif t is bool:
            out += b"T" if v else b"F"
        elif t is int:
            out += b"i%d;" % v
        elif t is float:
            out += b"f" + _float(v)
        elif t is str:
            _text(out, b"s", v)
        elif t is bytes:
            out += b"b%d:" % len(v) + v
        elif t in (list, tuple, dict, set, frozenset, bytearray, complex):
            self._builtin(t, v, out, path, active)
        else:
            self._other(v, out, path, active)

    def _builtin(self, t: type, v: Any, out: bytearray, path: str, active: list) -> None:
        if t is complex:
            out += b"c" + _float(v.real) + _float(v.imag)
        elif t is bytearray:
            out += b"y%d:" % len(v) + bytes(v)
        else:
            self._container(v, out, path, active, b"")

    def _container(self, v: Any, out: bytearray, path: str, active: list, prefix: bytes) -> None:
        if any(item is v for item in active):
            out += b"R%d;" % [id(a) for a in active].index(id(v))  # a cycle
            return
        if len(active) >= _MAX_DEPTH:
            raise Unfingerprintable(v, path, "nested too deeply")
        active.append(v)
        try:
            if isinstance(v, dict):
                out += prefix + b"d%d{" % len(v)
                for key, value in v.items():
                    self._encode(key, out, path, active)
                    self._encode(value, out, path + _key_path(key), active)
                out += b"}"
            elif isinstance(v, (set, frozenset)):
                items = sorted(self._item(item, path, active) for item in v)
                out += prefix + (b"S" if isinstance(v, set) else b"Z") + b"%d{" % len(items)
                out += b"".join(items) + b"}"
            else:
                out += prefix + (b"l" if isinstance(v, list) else b"t") + b"%d[" % len(v)
                for i, item in enumerate(v):
                    self._encode(item, out, f"{path}[{i}]", active)
                out += b"]"
        finally:
            active.pop()

    def _item(self, item: Any, path: str, active: list) -> bytes:
        out = bytearray()
        self._encode(item, out, path + "{}", active)
        return bytes(out)

    def _other(self, v: Any, out: bytearray, path: str, active: list) -> None:
        t = type(v)
        module = getattr(t, "__module__", "") or ""
        if module.startswith(("numpy", "pandas")):
            from zen_mlmd.tracking.canonical_arrays import encode_array_like

            if encode_array_like(self, v, out, path, active):
                return
        if isinstance(v, enum.Enum):
            out += b"E" + self._type_ref(t, v, path)
            _text(out, b"s", str(v._name_))
            self._encode(v._value_, out, path + ".value", active)
        elif dataclasses.is_dataclass(v) and not isinstance(v, type):
            self._dataclass(v, out, path, active, [f.name for f in dataclasses.fields(v)])
        elif hasattr(t, "__pydantic_fields__") and isinstance(getattr(v, "__dict__", None), dict):
            # a pydantic model: its fields are its __dict__, plus extra and private values
            self._dataclass(v, out, path, active, [], ("__pydantic_extra__", "__pydantic_private__"))
        elif isinstance(v, (int, float, str, bytes, complex)):  # subclasses of plain types
            out += b"<" + self._type_ref(t, v, path) + b">"
            base = next(b for b in (bool, int, float, str, bytes, complex) if isinstance(v, b))
            self._encode(base(v), out, path, active)
        elif isinstance(v, (list, tuple, dict, set, frozenset)):  # named tuples, dict subclasses
            prefix = b"<" + self._type_ref(t, v, path) + b">"
            self._container(v, out, path, active, prefix)
        elif isinstance(v, _VALUE_TYPES) or (isinstance(v, pathlib.PurePath)):
            _text(out, b"V", f"{type_name(v)}:{v!r}")
        elif isinstance(v, re.Pattern):
            out += b"P"
            self._encode((v.pattern, v.flags), out, path, active)
        else:
            identity = self._reference(v)
            if identity is None:
                raise Unfingerprintable(v, path)
            out += b"@%d:" % len(identity) + identity

    def _dataclass(self, v: Any, out: bytearray, path: str, active: list, names: list[str],
                   more: tuple[str, ...] = ()) -> None:
        """Type, then `names`, the other instance attributes and the `more` ones."""
        out += b"D" + self._type_ref(type(v), v, path)
        extra = [n for n in getattr(v, "__dict__", {}) if n not in names] + list(more)
        out += b"%d{" % (len(names) + len(extra))
        if any(item is v for item in active):
            out += b"R;"
            return
        active.append(v)
        try:
            for name in names + extra:
                _text(out, b"s", name)
                self._encode(getattr(v, name), out, f"{path}.{name}", active)
        finally:
            active.pop()
        out += b"}"

    def _type_ref(self, cls: type, value: Any, path: str) -> bytes:
        identity = self._reference(cls)
        if identity is None:
            raise Unfingerprintable(value, path)
        return b"%d:" % len(identity) + identity


def _float(x: float) -> bytes:
    if math.isnan(x):
        return b"nan;"
    return x.hex().encode() + b";"


def _text(out: bytearray, tag: bytes, s: str) -> None:
    data = s.encode("utf-8", "surrogatepass")
    out += tag + b"%d:" % len(data) + data


def _key_path(key: Any) -> str:
    return f"[{key!r}]"


def text(out: bytearray, tag: bytes, s: str) -> None:
    """Appends a tagged, length-prefixed string (for the array module)."""
    _text(out, tag, s)
