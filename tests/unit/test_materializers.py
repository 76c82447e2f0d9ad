"""Materializers, the registry, and writing/reading whole artifacts."""
import hashlib
import math
import textwrap
import uuid
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zen_mlmd.artifacts import (
    ArtifactKind,
    ArtifactStore,
    Materializer,
    MaterializerRegistry,
    Model,
    data_type_of,
    default_kind_for,
    get_materializer,
    materializer_for,
    read_artifact,
    register_materializer,
    verify_artifact,
    write_artifact,
)
from zen_mlmd.artifacts import json_values
from zen_mlmd.errors import ConfigError, MaterializerError, UnknownNameError


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    if request.param == "local":
        yield ArtifactStore(str(tmp_path / "artifacts"))
    else:
        memory_store = ArtifactStore(f"memory://mat-{uuid.uuid4().hex}")
        yield memory_store
        memory_store.delete(memory_store.root)


def _uri(store, output="out"):
    return store.uri_for("pipe", "run", "step", f"{output}-{uuid.uuid4().hex[:8]}")


def roundtrip(obj, store, **kwargs):
    written = write_artifact(obj, _uri(store), store, **kwargs)
    return written, read_artifact(written.uri, store, written.materializer, written.data_type)


class Estimator:
    """A scikit-learn style model without scikit-learn."""

    def __init__(self, weight=2.0):
        self.weight = weight

    def fit(self, x, y):
        return self

    def predict(self, x):
        return [self.weight * v for v in x]


# --- built-ins -------------------------------------------------------------

@pytest.mark.parametrize(
    "obj, name, file_name",
    [
        ({"a": 1, "b": [1.5, None, True], "c": (1, "x")}, "builtins.json", "data.json"),
        ([1, 2, (3, 4)], "builtins.json", "data.json"),
        ((), "builtins.json", "data.json"),
        (None, "builtins.json", "data.json"),
        (10**30, "builtins.json", "data.json"),
        ("héllo\r\nwörld\n", "builtins.str", "data.txt"),
        (b"\x00\xffraw", "builtins.bytes", "data.bin"),
        (bytearray(b"abc"), "builtins.bytes", "data.bin"),
        ({1, 2, 3}, "pickle", "data.pkl"),
        ({1: "non-str key"}, "pickle", "data.pkl"),
    ],
)
def test_builtins_round_trip(store, obj, name, file_name):
    written, back = roundtrip(obj, store)
    assert written.materializer == name
    assert written.data_type == data_type_of(obj)
    assert store.list_files(written.uri) == [file_name]
    assert back == obj and type(back) is type(obj)


def test_json_keeps_float_specials_and_types(store):
    obj = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "zero": -0.0, "one": 1.0, "int": 1}
    _, back = roundtrip(obj, store)
    assert math.isnan(back["nan"]) and back["inf"] == math.inf and back["-inf"] == -math.inf
    assert math.copysign(1, back["zero"]) == -1
    assert type(back["one"]) is float and type(back["int"]) is int


def test_json_marker_like_keys_are_not_misread(store):
    obj = {"$tuple": [1, 2], "$dict": {"$x": (1,)}, "plain": {"$tuple": 3}}
    _, back = roundtrip(obj, store)
    assert back == obj


def test_json_file_is_plain_json_when_nothing_needs_tagging(store):
    written = write_artifact({"accuracy": 0.9, "loss": 1}, _uri(store), store)
    with store.open(f"{written.uri}/data.json", "r") as f:
        assert f.read() == '{"accuracy": 0.9, "loss": 1}'


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_trees = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.lists(children, max_size=4).map(tuple)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


def _same(a, b):
    """Equality that also compares types at every level (1 == 1.0 == True in Python)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(obj=json_trees)
def test_json_materializer_round_trips_nested_builtins(obj):
    store = ArtifactStore("memory://hypothesis-json")
    uri = _uri(store)
    written = write_artifact(obj, uri, store, materializer="builtins.json")
    try:
        back = read_artifact(uri, store, written.materializer, written.data_type)
        assert _same(back, obj), (obj, back)
    finally:
        store.delete(uri)


@given(obj=json_trees)
def test_json_codec_round_trips(obj):
    assert _same(json_values.loads(json_values.dumps(obj)), obj)


def test_json_refuses_non_native_values():
    assert not json_values.is_json_native({"a": np.float64(1.0)})
    with pytest.raises(TypeError, match="not JSON-native"):
        json_values.dumps([object()])


def test_subclasses_of_builtins_fall_back_to_pickle(store):
    import enum

    class Color(enum.IntEnum):
        RED = 1

    assert materializer_for(Color.RED).name == "pickle"
    assert materializer_for(np.float64(1.5)).name == "pickle"


# --- numpy and pandas ----------------------------------------------------

@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype="int8").reshape(3, 4),
        np.asfortranarray(np.arange(6, dtype="<u8").reshape(2, 3)),
        np.array([1.5, np.nan, np.inf], dtype="float16"),
        np.array([1 + 2j], dtype="complex128"),
        np.array([True, False]),
        np.array(["a", "bc"], dtype="<U2"),
        np.array(["2020-01-01", "NaT"], dtype="datetime64[ms]"),
        np.zeros((0, 3), dtype="float32"),
        np.array(3.5),
        np.zeros(2, dtype=[("x", "i4"), ("y", "f8")]),
    ],
)
def test_numpy_round_trip_keeps_dtype_and_shape(store, array):
    written, back = roundtrip(array, store)
    assert written.materializer == "numpy.ndarray"
    assert written.kind is ArtifactKind.DATASET
    assert store.list_files(written.uri) == ["data.npy"]
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_numpy_object_array_falls_back_to_pickle(store):
    array = np.array([{"a": 1}, None], dtype=object)
    written, back = roundtrip(array, store)
    assert written.materializer == "pickle"
    assert written.kind is ArtifactKind.DATASET
    assert back.dtype == object and list(back) == list(array)


def _all_dtypes_frame():
    return pd.DataFrame(
        {
            "i64": np.array([1, 2, 3], dtype="int64"),
            "i32": np.array([1, -2, 3], dtype="int32"),
            "u8": np.array([0, 1, 255], dtype="uint8"),
            "f64": [1.5, np.nan, np.inf],
            "f32": np.array([0.1, 2, -np.inf], dtype="float32"),
            "bool": [True, False, True],
            "str": pd.array(["a", None, "ü"], dtype="str"),
            "string": pd.array(["x", None, "z"], dtype="string"),
            "obj": pd.Series([["list"], {"d": 1}, None], dtype=object),
            "dt": pd.to_datetime(
                ["2020-01-01 00:00:00", None, "2021-06-01 12:00:00.123456"], format="ISO8601"),
            "dt_ns": pd.Series(pd.to_datetime(["2020-01-01"] * 3)).astype("datetime64[ns]"),
            "dttz": pd.to_datetime(["2020-01-01", "2021-01-01", None])
            .tz_localize("UTC").tz_convert("Europe/Berlin"),
            "td": pd.to_timedelta([1, None, 3], unit="s"),
            "cat": pd.Categorical(["b", "a", None], categories=["b", "a"], ordered=True),
            "Int64": pd.array([1, None, 3], dtype="Int64"),
            "UInt16": pd.array([1, None, 3], dtype="UInt16"),
            "Float32": pd.array([1.5, None, 3], dtype="Float32"),
            "boolean": pd.array([True, None, False], dtype="boolean"),
        },
        index=pd.Index([10, 20, 10], dtype="int32", name="row"),
    )


@pytest.mark.parametrize(
    "frame",
    [
        _all_dtypes_frame(),
        pd.DataFrame({"a": [1, 2]}),
        pd.DataFrame(),
        pd.DataFrame(index=pd.RangeIndex(5, 15, 2)),
        pd.DataFrame([[1, 2], [3, 4]], columns=["dup", "dup"]),
        pd.DataFrame(
            {("a", 1): [1.0, 2.0], ("b", 2): ["x", "y"]},
            index=pd.MultiIndex.from_tuples([("k", 1), ("k", 2)], names=["key", None]),
        ),
        pd.DataFrame({"v": [1, 2]}, index=pd.to_datetime(["2020-01-01", "2020-01-02"])),
        pd.DataFrame({"v": [1, 2]}, index=pd.CategoricalIndex(["a", "b"])),
        pd.DataFrame({0: [1], 1.5: [2], None: [3]}),
    ],
    ids=["all-dtypes", "simple", "empty", "range-index-no-columns", "duplicate-columns",
         "multiindex", "datetime-index", "categorical-index", "mixed-labels"],
)
def test_pandas_dataframe_round_trip_keeps_dtypes_and_index(store, frame):
    written, back = roundtrip(frame, store)
    assert written.materializer == "pandas.DataFrame"
    assert written.kind is ArtifactKind.DATASET
    assert store.list_files(written.uri) == ["data.pandas.json"]
    pd.testing.assert_frame_equal(back, frame, check_exact=True, check_index_type=True,
                                  check_column_type=True)
    assert list(back.dtypes.astype(str)) == list(frame.dtypes.astype(str))


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([1, 2, 3], dtype="int16", name="n"),
        pd.Series(["a", None], name=("tuple", "name")),
        pd.Series(pd.array([True, None], dtype="boolean"), index=["x", "y"]),
        pd.Series([], dtype="float64"),
    ],
)
def test_pandas_series_round_trip(store, series):
    written, back = roundtrip(series, store)
    assert written.materializer == "pandas.Series"
    pd.testing.assert_series_equal(back, series, check_exact=True, check_index_type=True)


def test_pandas_with_unsupported_dtype_falls_back_to_pickle(store):
    frame = pd.DataFrame({"p": pd.period_range("2020-01", periods=2, freq="M")})
    written, back = roundtrip(frame, store)
    assert written.materializer == "pickle"
    pd.testing.assert_frame_equal(back, frame)


def test_scikit_learn_model_is_pickled_as_a_model(store):
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0]))
    written, back = roundtrip(model, store)
    assert written.materializer == "pickle"
    assert written.kind is ArtifactKind.MODEL
    assert written.data_type == "sklearn.linear_model._base.LinearRegression"
    np.testing.assert_allclose(back.predict(np.array([[3.0]])), [7.0])


# --- kinds ---------------------------------------------------------------

@pytest.mark.parametrize(
    "obj, kind",
    [
        ({"accuracy": 0.9, "n": 3, "np": np.float64(0.5)}, ArtifactKind.METRICS),
        ({"flag": True}, ArtifactKind.DATA),
        ({"flag": np.bool_(True)}, ArtifactKind.DATA),
        ({}, ArtifactKind.DATA),
        ({"a": "x"}, ArtifactKind.DATA),
        (np.zeros(2), ArtifactKind.DATASET),
        (pd.DataFrame(), ArtifactKind.DATASET),
        (pd.Series([], dtype="float64"), ArtifactKind.DATASET),
        (Estimator(), ArtifactKind.MODEL),
        (Estimator, ArtifactKind.DATA),
        ("text", ArtifactKind.DATA),
        ([1.0, 2.0], ArtifactKind.DATA),
    ],
)
def test_default_kind_for(obj, kind):
    assert default_kind_for(obj) is kind


def test_metrics_dict_is_written_as_metrics(store):
    assert roundtrip({"accuracy": 0.9}, store)[0].kind is ArtifactKind.METRICS


def test_declared_kind_wins(store):
    written = write_artifact({"weights": [1, 2]}, _uri(store), store, kind=Model)
    assert written.kind is ArtifactKind.MODEL
    with pytest.raises(ConfigError, match="valid kinds"):
        write_artifact(1, _uri(store), store, kind="modle")


# --- content hash and integrity ------------------------------------------

@pytest.mark.parametrize(
    "obj", [{"a": [1, 2.5]}, "text", b"bytes", np.arange(5), pd.DataFrame({"a": [1]})])
def test_content_hash_is_sha256_of_the_file_bytes(store, obj):
    written = write_artifact(obj, _uri(store), store)
    (name,) = store.list_files(written.uri)
    with store.open(f"{written.uri}/{name}", "rb") as f:
        data = f.read()
    assert written.content_hash == "sha256:" + hashlib.sha256(data).hexdigest()
    assert written.size_bytes == len(data) == store.size(written.uri)
    assert verify_artifact(written.uri, store, written.content_hash)


class TwoFiles(Materializer):
    name = "test.two_files"
    for_types = ("tests.TwoFiles",)

    def save(self, obj, uri, store):
        with store.open(f"{uri}/b.txt", "w") as f:  # out of name order on purpose
            f.write(obj[1])
        with store.open(f"{uri}/a.bin", "wb") as f:
            f.write(obj[0])

    def load(self, uri, store, data_type):
        with store.open(f"{uri}/a.bin") as a, store.open(f"{uri}/b.txt", "r") as b:
            return (a.read(), b.read())


def test_multi_file_hash_is_over_a_manifest_in_file_name_order(store):
    written = write_artifact((b"xy", "z"), _uri(store), store, materializer=TwoFiles())
    lines = [
        f"a.bin\0{hashlib.sha256(b'xy').hexdigest()}\n",
        f"b.txt\0{hashlib.sha256(b'z').hexdigest()}\n",
    ]
    assert written.content_hash == "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()
    assert written.size_bytes == 3
    other = write_artifact((b"x", "yz"), _uri(store), store, materializer=TwoFiles())
    assert other.content_hash != written.content_hash
    assert verify_artifact(written.uri, store, written.content_hash)


def test_verify_detects_changed_and_deleted_contents(store):
    written = write_artifact("original", _uri(store), store)
    with store.open(f"{written.uri}/data.txt", "wb") as f:
        f.write(b"tampered")
    assert not verify_artifact(written.uri, store, written.content_hash)
    store.delete(written.uri)
    assert not verify_artifact(written.uri, store, written.content_hash)


class WritesByPath(Materializer):
    """Writes through the filesystem directly, as some libraries do."""

    name = "test.by_path"
    for_types = ("tests.WritesByPath",)

    def save(self, obj, uri, store):
        with store.filesystem.open(store._path(f"{uri}/raw.bin"), "wb") as f:
            f.write(obj)

    def load(self, uri, store, data_type):
        with store.open(f"{uri}/raw.bin") as f:
            return f.read()


def test_files_written_around_the_store_are_still_hashed(store):
    written = write_artifact(b"abc", _uri(store), store, materializer=WritesByPath)
    assert written.content_hash == "sha256:" + hashlib.sha256(b"abc").hexdigest()


# --- failures ------------------------------------------------------------

class Exploding(Materializer):
    name = "test.exploding"
    for_types = ("tests.Exploding",)

    def save(self, obj, uri, store):
        with store.open(f"{uri}/data.bin", "wb") as f:
            f.write(b"half")
        raise RuntimeError("disk on fire")

    def load(self, uri, store, data_type):
        raise AssertionError("never written")


def test_failing_materializer_leaves_no_directory(store):
    uri = _uri(store)
    with pytest.raises(MaterializerError) as caught:
        write_artifact({"a": 1}, uri, store, materializer=Exploding())
    message = str(caught.value)
    assert "builtins.dict" in message and "test.exploding" in message and "disk on fire" in message
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert not store.exists(uri)


def test_unpicklable_object_fails_cleanly(store):
    uri = _uri(store)
    with pytest.raises(MaterializerError, match="'pickle'.*function"):
        write_artifact(lambda: 1, uri, store)
    assert not store.exists(uri)


def test_writing_outside_the_artifact_directory_is_refused(store):
    class Escaping(TwoFiles):
        name = "test.escaping"

        def save(self, obj, uri, store):
            with store.open(f"{uri}-sibling/x", "wb") as f:
                f.write(b"x")

    uri = _uri(store)
    with pytest.raises(MaterializerError, match="outside its artifact directory"):
        write_artifact(b"", uri, store, materializer=Escaping())
    assert not store.exists(uri) and not store.exists(f"{uri}-sibling")


def test_existing_artifact_is_not_overwritten_unless_asked(store):
    uri = _uri(store)
    write_artifact("first", uri, store)
    with pytest.raises(MaterializerError, match="already exists"):
        write_artifact("second", uri, store)
    assert read_artifact(uri, store, "builtins.str", "builtins.str") == "first"
    write_artifact(b"second", uri, store, overwrite=True)
    assert store.list_files(uri) == ["data.bin"]


def test_reading_a_deleted_artifact_names_the_uri(store):
    written = write_artifact([1], _uri(store), store)
    store.delete(written.uri)
    with pytest.raises(MaterializerError, match="deleted from the artifact store") as caught:
        read_artifact(written.uri, store, written.materializer, written.data_type)
    assert written.uri in str(caught.value)


def test_reading_a_corrupt_artifact_raises_materializer_error(store):
    written = write_artifact(np.arange(3), _uri(store), store)
    with store.open(f"{written.uri}/data.npy", "wb") as f:
        f.write(b"not numpy")
    with pytest.raises(MaterializerError, match="numpy.ndarray"):
        read_artifact(written.uri, store, written.materializer, written.data_type)


# --- registry --------------------------------------------------------------

def test_unknown_materializer_name_lists_the_registered_ones():
    with pytest.raises(UnknownNameError) as caught:
        get_materializer("no.such.thing")
    for name in ("builtins.json", "builtins.str", "numpy.ndarray", "pandas.DataFrame", "pickle"):
        assert name in str(caught.value)
    with pytest.raises(UnknownNameError, match="did you mean 'builtins.json'"):
        get_materializer("builtins.jsn")


class Tagged(dict):
    """A dict subclass a user wants written their own way."""


class TaggedMaterializer(Materializer):
    name = "tests.tagged"
    default_kind = ArtifactKind.STATISTICS

    def save(self, obj, uri, store):
        with store.open(f"{uri}/tagged.json", "w") as f:
            f.write(json_values.dumps(dict(obj)))

    def load(self, uri, store, data_type):
        with store.open(f"{uri}/tagged.json", "r") as f:
            return Tagged(json_values.loads(f.read()))


def test_custom_materializer_overrides_builtin_for_a_subclass():
    registry = MaterializerRegistry(entry_point_group=None)
    # JSON would read a dict subclass back as a plain dict, so pickle it is...
    assert registry.materializer_for(Tagged(a=1)).name == "pickle"
    registry.register(TaggedMaterializer, for_types=(Tagged,))
    assert registry.materializer_for(Tagged(a=1)).name == "tests.tagged"
    assert registry.materializer_for({"a": 1}).name == "builtins.json"
    assert registry.get("tests.tagged").name == "tests.tagged"


def test_custom_materializer_overrides_builtin_for_the_same_type_by_name_string():
    class MyDictMaterializer(TaggedMaterializer):
        name = "tests.my_dict"

    registry = MaterializerRegistry(entry_point_group=None)
    registry.register(MyDictMaterializer, for_types=("builtins.dict",))
    assert registry.materializer_for({"a": 1}).name == "tests.my_dict"
    assert registry.materializer_for(Tagged()).name == "tests.my_dict"  # via the MRO
    assert registry.materializer_for([1]).name == "builtins.json"


def test_globally_registered_materializer_writes_and_reads(store):
    register_materializer(TaggedMaterializer, for_types=(Tagged,))
    written, back = roundtrip(Tagged(x=(1, 2)), store)
    assert written.materializer == "tests.tagged"
    assert written.kind is ArtifactKind.STATISTICS
    assert back == Tagged(x=(1, 2)) and type(back) is Tagged


def test_registering_a_taken_name_or_a_bad_class_is_refused():
    class StealsJSON(TaggedMaterializer):
        name = "builtins.json"

    registry = MaterializerRegistry(entry_point_group=None)
    with pytest.raises(ConfigError, match="already the name"):
        registry.register(StealsJSON, for_types=(Tagged,))
    with pytest.raises(ConfigError, match="concrete Materializer"):
        registry.register(Materializer, for_types=(Tagged,))
    with pytest.raises(ConfigError, match="no types"):
        registry.register(TaggedMaterializer)
    with pytest.raises(ConfigError, match="module.QualName"):
        registry.register(TaggedMaterializer, for_types=("Tagged",))


def test_types_are_matched_by_name_without_importing_them():
    registry = MaterializerRegistry(entry_point_group=None)
    registry.register(TaggedMaterializer, for_types=(f"{__name__}.Tagged",))
    assert registry.materializer_for(Tagged()).name == "tests.tagged"


def test_entry_point_plugins_load_lazily_and_broken_ones_warn(tmp_path, monkeypatch):
    (tmp_path / "good_plugin.py").write_text(textwrap.dedent("""
        from zen_mlmd.artifacts import Materializer

        class Point:
            pass

        class PointMaterializer(Materializer):
            name = "plugin.point"
            for_types = ("good_plugin.Point",)

            def save(self, obj, uri, store):
                pass

            def load(self, uri, store, data_type):
                return Point()
    """))
    dist_info = tmp_path / "zen_mlmd_test_plugins-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: zen-mlmd-test-plugins\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[zen_mlmd.test_materializers]\n"
        "good = good_plugin:PointMaterializer\n"
        "broken = no_such_module_anywhere:Thing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = MaterializerRegistry(entry_point_group="zen_mlmd.test_materializers")
    import good_plugin

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert registry.materializer_for(good_plugin.Point()).name == "plugin.point"
    messages = [str(w.message) for w in caught]
    assert any("'broken'" in m and "no_such_module_anywhere" in m for m in messages), messages
    assert "plugin.point" in registry.names()


def test_data_type_of():
    assert data_type_of({}) == "builtins.dict"
    assert data_type_of(np.zeros(1)) == "numpy.ndarray"
    assert data_type_of(pd.DataFrame()) == f"{pd.DataFrame.__module__}.DataFrame"
    assert data_type_of(Tagged()) == f"{__name__}.Tagged"
