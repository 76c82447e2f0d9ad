"""Materializers of numpy arrays and pandas frames and series, and the kind of each artifact."""
import numpy as np
import pandas as pd
import pytest

from materializer_helpers import artifact_uri, roundtrip, store_fixture  # noqa: F401 (fixture `store`)
from zen_mlmd.artifacts import ArtifactKind, Model, default_kind_for, write_artifact
from zen_mlmd.errors import ConfigError


class Estimator:
    """A scikit-learn style model without scikit-learn."""

    def __init__(self, weight=2.0):
        self.weight = weight

    def fit(self, x, y):
        return self

    def predict(self, x):
        return [self.weight * v for v in x]


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


PARQUET, JSON = "data.parquet", "data.pandas.json"


@pytest.mark.parametrize(
    "frame, file_name",
    [
        (_all_dtypes_frame(), JSON),  # its object column has no exact Parquet form
        (_all_dtypes_frame().drop(columns="obj"), PARQUET),
        (pd.DataFrame({"a": [1, 2]}), PARQUET),
        (pd.DataFrame(), JSON),
        (pd.DataFrame(index=pd.RangeIndex(5, 15, 2)), JSON),
        (pd.DataFrame([[1, 2], [3, 4]], columns=["dup", "dup"]), JSON),
        (pd.DataFrame(
            {("a", 1): [1.0, 2.0], ("b", 2): ["x", "y"]},
            index=pd.MultiIndex.from_tuples([("k", 1), ("k", 2)], names=["key", None]),
        ), JSON),
        (pd.DataFrame({"v": [1, 2]}, index=pd.to_datetime(["2020-01-01", "2020-01-02"])), PARQUET),
        (pd.DataFrame({"v": [1, 2]}, index=pd.CategoricalIndex(["a", "b"])), PARQUET),
        (pd.DataFrame({0: [1], 1.5: [2], None: [3]}), JSON),
    ],
    ids=["all-dtypes", "all-but-objects", "simple", "empty", "range-index-no-columns",
         "duplicate-columns", "multiindex", "datetime-index", "categorical-index", "mixed-labels"],
)
def test_pandas_dataframe_round_trip_keeps_dtypes_and_index(store, frame, file_name):
    written, back = roundtrip(frame, store)
    assert written.materializer == "pandas.DataFrame"
    assert written.kind is ArtifactKind.DATASET
    assert store.list_files(written.uri) == [file_name]
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


def test_scikit_learn_model_is_written_with_skops_as_a_model(store):
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0]))
    written, back = roundtrip(model, store, trusted=False)
    assert written.materializer == "sklearn.skops"
    assert store.list_files(written.uri) == ["model.skops"]
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
    written = write_artifact({"weights": [1, 2]}, artifact_uri(store), store, kind=Model)
    assert written.kind is ArtifactKind.MODEL
    with pytest.raises(ConfigError, match="valid kinds"):
        write_artifact(1, artifact_uri(store), store, kind="modle")

