"""MLMD values as Kubeflow Pipelines v2 writes them.

* An artifact's metadata: `metadata.StructValueToMLMDValue` in kubeflow/pipelines
  `backend/src/v2/metadata/converter.go`: every number a `double_value`, a
  bool an `int_value` (0/1), a string a `string_value`, a list
  `{"list": [...]}` and a dict `{"struct": {...}}` in a `struct_value`. The
  UI shows a `system.Metrics` artifact's numbers as scalar metrics.
* Execution properties (`backend/src/v2/metadata/client.go`, `CreateExecution`):
  ids and iteration numbers as `int_value`, names as `string_value`,
  `inputs` / `outputs` as a `struct_value` of JSON values.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from google.protobuf import struct_pb2
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd.values import to_value


def metadata_value(value: Any) -> pb.Value:
    """One artifact metadata value, as KFP's launcher records it."""
    out = pb.Value()
    if isinstance(value, bool):
        out.int_value = int(value)
    elif isinstance(value, (int, float)) and math.isfinite(value):
        out.double_value = float(value)
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, Mapping):
        out.struct_value.update({"struct": _json(value)})
    elif isinstance(value, (list, tuple)):
        out.struct_value.update({"list": _json(list(value))})
    else:  # NaN, infinity, objects: no JSON form KFP would write; zen_mlmd's exact one
        out.CopyFrom(to_value(value))
    return out


def struct_value(values: Mapping[str, Any]) -> pb.Value:
    """A plain protobuf Struct (JSON numbers), as KFP writes `inputs` and `outputs`."""
    struct = struct_pb2.Struct()
    struct.update(_json(dict(values)))
    value = pb.Value()
    value.struct_value.CopyFrom(struct)
    return value


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
        elif isinstance(value, str):
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
