"""Materializers of built-in values: JSON (and its value codec), str, bytes, pickle."""
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from materializer_helpers import artifact_uri, roundtrip, store_fixture  # noqa: F401 (fixture `store`)
from zen_mlmd.artifacts import (
    ArtifactStore,
    data_type_of,
    materializer_for,
    read_artifact,
    write_artifact,
)
from zen_mlmd.artifacts import json_values


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
    written = write_artifact({"accuracy": 0.9, "loss": 1}, artifact_uri(store), store)
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
    uri = artifact_uri(store)
    written = write_artifact(obj, uri, store, materializer="builtins.json")
    try:
        back = read_artifact(uri, store, written.materializer, written.data_type,
                             content_hash=written.content_hash)
        assert _same(back, obj), (obj, back)
    finally:
        store.delete(uri)


@given(obj=json_trees)
def test_json_codec_round_trips(obj):
    assert _same(json_values.loads(json_values.dumps(obj)), obj)


@given(obj=json_trees)
def test_json_text_is_the_same_with_or_without_the_plain_fast_path(obj):
    """Values that need no tag skip `encode`: the bytes, and so content hashes, stay the same."""
    import json

    assert json_values.dumps(obj) == json.dumps(json_values.encode(obj), ensure_ascii=False, allow_nan=True)


def _nested(levels, leaf, wrap=list):
    value = leaf
    for _ in range(levels):
        value = wrap([value]) if wrap is not dict else {"k": value}
    return value


@pytest.mark.parametrize("wrap, levels", [(list, 500), (dict, 500), (tuple, 250)])
def test_json_takes_values_nested_500_levels_deep_and_reads_them_back(wrap, levels):
    """The limit is exact: a leaf 500 JSON levels down, not 501 (a tuple's tag takes
    a level of its own), and what is written reads back at Python's default recursion limit."""
    import sys

    assert sys.getrecursionlimit() == 1000
    deepest = _nested(levels, 7, wrap)
    assert json_values.is_json_native(deepest)
    assert json_values.loads(json_values.dumps(deepest)) == deepest
    assert json_values.is_json_native(_nested(levels, [], wrap))  # an empty list down there holds nothing
    too_deep = _nested(levels + 1, 7, wrap)
    assert not json_values.is_json_native(too_deep)
    with pytest.raises(TypeError, match="500 levels"):
        json_values.dumps(too_deep)


def test_json_refuses_non_native_values():
    # NumPy scalars that would not read back as themselves: an alias type of
    # int64, extended precision, complex, dates
    for value in (np.longlong(1), np.longdouble(1.0), np.complex128(1j), np.datetime64("2024-01-01")):
        assert not json_values.is_json_native({"a": value}), value
    with pytest.raises(TypeError, match="not JSON-native"):
        json_values.dumps([object()])


NUMPY_SCALARS = [np.float64(0.1), np.float32(0.1), np.float16(0.3), np.float64("nan"),
                 np.float32("-inf"), np.int8(-5), np.int64(-2**63), np.uint64(2**64 - 1),
                 np.bool_(True), np.bool_(False)]


@pytest.mark.parametrize("value", NUMPY_SCALARS, ids=lambda v: f"{type(v).__name__}({v})")
def test_numpy_scalars_read_back_as_the_same_type_and_value(value):
    back = json_values.loads(json_values.dumps({"metric": value, "list": [value]}))
    for got in (back["metric"], back["list"][0]):
        assert type(got) is type(value)
        assert got.tobytes() == value.tobytes()  # bit for bit (nan, -inf, the widest ints)


def test_a_metrics_dict_of_numpy_scalars_is_json_and_loads_without_pickle(store, monkeypatch):
    import pickle

    metrics = {"accuracy": np.float64(0.93), "f1": np.float32(0.5), "n": np.int64(150),
               "passed": np.bool_(True), "plain": 0.25}
    written = write_artifact(metrics, artifact_uri(store), store)
    assert written.materializer == "builtins.json"
    with store.open(f"{written.uri}/data.json", "r") as f:
        assert json.loads(f.read())["accuracy"] == {"$numpy": ["float64", 0.93]}

    def no_pickle(*args, **kwargs):
        raise AssertionError("pickle was called")

    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "load", no_pickle)
    back = read_artifact(written.uri, store, written.materializer, written.data_type,
                         content_hash=written.content_hash)  # not trusted: JSON needs no trust
    assert back == metrics
    assert {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in metrics.items()}


def test_a_numpy_tag_with_an_unknown_dtype_is_refused():
    with pytest.raises(ValueError, match="'object' is not a NumPy scalar type"):
        json_values.loads('{"m": {"$numpy": ["object", 1]}}')


def test_subclasses_of_builtins_fall_back_to_pickle(store):
    import enum

    class Color(enum.IntEnum):
        RED = 1

    assert materializer_for(Color.RED).name == "pickle"
    assert materializer_for(np.longlong(1)).name == "pickle"  # an int64 alias would read back as int64


def test_numpy_scalars_alone_are_json_too(store):
    for value in (np.float64(1.5), np.float32(1.5), np.int32(7)):
        written, back = roundtrip(value, store)
        assert written.materializer == "builtins.json"
        assert written.data_type == data_type_of(value)
        assert type(back) is type(value) and back == value

