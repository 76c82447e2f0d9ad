"""Python values <-> MLMD `Value` protos, exactly and filterably.

Top-level scalars are stored as native typed values (`int_value`,
`double_value`, `string_value`, `bool_value`) so they can be used in MLMD
filter queries (`custom_properties.`param.lr`.double_value > 0.1`) — when
every backend stores them exactly: MLMD's `int_value` column is 32-bit on
MySQL and PostgreSQL, it writes a double into SQL with six decimals
(`1e-07` is stored as 0.0, `0.123456789` as 0.123457), NaN/infinity are
not valid SQL, a string is cut at its first NUL character, and on
PostgreSQL a string with a backslash makes the SQL invalid (MLMD quotes it
twice: `'E'a\\b''`). Such values are tagged (below); a Struct is stored
as a serialized proto, exactly. Nested values (dicts, lists) go into
`struct_value`. A protobuf Struct only knows doubles, strings, bools and
null, so what it cannot hold exactly is tagged with a one-key marker object
and restored on read:

* ints that are not exactly representable as a double, and floats whose
  value is integral (so that `1` and `1.0` keep their types);
* top-level ints outside the 32-bit range, floats that SQL cannot carry
  exactly and strings with a NUL character or a backslash (see above);
* top-level `None` and lists (a Struct value must be a map).

A string or struct whose text in MLMD's `string_value` column (structs are
kept there as base64) would be longer than `INDEXED_TEXT_LIMIT` goes into
`proto_value` instead, as a `google.protobuf.Struct` in an `Any` (a string
tagged as above): on PostgreSQL MLMD indexes the whole `string_value`, and
an index entry over 2704 bytes makes the write fail. No backend indexes
`proto_value`.

Tuples are stored as lists and read back as lists.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

from google.protobuf import struct_pb2
from google.protobuf.message import DecodeError
from ml_metadata.proto import metadata_store_pb2

from zen_mlmd.errors import ConfigError

TAG = "__zen_mlmd__"
#: Bytes of `string_value` text above which a value is kept in `proto_value`
#: (PostgreSQL's b-tree entries hold at most 2704 bytes, names included).
INDEXED_TEXT_LIMIT = 2000
_STRUCT_PREFIX = len("mlmd-struct::")
_INT32 = (-(2**31), 2**31 - 1)
_EXACT_DOUBLE_INT = 2**53


def to_value(value: Any, name: str = "value") -> metadata_store_pb2.Value:
    """Encode a Python value as an MLMD Value.

    Raises:
        ConfigError: for values that are not JSON-like (bytes, objects, sets,
            dicts with non-string keys); `name` is used as the field name.
    """
    out = metadata_store_pb2.Value()
    write_value(out, value, name)
    return out


def write_value(out: metadata_store_pb2.Value, value: Any, name: str = "value") -> None:
    """`to_value`, written into `out` (an empty Value, e.g. a new map entry) in place.

    Raises:
        ConfigError: as `to_value`; `out` is then left unchanged.
    """
    kind = type(value)
    if kind is str and plain_string_fits(value):  # the common cases first, by exact type
        out.string_value = value
    elif isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int) and _INT32[0] <= value <= _INT32[1]:
        out.int_value = value
    elif isinstance(value, float) and sql_exact(value):
        out.double_value = value
    elif kind is not str and isinstance(value, str) and plain_string_fits(value):
        out.string_value = value
    else:
        struct = _struct_from_dict(value, name) if isinstance(value, Mapping) else _tagged_struct(value, name)
        out.CopyFrom(struct_to_value(struct))


def plain_string_fits(text: str) -> bool:
    """Whether every backend stores `text` exactly as a `string_value` (see the module docstring)."""
    return "\x00" not in text and "\\" not in text and _indexable(text)


def struct_to_value(struct: struct_pb2.Struct) -> metadata_store_pb2.Value:
    """`struct` as a `struct_value`, or in `proto_value` where its text would not fit MLMD's index."""
    out = metadata_store_pb2.Value()
    if _STRUCT_PREFIX + (struct.ByteSize() + 2) // 3 * 4 <= INDEXED_TEXT_LIMIT:
        out.struct_value.CopyFrom(struct)
    else:
        out.proto_value.Pack(struct)
    return out


def _indexable(text: str) -> bool:
    return len(text) * 4 <= INDEXED_TEXT_LIMIT or len(text.encode()) <= INDEXED_TEXT_LIMIT


def from_value(value: metadata_store_pb2.Value) -> Any:
    """Decode an MLMD Value written by `to_value` (or by another MLMD writer)."""
    kind = value.WhichOneof("value")
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return _from_struct_value(struct_pb2.Value(struct_value=value.struct_value))
    if kind == "proto_value":
        packed = value.proto_value
        try:
            if packed.Is(struct_pb2.Struct.DESCRIPTOR):  # a long value (see above)
                struct = struct_pb2.Struct()
                packed.Unpack(struct)
                return _from_struct_value(struct_pb2.Value(struct_value=struct))
            if packed.Is(struct_pb2.ListValue.DESCRIPTOR):  # a native output's facts
                listed = struct_pb2.ListValue()
                packed.Unpack(listed)
                return _from_struct_value(struct_pb2.Value(list_value=listed))
        except DecodeError:  # bytes that are not the type they claim (a forged record): opaque
            pass
        return {"@type": packed.type_url}
    return None


def _tagged_struct(value: Any, name: str) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    if value is None:
        struct.update({TAG: "none"})
    elif isinstance(value, (list, tuple)):
        struct.fields[TAG].string_value = "list"
        struct.fields["items"].CopyFrom(_to_struct_value(value, name))
    elif isinstance(value, int):
        struct.update({TAG: "int", "value": str(value)})
    elif isinstance(value, float):
        struct.fields[TAG].string_value = "float"
        struct.fields["value"].number_value = value  # binary in the proto: exact
    elif isinstance(value, str):
        struct.update({TAG: "str", "value": value})
    else:
        raise _unsupported(value, name)
    return struct


def sql_exact(value: float) -> bool:
    """Whether MLMD's SQL text carries `value` exactly.

    MLMD writes six decimals, and SQLite reads the column back with 15
    significant digits: both must leave the value unchanged.
    """
    return math.isfinite(value) and float(f"{float(f'{value:.6f}'):.15g}") == value


def _struct_from_dict(value: Mapping, name: str) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    for key, item in value.items():
        if not isinstance(key, str):
            raise ConfigError(
                name, key, "dictionary keys must be strings to be recorded",
                "convert the keys to str",
            )
        if key == TAG:
            raise ConfigError(name, key, "this key is reserved", "rename the key")
        struct.fields[key].CopyFrom(_to_struct_value(item, f"{name}.{key}"))
    return struct


def _to_struct_value(value: Any, name: str) -> struct_pb2.Value:
    out = struct_pb2.Value()
    if value is None:
        out.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        if abs(value) <= _EXACT_DOUBLE_INT:
            out.number_value = value
        else:
            out.struct_value.update({TAG: "int", "value": str(value)})
    elif isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            out.struct_value.fields[TAG].string_value = "float"
            out.struct_value.fields["value"].number_value = value
        else:
            out.number_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, Mapping):
        out.struct_value.CopyFrom(_struct_from_dict(value, name))
    elif isinstance(value, (list, tuple)):
        out.list_value.SetInParent()
        for index, item in enumerate(value):
            out.list_value.values.add().CopyFrom(_to_struct_value(item, f"{name}[{index}]"))
    else:
        raise _unsupported(value, name)
    return out


def _from_struct_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "null_value":
        return None
    if kind == "bool_value":
        return value.bool_value
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        # Integral doubles were ints: floats with integral values are tagged.
        if math.isfinite(number) and number == int(number):
            return int(number)
        return number
    if kind == "list_value":
        return [_from_struct_value(item) for item in value.list_value.values]
    if kind == "struct_value":
        fields = value.struct_value.fields
        tagged = _from_tag(fields)
        if tagged is not _PLAIN:
            return tagged
        return {key: _from_struct_value(item) for key, item in fields.items()}
    return None


_PLAIN = object()
#: tag -> (its payload's key, the payload's kind), as `to_value` writes them
_TAG_PAYLOAD = {"int": ("value", "string_value"), "float": ("value", "number_value"),
                "str": ("value", "string_value"), "list": ("items", "list_value")}
_INT_TEXT = re.compile(r"-?[0-9]+")


def _from_tag(fields) -> Any:
    """The value a `to_value` tag stands for, or `_PLAIN` for a map that is not one.

    Anyone who can write the store can write any struct: a tag `to_value`
    never writes (no payload, a payload of another kind, an int that is not
    one) is read as the plain map it is. The map is only read (a missing
    key is not looked up, which would add it).
    """
    tag = fields[TAG].string_value if TAG in fields else None
    if tag == "none":
        return None
    key, kind = _TAG_PAYLOAD.get(tag, (None, None))
    if key is None or key not in fields or fields[key].WhichOneof("kind") != kind:
        return _PLAIN
    payload = fields[key]
    if tag == "int":
        text = payload.string_value
        if not _INT_TEXT.fullmatch(text):
            return _PLAIN
        try:
            return int(text)
        except ValueError:  # more digits than Python converts (`to_value` could not write it)
            return _PLAIN
    if tag == "float":
        return float(payload.number_value)
    if tag == "str":
        return payload.string_value
    return _from_struct_value(payload)

def _unsupported(value: Any, name: str) -> ConfigError:
    return ConfigError(
        name, f"<{type(value).__name__}>",
        "only None, bool, int, float, str, lists and dicts of them can be recorded as parameters",
        "pass a JSON-like value, or make it a step output so a materializer stores it",
    )
