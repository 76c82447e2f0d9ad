"""Materializers for numpy arrays and pandas DataFrames/Series.

This module imports neither numpy nor pandas at import time: the registry
matches them by type name, and numpy/pandas are imported inside the methods,
where an object of theirs already exists (so the import is free).
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


class _PandasMaterializer(Materializer):
    """Shared by DataFrame and Series: the `pandas_format` JSON document."""

    writes_through_store = True

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
    """A pandas DataFrame, dtypes, index and column labels kept (see `pandas_format`)."""

    name = "pandas.DataFrame"
    # pandas 3 reports DataFrame.__module__ as "pandas", older versions "pandas.core.frame".
    for_types = ("pandas.DataFrame", "pandas.core.frame.DataFrame")


class PandasSeriesMaterializer(_PandasMaterializer):
    """A pandas Series, dtype, index and name kept (see `pandas_format`)."""

    name = "pandas.Series"
    for_types = ("pandas.Series", "pandas.core.series.Series")
