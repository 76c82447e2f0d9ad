"""A JSON format for pandas DataFrames and Series that keeps dtypes and index.

pandas' own ``orient="table"`` JSON loses int32/float32 (read back as 64-bit),
turns inf into nan, changes datetime units and cannot read timedeltas;
parquet needs pyarrow, and pickle is tied to library versions. This format
writes every column with its exact dtype name and values pandas rebuilds
losslessly:

- numpy numbers and bools as JSON numbers (floats exact, nan/inf included);
- datetimes and timedeltas as int64 ticks of their unit (tz kept by name);
- categoricals as codes plus encoded categories;
- nullable extension types (Int64, boolean, Float64, string, str) with null
  for a missing value (a Float64 nan reads back as <NA>);
- object columns whose values are JSON-native builtins (`json_values`).

Indexes (RangeIndex, MultiIndex, any index of those dtypes) and column labels
are written the same way. Anything else (Period, Interval, complex, sparse,
objects inside object columns) is reported by `supported()` as unsupported.

This module imports pandas: import it only when a pandas object is at hand.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from zen_mlmd.artifacts import json_values

FORMAT = "zen_mlmd.pandas/1"
_NUMBER_KINDS = "biuf"
_TICK_KINDS = "mM"
_NULLABLE = frozenset(
    [f"Int{b}" for b in (8, 16, 32, 64)]
    + [f"UInt{b}" for b in (8, 16, 32, 64)]
    + ["Float32", "Float64", "boolean", "string", "str"]
)


class Unsupported(TypeError):
    """The object holds a dtype or a value this format cannot write losslessly."""


def supported(obj: Any) -> bool:
    """True if `obj` (an exact DataFrame or Series) round-trips through this format."""
    try:
        if type(obj) is pd.DataFrame:
            _check_index(obj.columns)
            columns = [obj.iloc[:, i] for i in range(obj.shape[1])]
        elif type(obj) is pd.Series:
            _check_label(obj.name)
            columns = [obj]
        else:
            return False
        _check_index(obj.index)
        for column in columns:
            _check_values(column)
    except Unsupported:
        return False
    return True


def dumps(obj: Any) -> str:
    """The JSON text of a DataFrame or Series; raises `Unsupported` otherwise."""
    if type(obj) is pd.DataFrame:
        doc = {
            "format": FORMAT,
            "type": "DataFrame",
            "rows": int(obj.shape[0]),
            "columns": _encode_index(obj.columns),
            "index": _encode_index(obj.index),
            "data": [_encode_values(obj.iloc[:, i]) for i in range(obj.shape[1])],
        }
    elif type(obj) is pd.Series:
        doc = {
            "format": FORMAT,
            "type": "Series",
            "name": json_values.encode(obj.name),
            "index": _encode_index(obj.index),
            "data": _encode_values(obj),
        }
    else:
        raise Unsupported(f"{type(obj).__qualname__} is not a DataFrame or Series")
    return json.dumps(doc, allow_nan=True, ensure_ascii=False)


def loads(text: str) -> Any:
    """The DataFrame or Series `dumps` wrote."""
    doc = json.loads(text)
    if doc.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} document (format={doc.get('format')!r})")
    index = _decode_index(doc["index"])
    if doc["type"] == "Series":
        values = _decode_values(doc["data"])
        return pd.Series(values, index=index, name=json_values.decode(doc["name"]),
                         dtype=values.dtype, copy=False)
    columns = [_decode_values(column) for column in doc["data"]]
    frame = pd.concat(
        [pd.Series(values, dtype=values.dtype, copy=False) for values in columns],
        axis=1, ignore_index=True,
    ) if columns else pd.DataFrame(index=pd.RangeIndex(doc["rows"]))
    frame.index = index
    frame.columns = _decode_index(doc["columns"])
    return frame


def _check_label(label: Any) -> None:
    if not json_values.is_json_native(label):
        raise Unsupported(f"label {label!r} is not JSON-native")


def _check_index(index: pd.Index) -> None:
    for name in index.names:
        _check_label(name)
    if type(index) is pd.RangeIndex:
        return
    if isinstance(index, pd.MultiIndex):
        for level in range(index.nlevels):
            _check_values(index.get_level_values(level))
    else:
        _check_values(index)


def _check_values(values: Any) -> None:
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        _check_values(pd.Index(dtype.categories))
    elif isinstance(dtype, pd.DatetimeTZDtype) or str(dtype) in _NULLABLE:
        return
    elif isinstance(dtype, np.dtype) and dtype.kind in _NUMBER_KINDS + _TICK_KINDS:
        return
    elif isinstance(dtype, np.dtype) and dtype.kind == "O":
        if not all(json_values.is_json_native(v) for v in values):
            raise Unsupported("an object column holds values that are not JSON-native")
    else:
        raise Unsupported(f"dtype {dtype} is not supported")


def _encode_index(index: pd.Index) -> dict:
    names = [json_values.encode(name) for name in index.names]
    if type(index) is pd.RangeIndex:
        return {"type": "range", "names": names,
                "range": [index.start, index.stop, index.step]}
    if isinstance(index, pd.MultiIndex):
        levels = [_encode_values(index.get_level_values(i)) for i in range(index.nlevels)]
        return {"type": "multi", "names": names, "levels": levels}
    return {"type": "index", "names": names, "levels": [_encode_values(index)]}


def _decode_index(doc: dict) -> pd.Index:
    names = [json_values.decode(name) for name in doc["names"]]
    if doc["type"] == "range":
        return pd.RangeIndex(*doc["range"], name=names[0])
    levels = [_decode_values(level) for level in doc["levels"]]
    if doc["type"] == "multi":
        return pd.MultiIndex.from_arrays(
            [pd.Index(level, dtype=level.dtype, copy=False) for level in levels], names=names)
    return pd.Index(levels[0], dtype=levels[0].dtype, name=names[0], copy=False)


def _encode_values(values: Any) -> dict:
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categorical = values.array
        return {"dtype": "category", "ordered": bool(dtype.ordered),
                "categories": _encode_values(pd.Index(dtype.categories)),
                "codes": categorical.codes.tolist()}
    if isinstance(dtype, pd.DatetimeTZDtype):
        return {"dtype": "datetimetz", "unit": dtype.unit, "tz": str(dtype.tz),
                "values": pd.DatetimeIndex(values).asi8.tolist()}
    if str(dtype) in _NULLABLE:
        return {"dtype": str(dtype),
                "values": [None if pd.isna(v) else v for v in values.tolist()]}
    if isinstance(dtype, np.dtype) and dtype.kind in _TICK_KINDS:
        return {"dtype": dtype.str, "values": np.asarray(values).view("int64").tolist()}
    if isinstance(dtype, np.dtype) and dtype.kind in _NUMBER_KINDS:
        # dtype.str ("<i4") names byte order and width exactly; tolist() gives
        # Python numbers whose JSON text round-trips bit for bit.
        return {"dtype": dtype.str, "values": np.asarray(values).tolist()}
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return {"dtype": "object", "values": [json_values.encode(v) for v in values]}
    raise Unsupported(f"dtype {dtype} is not supported")


def _decode_values(doc: dict) -> Any:
    """An array (numpy or pandas extension) of the exact dtype that was written."""
    kind = doc["dtype"]
    if kind == "category":
        categories = _decode_values(doc["categories"])
        return pd.Categorical.from_codes(
            doc["codes"],
            dtype=pd.CategoricalDtype(pd.Index(categories, dtype=categories.dtype),
                                      ordered=doc["ordered"]))
    if kind == "datetimetz":
        ticks = np.array(doc["values"], dtype="int64").view(f"M8[{doc['unit']}]")
        return pd.DatetimeIndex(ticks).tz_localize("UTC").tz_convert(doc["tz"]).array
    if kind in _NULLABLE:
        return pd.array(doc["values"], dtype=kind)
    if kind == "object":
        decoded = np.empty(len(doc["values"]), dtype=object)
        for i, value in enumerate(doc["values"]):  # item by item: lists must stay elements
            decoded[i] = json_values.decode(value)
        return decoded
    dtype = np.dtype(kind)
    if dtype.kind in _TICK_KINDS:
        return np.array(doc["values"], dtype="int64").view(dtype)
    return np.array(doc["values"], dtype=dtype)
