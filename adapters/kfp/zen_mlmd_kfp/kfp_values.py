"""MLMD values as Kubeflow Pipelines v2 writes them.

* An artifact's metadata: `metadata.StructValueToMLMDValue` in kubeflow/pipelines
  `backend/src/v2/metadata/converter.go`: every number a `double_value`, a
  bool an `int_value` (0/1), a string a `string_value`, a list
  `{"list": [...]}` and a dict `{"struct": {...}}` in a `struct_value`. The
  UI shows a `system.Metrics` artifact's numbers as scalar metrics.
* Execution properties (`backend/src/v2/metadata/client.go`, `CreateExecution`):
  ids and iteration numbers as `int_value`, names as `string_value`,
  `inputs` / `outputs` as a `struct_value` of JSON values.

Except where a backend could not store the value that way (KFP itself runs
MLMD on MySQL only): on PostgreSQL, MLMD indexes the whole text of a
`string_value` (structs are kept there as base64), an index entry over 2704
bytes fails the write, and a backslash makes MLMD's SQL invalid. Such a
string gets zen_mlmd's exact encoding, and such a struct goes into
`proto_value` (`zen_mlmd.mlmd.values`), on every backend alike: zen_mlmd's
readers read both, the KFP UI does not show them.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from google.protobuf import struct_pb2
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd.values import plain_string_fits, struct_to_value, to_value


def metadata_value(value: Any) -> pb.Value:
    """One artifact metadata value, as KFP's launcher records it."""
    out = pb.Value()
    if isinstance(value, bool):
        out.int_value = int(value)
    elif isinstance(value, (int, float)) and math.isfinite(value):
        out.double_value = float(value)
    elif isinstance(value, str) and plain_string_fits(value):
        out.string_value = value
    elif isinstance(value, Mapping):
        out.CopyFrom(_struct({"struct": _json(value)}))
    elif isinstance(value, (list, tuple)):
        out.CopyFrom(_struct({"list": _json(list(value))}))
    else:  # NaN, infinity, objects, strings no backend-neutral string_value holds: zen_mlmd's exact form
        out.CopyFrom(to_value(value))
    return out


def struct_value(values: Mapping[str, Any]) -> pb.Value:
    """A plain protobuf Struct (JSON numbers), as KFP writes `inputs` and `outputs`."""
    return _struct(_json(dict(values)))


def _struct(data: Mapping[str, Any]) -> pb.Value:
    struct = struct_pb2.Struct()
    struct.update(data)
    return struct_to_value(struct)


def set_execution_properties(target, values: Mapping[str, Any]) -> None:
    """Execution custom properties as KFP types them; None is skipped.

    Ints beyond 32 bits (MLMD's int column on MySQL and PostgreSQL) get
    zen_mlmd's exact encoding; dicts become plain Structs.
    """
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            target[key].bool_value = value
        elif isinstance(value, int) and -(2**31) <= value < 2**31:
            target[key].int_value = value
        elif isinstance(value, str) and plain_string_fits(value):
            target[key].string_value = value
        elif isinstance(value, Mapping):
            target[key].CopyFrom(struct_value(value))
        else:
            target[key].CopyFrom(to_value(value, name=key))


def _json(value: Any) -> Any:
    """`value` as plain JSON data: a Struct holds nothing else (NaN and infinity become null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
