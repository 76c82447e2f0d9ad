"""Parquet for pandas DataFrames, used only where it reads back exactly.

Parquet is columnar, compact, readable by every data tool, and loading it
runs no code (pyarrow >= 14.0.1 no longer unpickles extension types from
a file's metadata). It keeps less than pickle does, so a frame is written as
Parquet only when it reads back identical: `supported` accepts

- columns that are plain numbers and bools (not complex), datetimes
  (ms/us/ns, with or without time zone), timedeltas, categoricals with
  string categories, pandas' nullable Int/UInt/Float/boolean, and strings
  stored by pyarrow (pandas' default ``str``); never Python objects;
- unique string column labels; any index of those types (not one with a
  ``freq``, which Parquet forgets), including MultiIndex and RangeIndex;

and then round-trips the frame's first row through Parquet to make sure
dtypes, labels and index come back as they were. Other frames use
`zen_mlmd.artifacts.pandas_format`.

This module imports pandas and pyarrow: import it only with a frame at hand.
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

_NULLABLE = frozenset(
    [f"Int{b}" for b in (8, 16, 32, 64)] + [f"UInt{b}" for b in (8, 16, 32, 64)]
    + ["Float32", "Float64", "boolean"])
_EXACT_TIME_UNITS = ("ms", "us", "ns")  # Parquet has no seconds: "s" comes back as "ms"
_RESERVED_PREFIX = "__index_level_"  # how pyarrow names unnamed index columns


def available() -> bool:
    """True when pyarrow can be imported."""
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


def supported(frame: Any) -> bool:
    """True if `frame` (an exact DataFrame) reads back identical from Parquet."""
    if type(frame) is not pd.DataFrame or frame.shape[1] == 0:
        return False
    columns = frame.columns
    if isinstance(columns, pd.MultiIndex) or not columns.is_unique:
        return False
    if not all(type(label) is str and not label.startswith(_RESERVED_PREFIX) for label in columns):
        return False
    if not all(name is None or type(name) is str for name in (*columns.names, *frame.index.names)):
        return False
    if not _index_supported(frame.index):
        return False
    if not all(_dtype_supported(dtype) for dtype in frame.dtypes):
        return False
    return _schema_round_trips(frame)


def dumps(frame: pd.DataFrame) -> bytes:
    """The Parquet bytes of `frame` (see `supported`)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow")  # a RangeIndex is kept as metadata
    return buffer.getvalue()


def loads(data: bytes) -> pd.DataFrame:
    """The DataFrame `dumps` wrote."""
    return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


def _index_supported(index: pd.Index) -> bool:
    if type(index) is pd.RangeIndex:
        return True
    if getattr(index, "freq", None) is not None:
        return False
    if isinstance(index, pd.MultiIndex):
        return all(_dtype_supported(level.dtype) for level in index.levels)
    return _dtype_supported(index.dtype)


def _dtype_supported(dtype: Any) -> bool:
    if isinstance(dtype, pd.CategoricalDtype):
        return isinstance(dtype.categories.dtype, pd.StringDtype) and \
            dtype.categories.dtype.storage == "pyarrow"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return dtype.unit in _EXACT_TIME_UNITS
    if isinstance(dtype, pd.StringDtype):
        return dtype.storage == "pyarrow"
    if str(dtype) in _NULLABLE:
        return True
    if isinstance(dtype, np.dtype):
        if dtype.kind in "biuf":
            return True
        if dtype.kind == "M":
            return np.datetime_data(dtype)[0] in _EXACT_TIME_UNITS
        return dtype.kind == "m"
    return False


def _schema_round_trips(frame: pd.DataFrame) -> bool:
    """The frame's first row comes back from Parquet with the same dtypes and labels.

    One row, not none: Parquet keeps a categorical's categories with its data.
    """
    probe = frame.iloc[:1]
    try:
        back = loads(dumps(probe))
        pd.testing.assert_frame_equal(probe, back, check_exact=True, check_index_type=True,
                                      check_column_type=True, check_names=True,
                                      check_categorical=True, check_freq=True)
    except Exception:  # any difference, or a type pyarrow cannot write
        return False
    return True
