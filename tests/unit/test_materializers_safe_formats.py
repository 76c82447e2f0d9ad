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
