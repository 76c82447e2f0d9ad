"""Materializers for numpy arrays, pandas DataFrames/Series and scikit-learn models.

All of them load without running code: NumPy's ``.npy`` (one array) and
``.npz`` (a dict, tuple or list of arrays) without pickles, Parquet or a JSON
document for pandas, skops for scikit-learn.

This module imports neither numpy, pandas, pyarrow nor skops at import time:
the registry matches types by name, and the libraries are imported inside
the methods, where an object of theirs already exists.
"""
from __future__ import annotations

from typing import Any

from zen_mlmd.artifacts.kinds import ArtifactKind
from zen_mlmd.artifacts.materializers import Materializer
from zen_mlmd.artifacts.store import ArtifactStore


class NumpyMaterializer(Materializer):
    """A numpy array as ``data.npy`` (allow_pickle=False: loading runs no code).

    Arrays whose dtype holds Python objects cannot be written that way; the
    registry gives them to the pickle fallback.
    """

    writes_through_store = True
    safe_to_load = True

    name = "numpy.ndarray"
    default_kind = ArtifactKind.DATASET
    for_types = ("numpy.ndarray",)
    file_name = "data.npy"

    def can_save(self, obj: object) -> bool:
        import numpy as np

        # Subclasses (np.matrix, masked arrays) would read back as plain arrays.
        return type(obj) is np.ndarray and not obj.dtype.hasobject

    def save(self, obj: Any, uri: str, store: ArtifactStore) -> None:
        import numpy as np

        with store.open(f"{uri}/{self.file_name}", "wb") as f:
            np.save(f, obj, allow_pickle=False)

    def load(self, uri: str, store: ArtifactStore, data_type: str) -> Any:
        import numpy as np

        with store.open(f"{uri}/{self.file_name}", "rb") as f:
            return np.load(f, allow_pickle=False)


def _is_plain_array(value: object) -> bool:
    """A numpy.ndarray (not a subclass) whose dtype holds no Python objects.

    Checked by type name first, so that a container of other values never
    imports numpy.
    """
    kind = type(value)
    if kind.__module__ != "numpy" or kind.__qualname__ != "ndarray":
        return False
    return not value.dtype.hasobject


class NumpyArchiveMaterializer(Materializer):
    """Several numpy arrays as ``data.npz``: a dict with str keys, a tuple or a list.

    ``{"X": X, "y": y}`` comes back as a dict with the same keys in the same
    order; a tuple as a tuple and a list as a list (the recorded data type
    says which), every array with its dtype, shape and memory order. Loading
    never unpickles (``allow_pickle=False``). A container that is empty, a
    subclass (OrderedDict, a namedtuple), or holds anything but plain arrays
    without object dtypes is not written here: JSON or pickle takes it.
    """

    writes_through_store = True
    safe_to_load = True
    name = "numpy.npz"
    default_kind = ArtifactKind.DATASET
    for_types = (dict, tuple, list)
    file_name = "data.npz"

    def can_save(self, obj: object) -> bool:
        if type(obj) is dict:
            return bool(obj) and all(type(key) is str for key in obj) and \
                all(_is_plain_array(value) for value in obj.values())
        return type(obj) in (tuple, list) and bool(obj) and all(_is_plain_array(v) for v in obj)

    def save(self, obj: Any, uri: str, store: ArtifactStore) -> None:
        import zipfile

        import numpy as np

        members = obj.items() if type(obj) is dict else (
            (f"arr_{index}", array) for index, array in enumerate(obj))
        # What np.savez writes, without its keyword arguments (`file`,
        # `allow_pickle`) shadowing keys of the same name; a member without a
        # date_time gets 1980-01-01, so equal arrays give equal bytes and hashes.
        with store.open(f"{uri}/{self.file_name}", "wb") as f, \
                zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for key, array in members:
                with archive.open(key + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)

    def load(self, uri: str, store: ArtifactStore, data_type: str) -> Any:
        import numpy as np

        with store.open(f"{uri}/{self.file_name}", "rb") as f, np.load(f, allow_pickle=False) as archive:
            # always by member name: `archive["a.npy"]` would otherwise find key "a"
            arrays = {key: archive[key + ".npy"] for key in archive.files}
        if data_type == "builtins.dict":
            return arrays
        ordered = [arrays[f"arr_{index}"] for index in range(len(arrays))]
        return tuple(ordered) if data_type == "builtins.tuple" else ordered


class _PandasMaterializer(Materializer):
    """Shared by DataFrame and Series: the `pandas_format` JSON document."""

    writes_through_store = True
    safe_to_load = True

    default_kind = ArtifactKind.DATASET
    file_name = "data.pandas.json"

    def can_save(self, obj: object) -> bool:
        from zen_mlmd.artifacts import pandas_format

        return pandas_format.supported(obj)

    def save(self, obj: Any, uri: str, store: ArtifactStore) -> None:
        from zen_mlmd.artifacts import pandas_format

        text = pandas_format.dumps(obj)
        with store.open(f"{uri}/{self.file_name}", "wb") as f:
            f.write(text.encode("utf-8"))

    def load(self, uri: str, store: ArtifactStore, data_type: str) -> Any:
        from zen_mlmd.artifacts import pandas_format

        with store.open(f"{uri}/{self.file_name}", "rb") as f:
            return pandas_format.loads(f.read().decode("utf-8"))


class PandasDataFrameMaterializer(_PandasMaterializer):
    """A pandas DataFrame as ``data.parquet``, or else the `pandas_format` JSON document.

    Parquet when pyarrow is installed and the frame reads back identical from
    it (`parquet_format.supported`); the lossless JSON format otherwise. Both
    load without running code. Artifacts written by either read back here.
    """

    name = "pandas.DataFrame"
    # pandas 3 reports DataFrame.__module__ as "pandas", older versions "pandas.core.frame".
    for_types = ("pandas.DataFrame", "pandas.core.frame.DataFrame")
    parquet_file_name = "data.parquet"

    def can_save(self, obj: object) -> bool:
        return _parquet_supported(obj) or super().can_save(obj)

    def save(self, obj: Any, uri: str, store: ArtifactStore) -> None:
        if _parquet_supported(obj):
            from zen_mlmd.artifacts import parquet_format

            data = parquet_format.dumps(obj)
            with store.open(f"{uri}/{self.parquet_file_name}", "wb") as f:
                f.write(data)
            return
        super().save(obj, uri, store)

    def load(self, uri: str, store: ArtifactStore, data_type: str) -> Any:
        if store.exists(f"{uri}/{self.parquet_file_name}"):
            from zen_mlmd.artifacts import parquet_format

            with store.open(f"{uri}/{self.parquet_file_name}", "rb") as f:
                return parquet_format.loads(f.read())
        return super().load(uri, store, data_type)


def _parquet_supported(obj: object) -> bool:
    from zen_mlmd.artifacts import parquet_format

    return parquet_format.available() and parquet_format.supported(obj)


class PandasSeriesMaterializer(_PandasMaterializer):
    """A pandas Series, dtype, index and name kept (see `pandas_format`)."""

    name = "pandas.Series"
    for_types = ("pandas.Series", "pandas.core.series.Series")


#: Packages whose objects skops rebuilds faithfully (it knows their types).
_SKOPS_FAITHFUL = frozenset({"builtins", "numpy", "scipy", "sklearn"})


def _skops_modules(data: bytes) -> set[str]:
    """The module of every object in a skops file (from its schema.json)."""
    import io
    import json
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    modules, pending = set(), [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if isinstance(node.get("__module__"), str):
                modules.add(node["__module__"])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return modules


class SklearnSkopsMaterializer(Materializer):
    """A scikit-learn estimator or pipeline as ``model.skops`` (needs the `skops` package).

    skops stores an estimator as a zip of JSON and NumPy arrays and rebuilds
    it without unpickling. Estimators made only of builtins, NumPy, SciPy
    and scikit-learn objects are written this way; one holding anything
    else (a custom transformer, a function) is pickled, since skops rebuilds
    foreign objects generically. Loading refuses types outside skops' trusted
    list (`sklearn.tree._tree.Tree` of tree ensembles, whose raw node indices
    a forged file could point out of bounds) unless the read is trusted
    (``read(trusted=True)`` or a store marked trusted). Without skops
    installed, estimators are pickled.
    """

    writes_through_store = True
    safe_to_load = True  # the unsafe cases are refused in `load`
    name = "sklearn.skops"
    default_kind = ArtifactKind.MODEL
    for_types = ("sklearn.base.BaseEstimator",)
    file_name = "model.skops"

    def kind_for(self, obj: object) -> ArtifactKind:
        from zen_mlmd.artifacts.materializers import default_kind_for

        return default_kind_for(obj)  # a fitted transformer is data, a predictor a model

    def __init__(self) -> None:
        import threading

        # can_save serializes once to be sure skops can; save reuses those bytes
        self._prepared = threading.local()

    def can_save(self, obj: object) -> bool:
        import importlib.util

        if importlib.util.find_spec("skops") is None or isinstance(obj, type):
            return False
        try:
            import skops.io

            data = skops.io.dumps(obj)
        except Exception:  # a lambda inside a pipeline, an object skops cannot walk
            return False
        if not all(module.split(".")[0] in _SKOPS_FAITHFUL for module in _skops_modules(data)):
            return False  # skops rebuilds other objects generically, not always equal: pickle them
        self._prepared.value = (obj, data)
        return True

    def save(self, obj: Any, uri: str, store: ArtifactStore) -> None:
        prepared = getattr(self._prepared, "value", None)
        self._prepared.value = None
        if prepared is not None and prepared[0] is obj:
            data = prepared[1]
        else:
            import skops.io

            data = skops.io.dumps(obj)
        with store.open(f"{uri}/{self.file_name}", "wb") as f:
            f.write(data)

    def load(self, uri: str, store: ArtifactStore, data_type: str) -> Any:
        import skops.io

        from zen_mlmd.errors import ArtifactTrustError

        with store.open(f"{uri}/{self.file_name}", "rb") as f:
            data = f.read()
        untrusted = skops.io.get_untrusted_types(data=data)
        if untrusted and not getattr(store, "trusted", False):
            raise ArtifactTrustError(
                f"artifact at {uri}: refused, the model holds types skops does not load "
                f"without trust ({', '.join(untrusted)}), and the artifact store at "
                f"{store.root} is not marked trusted. Nothing was loaded. Fix: if you trust "
                "everyone who can write to that store and to the metadata store, read it with "
                "trusted=True (`--trust` on the command line), or mark the store trusted: "
                "`zen-mlmd artifact-store update NAME --trusted`")
        return skops.io.loads(data, trusted=untrusted or None)
