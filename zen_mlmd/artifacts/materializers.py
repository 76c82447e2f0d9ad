"""Materializers: how a Python object is written to and read from the artifact store.

An artifact is a directory at its URI holding the materializer's file(s).
A materializer's `name` is stored in MLMD with the artifact, so it must never
change once artifacts were written with it. Built-ins here cover builtins
and the pickle fallback; numpy, pandas and scikit-learn live in
`materializers_ml`. Every built-in except pickle loads without running code;
reading checks the URI, the content hash and trust first (`reading`).
"""
from __future__ import annotations

import abc
import functools
import numbers
import pickle
from typing import Any, ClassVar, Tuple, Union

from zen_mlmd.artifacts import json_values
from zen_mlmd.artifacts.kinds import ArtifactKind
from zen_mlmd.artifacts.store import ArtifactStore

# Type names (module.QualName) so that no kind rule needs numpy or pandas imported.
DATASET_TYPE_NAMES = frozenset({
    "numpy.ndarray",
    # pandas 3 reports its public module; older versions the defining one.
    "pandas.DataFrame",
    "pandas.Series",
    "pandas.core.frame.DataFrame",
    "pandas.core.series.Series",
})


def type_names_of(obj: object) -> list[str]:
    """The ``module.QualName`` of the type of `obj` and of each class in its MRO."""
    return [f"{cls.__module__}.{cls.__qualname__}" for cls in type(obj).__mro__]


def default_kind_for(obj: object) -> ArtifactKind:
    """The kind an output gets when its step does not declare one.

    numpy arrays and pandas frames/series are datasets; a non-empty dict whose
    values are all real numbers (bools excluded) is metrics; an object with
    ``fit`` and ``predict`` methods (a scikit-learn style estimator) is a
    model; anything else is generic data.
    """
    try:
        dataset = _is_dataset_type(type(obj))
    except TypeError:  # a metaclass that makes its classes unhashable
        dataset = _is_dataset_type.__wrapped__(type(obj))
    if dataset:
        return ArtifactKind.DATASET
    if isinstance(obj, dict) and obj and all(_is_metric_value(v) for v in obj.values()):
        return ArtifactKind.METRICS
    if is_estimator(obj):
        return ArtifactKind.MODEL
    return ArtifactKind.DATA


@functools.lru_cache(maxsize=512)
def _is_dataset_type(cls: type) -> bool:
    """Whether `cls` is a numpy array or pandas frame/series type, or derives from one."""
    return not DATASET_TYPE_NAMES.isdisjoint(f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__)


def is_estimator(obj: object) -> bool:
    """True for an instance with callable ``fit`` and ``predict`` (not a class)."""
    return (
        not isinstance(obj, type)
        and callable(getattr(obj, "fit", None))
        and callable(getattr(obj, "predict", None))
    )


def _is_metric_value(value: object) -> bool:
    # numbers.Real covers numpy floats and ints too (numpy registers them;
    # not numpy.bool); Python bools are Integral, but True is not a metric.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Materializer(abc.ABC):
    """Writes one kind of Python object to an artifact directory and reads it back.

    Subclasses set `name` (the stable id stored in MLMD), `default_kind`, and
    optionally `for_types` (types or ``"module.QualName"`` strings), used when
    the materializer is registered without explicit types, e.g. from the
    ``zen_mlmd.materializers`` entry-point group.
    """

    name: ClassVar[str]
    default_kind: ClassVar[ArtifactKind] = ArtifactKind.DATA
    for_types: ClassVar[Tuple[Union[type, str], ...]] = ()
    #: True when `save` writes every file through `store.open` or
    #: `store.write_bytes`: the files are then hashed as they are written and
    #: the directory need not be listed afterwards. False (the safe default)
    #: for code that may write by path.
    writes_through_store: ClassVar[bool] = False
    #: True when `load` cannot run code whatever the bytes hold (JSON, NumPy
    #: without pickles, Parquet). False (the default, so a plugin that uses
    #: pickle or torch.load is never trusted by mistake) means loading from a
    #: store that is not marked trusted needs ``trusted=True``. A materializer
    #: whose format is safe only for some contents (skops) says True and
    #: refuses the others itself unless ``store.trusted``.
    safe_to_load: ClassVar[bool] = False

    def can_save(self, obj: object) -> bool:
        """Whether this materializer can write `obj` so that it reads back equal.

        The registry asks before choosing a materializer and moves on to the
        next candidate (finally the pickle fallback) when the answer is no.
        """
        return True

    def kind_for(self, obj: object) -> ArtifactKind:
        """The kind an artifact written from `obj` gets when the step declares none."""
        return self.default_kind

    @abc.abstractmethod
    def save(self, obj: Any, uri: str, store: ArtifactStore) -> None:
        """Writes `obj` as file(s) inside the artifact directory `uri`.

        Write only through `store.open` or `store.write_bytes` (a whole file
        at once, the cheaper of the two), so the content hash is computed
        while the bytes are written.
        """

    @abc.abstractmethod
    def load(self, uri: str, store: ArtifactStore, data_type: str) -> Any:
        """Reads the object back from the artifact directory `uri`.

        Args:
            uri: the artifact directory.
            store: the artifact store holding it.
            data_type: the ``module.QualName`` of the object that was saved.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class JSONMaterializer(Materializer):
    """JSON-native values: None, bool, int, float, list, tuple, dict with str keys.

    Types are kept exactly: tuples stay tuples, ints stay ints, floats stay
    floats including nan and +/-inf, and NumPy bool, integer and float
    scalars (metrics computed with NumPy) come back as the same NumPy type
    (see `zen_mlmd.artifacts.json_values`). Anything else inside (a set, a
    non-str key, a complex number) makes the registry fall back to pickle.
    """

    writes_through_store = True
    safe_to_load = True
    name = "builtins.json"
    default_kind = ArtifactKind.DATA
    # "numpy.generic" by name, so that numpy is not imported for the lookup
    for_types = (type(None), bool, int, float, list, tuple, dict, "numpy.generic")
    file_name = "data.json"

    def can_save(self, obj: object) -> bool:
        return json_values.is_json_native(obj)

    def kind_for(self, obj: object) -> ArtifactKind:
        return default_kind_for(obj)

    def save(self, obj: Any, uri: str, store: ArtifactStore) -> None:
        store.write_bytes(f"{uri}/{self.file_name}", json_values.dumps(obj).encode("utf-8"))

    def load(self, uri: str, store: ArtifactStore, data_type: str) -> Any:
        with store.open(f"{uri}/{self.file_name}", "r") as f:
            return json_values.loads(f.read())


class TextMaterializer(Materializer):
    """A `str`, written as UTF-8 text (newlines kept as they are)."""

    writes_through_store = True
    safe_to_load = True
    name = "builtins.str"
    for_types = (str,)
    file_name = "data.txt"

    def can_save(self, obj: object) -> bool:
        return type(obj) is str  # a str subclass would come back as plain str

    def save(self, obj: Any, uri: str, store: ArtifactStore) -> None:
        # Encoding ourselves: text mode would translate newlines on Windows.
        store.write_bytes(f"{uri}/{self.file_name}", obj.encode("utf-8", errors="surrogatepass"))

    def load(self, uri: str, store: ArtifactStore, data_type: str) -> Any:
        with store.open(f"{uri}/{self.file_name}", "rb") as f:
            return f.read().decode("utf-8", errors="surrogatepass")


class BytesMaterializer(Materializer):
    """`bytes` and `bytearray`, written raw."""

    writes_through_store = True
    safe_to_load = True
    name = "builtins.bytes"
    for_types = (bytes, bytearray)
    file_name = "data.bin"

    def can_save(self, obj: object) -> bool:
        return type(obj) in (bytes, bytearray)

    def save(self, obj: Any, uri: str, store: ArtifactStore) -> None:
        store.write_bytes(f"{uri}/{self.file_name}", bytes(obj))

    def load(self, uri: str, store: ArtifactStore, data_type: str) -> Any:
        with store.open(f"{uri}/{self.file_name}", "rb") as f:
            data = f.read()
        return bytearray(data) if data_type == "builtins.bytearray" else data


class PickleMaterializer(Materializer):
    """The fallback for a picklable object that no safe format can hold.

    Pickle runs code when loading, so a pickle artifact is only read from a
    store marked trusted, or with ``read(trusted=True)``: the record's
    materializer name, ``pickle``, is what marks it. The file is only
    readable with compatible versions of the object's library.
    """

    writes_through_store = True
    safe_to_load = False
    name = "pickle"
    for_types = (object,)
    file_name = "data.pkl"

    def kind_for(self, obj: object) -> ArtifactKind:
        return default_kind_for(obj)

    def save(self, obj: Any, uri: str, store: ArtifactStore) -> None:
        with store.open(f"{uri}/{self.file_name}", "wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, uri: str, store: ArtifactStore, data_type: str) -> Any:
        with store.open(f"{uri}/{self.file_name}", "rb") as f:
            return pickle.load(f)
