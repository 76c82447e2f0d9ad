"""The canonical encoding of numpy and pandas objects: by content.

Called by `canonical.Encoder` only for objects whose type lives in numpy or
pandas, so both are found in `sys.modules` (already imported by whoever made
the object), never imported here. Numeric cells are hashed in bulk
(`pandas.util.hash_pandas_object`); object cells (and categories that are
objects) are encoded one by one by the canonical encoder, which refuses an
object it does not know, since pandas would hash their ``str()``.
"""
from __future__ import annotations

import hashlib
import sys
from typing import Any

from zen_mlmd.tracking.canonical import text


def encode_array_like(encoder, v: Any, out: bytearray, path: str, active: list) -> bool:
    """Appends the encoding of a numpy / pandas value to `out`; False if `v` is neither."""
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(v, np.ndarray):
            _array(encoder, np, v, out, path, active)
            return True
        if isinstance(v, np.generic):
            text(out, b"a", v.dtype.str)
            data = v.tobytes()
            out += b"%d:" % len(data) + data
            return True
        if isinstance(v, np.dtype):
            text(out, b"Y", repr(v.descr) if v.fields else v.str)
            return True
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(v, pd.DataFrame):
            out += b"PD"
            encoder._encode([str(d) for d in v.dtypes], out, path, active)
            encoder._encode(list(v.columns), out, path + ".columns", active)
            _index(encoder, pd, v.index, out, path, active)
            _values(encoder, pd, v, out, path, active)
            return True
        if isinstance(v, pd.Series):
            out += b"PS"
            encoder._encode((v.name, str(v.dtype)), out, path, active)
            _index(encoder, pd, v.index, out, path, active)
            _values(encoder, pd, v, out, path, active)
            return True
        if isinstance(v, pd.Index):
            _index(encoder, pd, v, out, path, active)
            return True
        if pd.api.types.is_scalar(v):  # Timestamp, Timedelta, Period, NaT, ...
            text(out, b"V", f"{type(v).__module__}.{type(v).__qualname__}:{v!r}")
            return True
    return False


def _array(encoder, np, v, out: bytearray, path: str, active: list) -> None:
    if type(v) is not np.ndarray:  # masked arrays, matrices, memmaps
        text(out, b"<", f"{type(v).__module__}.{type(v).__qualname__}")
        if isinstance(v, np.ma.MaskedArray):
            _array(encoder, np, np.ma.getmaskarray(v), out, path + ".mask", active)
            encoder._encode(v.fill_value.item() if hasattr(v.fill_value, "item") else v.fill_value,
                            out, path + ".fill_value", active)
            v = v.data
        v = np.asarray(v)
    text(out, b"A", repr(v.dtype.descr) if v.dtype.fields else v.dtype.str)
    out += b"%r;" % (v.shape,)
    if v.dtype.hasobject:
        encoder._encode(v.tolist(), out, path, active)
        return
    contiguous = np.ascontiguousarray(v)
    out += hashlib.sha256(memoryview(contiguous).cast("B")).digest()


def _index(encoder, pd, index, out: bytearray, path: str, active: list) -> None:
    text(out, b"PI", f"{type(index).__qualname__}:{index.dtype}")
    encoder._encode(list(index.names), out, path + ".index.names", active)
    _values(encoder, pd, index, out, path + ".index", active)


def _values(encoder, pd, obj, out: bytearray, path: str, active: list) -> None:
    if isinstance(obj, pd.DataFrame) and any(_holds_objects(pd, d) for d in obj.dtypes):
        for i in range(obj.shape[1]):  # by position: column names may repeat
            _values(encoder, pd, obj.iloc[:, i], out, f"{path}[{obj.columns[i]!r}]", active)
        return
    if not isinstance(obj, pd.DataFrame) and _holds_objects(pd, obj.dtype):
        # hash_pandas_object would hash str(cell): two objects with the same text would agree
        encoder._encode(list(obj), out, path, active)
        return
    try:
        hashed = pd.util.hash_pandas_object(obj, index=False) if not isinstance(obj, pd.Index) \
            else pd.util.hash_pandas_object(obj)
    except TypeError:  # unhashable cells (lists, dicts): encode them one by one
        values = obj.astype(object).values.tolist() if not isinstance(obj, pd.Index) else list(obj)
        encoder._encode(values, out, path, active)
        return
    out += b"%d:" % len(hashed) + hashlib.sha256(hashed.to_numpy().tobytes()).digest()


def _holds_objects(pd, dtype) -> bool:
    """Object cells, or categories that are (the values of a categorical)."""
    if isinstance(dtype, pd.CategoricalDtype):
        return dtype.categories.dtype == object
    return dtype == object
