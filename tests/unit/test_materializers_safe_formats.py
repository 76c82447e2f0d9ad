"""Safe formats by default: the quickstart's artifacts, Parquet frames, skops models.

The quickstart runs for real (scikit-learn's iris data, offline) on the
default stack; reading its artifacts back must never unpickle anything, so
pickle's loaders are replaced by ones that fail the test.
"""
from __future__ import annotations

import _pickle
import collections
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from materializer_helpers import artifact_uri, roundtrip, store_fixture  # noqa: F401 (fixture `store`)
from zen_mlmd.artifacts import parquet_format, write_artifact
from zen_mlmd.errors import ArtifactTrustError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_pickle(monkeypatch):
    """Every way to unpickle raises (in `pickle` and in its C module)."""
    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used to load an artifact")

    class Refused:
        def __init__(self, *args, **kwargs):
            refuse()

    for module in (pickle, _pickle):
        monkeypatch.setattr(module, "load", refuse)
        monkeypatch.setattr(module, "loads", refuse)
        monkeypatch.setattr(module, "Unpickler", Refused)
    with pytest.raises(AssertionError):
        pickle.loads(pickle.dumps(1))


def test_quickstart_artifacts_are_safe_formats_and_read_back_without_pickle(monkeypatch, request):
    monkeypatch.syspath_prepend(str(REPO / "examples" / "quickstart"))
    sys.modules.pop("pipeline", None)
    from pipeline import iris_training

    run = iris_training.run(quiet=True)
    outputs = {f"{s.name}.{name}": artifact for s in run.steps for name, artifact in s.outputs.items()}
    formats = {key: (a.materializer, sorted(p.name for p in Path(a.uri).iterdir()))
               for key, a in outputs.items()}
    assert formats == {
        "load_iris.features": ("pandas.DataFrame", ["data.parquet"]),
        "split.train": ("pandas.DataFrame", ["data.parquet"]),
        "split.test": ("pandas.DataFrame", ["data.parquet"]),
        "train.model": ("sklearn.skops", ["model.skops"]),
        "evaluate.metrics": ("builtins.json", ["data.json"]),
    }

    request.getfixturevalue("no_pickle")
    read = {key: artifact.read() for key, artifact in outputs.items()}
    assert isinstance(read["load_iris.features"], pd.DataFrame) and len(read["load_iris.features"]) == 150
    assert len(read["split.train"]) + len(read["split.test"]) == 150
    model = read["train.model"]
    test = read["split.test"]
    accuracy = float((model.predict(test.drop(columns="target")) == test["target"]).mean())
    assert read["evaluate.metrics"]["accuracy"] == pytest.approx(accuracy)


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"a": np.arange(3, dtype="int16"), "b": [0.5, np.nan, -np.inf], "c": ["x", None, "ü"]}),
    pd.DataFrame({"t": pd.to_datetime(["2020-01-01", None, "2021-01-01"]).tz_localize("UTC"),
                  "d": pd.to_timedelta([1, 2, None], unit="s"),
                  "k": pd.Categorical(["a", "b", None], categories=["b", "a", "z"], ordered=True),
                  "n": pd.array([1, None, 3], dtype="UInt8"),
                  "f": pd.array([0.5, None, 1.0], dtype="Float32"),
                  "o": pd.array([True, None, False], dtype="boolean")}),
    pd.DataFrame({"v": [1, 2]}, index=pd.MultiIndex.from_tuples([(1, "a"), (2, "b")], names=["i", None])),
    pd.DataFrame({"v": [1.0, 2.0]}, index=pd.Index(["p", "q"], name="key")).rename_axis(columns="cols"),
    pd.DataFrame({"v": [1, 2, 3]}, index=pd.RangeIndex(10, 16, 2)),
    pd.DataFrame({"v": pd.Series([], dtype="float32")}),
], ids=["numbers-strings", "time-categorical-nullable", "multiindex", "named-axes", "range-step",
        "no-rows"])
def test_frames_parquet_keeps_exactly_are_written_as_parquet(store, frame, no_pickle):
    written, back = roundtrip(frame, store, trusted=False)
    assert store.list_files(written.uri) == ["data.parquet"]
    pd.testing.assert_frame_equal(back, frame, check_exact=True, check_index_type=True,
                                  check_column_type=True, check_categorical=True)


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"t": pd.to_datetime(["2020-01-01"]).as_unit("s")}),  # Parquet has no seconds
    pd.DataFrame({"k": pd.Categorical([1, 2])}),  # integer categories come back as plain ints
    pd.DataFrame({0: [1]}),  # non-string labels
    pd.DataFrame({"o": [[1], {"a": 1}]}),  # Python objects
], ids=["seconds", "int-categories", "int-labels", "objects"])
def test_frames_parquet_would_change_keep_the_exact_json_format(store, frame, no_pickle):
    assert not parquet_format.supported(frame)
    written, back = roundtrip(frame, store, trusted=False)
    assert store.list_files(written.uri) == ["data.pandas.json"]
    pd.testing.assert_frame_equal(back, frame, check_exact=True, check_index_type=True,
                                  check_column_type=True)


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"s": pd.array(["a"], dtype="string[python]")}),  # storage changes
    pd.DataFrame({"v": [1, 2]}, index=pd.date_range("2020", periods=2, freq="D")),  # freq lost
], ids=["python-strings", "index-freq"])
def test_what_parquet_would_change_is_not_written_as_parquet(store, frame):
    assert not parquet_format.supported(frame)
    written, _ = roundtrip(frame, store, trusted=False)
    assert store.list_files(written.uri) == ["data.pandas.json"]


def test_skops_refuses_untrusted_types_unless_trusted(store):
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=2, random_state=0).fit([[0], [1], [2]], [0, 1, 1])
    written = write_artifact(model, artifact_uri(store), store)
    assert written.materializer == "sklearn.skops"
    from zen_mlmd.artifacts import read_artifact

    with pytest.raises(ArtifactTrustError) as caught:
        read_artifact(written.uri, store, written.materializer, written.data_type,
                      content_hash=written.content_hash)
    assert "sklearn.tree._tree.Tree" in str(caught.value) and "trusted=True" in str(caught.value)
    back = read_artifact(written.uri, store, written.materializer, written.data_type,
                         content_hash=written.content_hash, trusted=True)
    assert list(back.predict([[0], [2]])) == list(model.predict([[0], [2]]))


def _identity(x):
    return x


@pytest.mark.parametrize("extra", [collections.deque([1, 2]), _identity, re.compile("a")],
                         ids=["deque", "function", "pattern"])
def test_estimators_holding_other_objects_are_pickled(store, extra):
    """skops would rebuild them generically (a deque comes back empty) or not at all."""
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    model.extra = extra
    written, back = roundtrip(model, store)
    assert written.materializer == "pickle"
    assert back.extra == extra


# --- several arrays: numpy.npz ---------------------------------------------------------------
def _assert_same_arrays(back, expected):
    assert type(back) is type(expected)
    pairs = zip(back.items(), expected.items()) if isinstance(expected, dict) else \
        zip(enumerate(back), enumerate(expected))
    assert len(back) == len(expected)
    for (key, array), (expected_key, expected_array) in pairs:
        assert key == expected_key
        assert type(array) is np.ndarray
        assert (array.dtype, array.shape) == (expected_array.dtype, expected_array.shape)
        assert array.flags.f_contiguous == expected_array.flags.f_contiguous
        np.testing.assert_array_equal(array, expected_array, strict=True)


ARRAYS = {
    "X": np.arange(12, dtype="float32").reshape(3, 4),
    "y": np.array([1, 0, 1], dtype="uint8"),
    "scalar": np.array(np.pi),
    "empty": np.zeros((0, 3), dtype="int64"),
    "fortran": np.asfortranarray(np.arange(6, dtype=">i4").reshape(2, 3)),
    "strings": np.array(["a", "ü", ""]),
    "when": np.array(["2020-01-01T00:00:01"], dtype="datetime64[s]"),
    "records": np.array([(1, 2.5)], dtype=[("i", "i2"), ("f", "f8")]),
    "nan": np.array([np.nan, -np.inf, 0.0]),
}


@pytest.mark.parametrize("arrays", [
    ARRAYS,
    # keys np.savez would take as its own arguments, or read back as another member
    {"file": np.ones(2), "allow_pickle": np.zeros(1), "a.npy": np.array([3]), "a": np.array([4]),
     "": np.array([5]), "dir/name with spaces": np.array([6])},
    dict(reversed(list(ARRAYS.items()))),  # key order kept, not sorted
], ids=["dtypes-shapes", "awkward-keys", "order"])
def test_a_dict_of_arrays_is_written_as_npz_and_reads_back_exactly_without_pickle(store, arrays, no_pickle):
    written, back = roundtrip(arrays, store, trusted=False)
    assert (written.materializer, written.data_type, written.kind.value) == ("numpy.npz", "builtins.dict", "DATASET")
    assert store.list_files(written.uri) == ["data.npz"]
    _assert_same_arrays(back, arrays)


@pytest.mark.parametrize("container", [tuple, list])
def test_a_tuple_or_list_of_arrays_reads_back_as_the_same_container(store, container, no_pickle):
    arrays = container([ARRAYS["X"], ARRAYS["y"]] + [np.full(1, i) for i in range(11)])  # arr_10 after arr_9
    written, back = roundtrip(arrays, store, trusted=False)
    assert written.materializer == "numpy.npz" and store.list_files(written.uri) == ["data.npz"]
    _assert_same_arrays(back, arrays)


def test_equal_arrays_give_equal_bytes_and_content_hashes(store):
    first = write_artifact(ARRAYS, artifact_uri(store), store)
    second = write_artifact(dict(ARRAYS), artifact_uri(store), store)
    assert first.content_hash == second.content_hash


@pytest.mark.parametrize("value, materializer", [
    ({"ok": np.arange(2), "objects": np.array([1, "a"], dtype=object)}, "pickle"),
    ((np.arange(2), np.array([None], dtype=object)), "pickle"),
    ({"X": np.arange(2), "n": 3}, "pickle"),  # not only arrays
    ({1: np.arange(2)}, "pickle"),  # a key that is not a str
    (collections.OrderedDict(X=np.arange(2)), "pickle"),  # would come back a plain dict
    ({"X": np.ma.masked_array([1, 2], mask=[0, 1])}, "pickle"),  # a subclass loses its mask
    ({}, "builtins.json"),
    ((), "builtins.json"),
    ({"a": 1, "b": [2.5]}, "builtins.json"),
])
def test_what_npz_cannot_hold_exactly_goes_to_json_or_pickle(store, value, materializer):
    written, back = roundtrip(value, store)
    assert written.materializer == materializer
    assert type(back) is type(value) and len(back) == len(value)


def test_a_tampered_npz_fails_the_hash_check_and_loads_nothing(store):
    from zen_mlmd.artifacts import read_artifact
    from zen_mlmd.errors import ArtifactIntegrityError

    written = write_artifact(ARRAYS, artifact_uri(store), store)
    path = f"{written.uri}/data.npz"
    with store.open(path, "rb") as f:
        data = bytearray(f.read())
    data[-200] ^= 0xFF
    with store.open(path, "wb") as f:
        f.write(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="do not match the content hash"):
        read_artifact(written.uri, store, written.materializer, written.data_type,
                      content_hash=written.content_hash)


class _Payload:
    """Unpickling it would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_forged_npz_holding_a_pickle_is_refused_and_runs_nothing(tmp_path):
    """A writer of the store crafts data.npz with an object array and records its true hash."""
    import io
    import zipfile

    from zen_mlmd.artifacts import ArtifactStore, hashing, read_artifact
    from zen_mlmd.errors import MaterializerError

    store = ArtifactStore(str(tmp_path / "artifacts"))
    marker = tmp_path / "marker"
    uri = artifact_uri(store)
    store.makedirs(uri)
    payload = io.BytesIO()
    np.save(payload, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    with store.open(f"{uri}/data.npz", "wb") as f, zipfile.ZipFile(f, "w") as archive:
        archive.writestr("X.npy", payload.getvalue())
    with pytest.raises(MaterializerError, match="numpy.npz.*Object arrays cannot be loaded"):
        read_artifact(uri, store, "numpy.npz", "builtins.dict", content_hash=hashing.content_hash(uri, store))
    assert not marker.exists()


def test_saving_containers_without_arrays_never_imports_numpy(tmp_path):
    import subprocess

    code = ("import sys\n"
            "from zen_mlmd.artifacts import ArtifactStore, write_artifact\n"
            f"store = ArtifactStore({str(tmp_path)!r})\n"
            "for i, value in enumerate([{'a': 1}, (1, 'x'), [{}], {}]):\n"
            "    write_artifact(value, store.uri_for('p', 'r', 's', str(i)), store)\n"
            "print('numpy' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
