"""compare_runs: parameters and metrics of runs side by side."""
from __future__ import annotations

import pytest

from post_execution_helpers import LocalTestStack, record_training
from zen_mlmd.errors import UnknownNameError, ZenMLMDError
from zen_mlmd.mlmd.store import MetadataStore, in_memory_connection_config
from zen_mlmd.post_execution import compare_runs, get_pipeline


@pytest.fixture
def store(tmp_path):
    store = MetadataStore(in_memory_connection_config())
    stack = LocalTestStack(store, tmp_path / "artifacts")
    for name, c in (("r1", 1.0), ("r2", 2.0), ("r3", 1.0)):
        record_training(stack, run_name=name, C=c)
    return store


def test_default_columns_are_differing_parameters_and_every_metric(store):
    table = compare_runs(["r1", "r2", "r3"], store=store)
    assert table.columns == ("run", "start_time", "status", "train.C", "evaluate.metrics.accuracy",
                             "evaluate.metrics.loss", "evaluate.n_test")
    assert [(r["run"], r["status"], r["train.C"]) for r in table.rows] == [
        ("r1", "completed", 1.0), ("r2", "completed", 2.0), ("r3", "cached", 1.0)]
    assert table.rows[0]["evaluate.metrics.accuracy"] == table.rows[2]["evaluate.metrics.accuracy"]
    assert table.rows[1]["evaluate.n_test"] == 5


def test_chosen_columns_and_text(store):
    runs = list(get_pipeline("training", store).runs)
    table = compare_runs(runs, parameters=["train.C", "load.n_samples"],
                         metrics=["evaluate.metrics.accuracy"])
    assert table.columns[3:] == ("train.C", "load.n_samples", "evaluate.metrics.accuracy")
    lines = table.to_text().splitlines()
    assert lines[0].split() == list(table.columns)
    assert lines[1].split()[0] == "r3" and len(lines) == 4


def test_unknown_columns_suggest_close_names(store):
    with pytest.raises(UnknownNameError, match="did you mean 'train.C'"):
        compare_runs(["r1", "r2"], parameters=["train.c"], store=store)
    with pytest.raises(UnknownNameError, match="evaluate.metrics.accuracy"):
        compare_runs(["r1", "r2"], metrics=["evaluate.metrics.acuracy"], store=store)


def test_reading_runs_costs_a_bounded_number_of_calls_per_run(store):
    store.reset_counts()
    compare_runs(["r1", "r2", "r3"], store=store)
    assert store.total_calls <= 3 * 9


def test_dataframe_or_a_clear_error(store):
    table = compare_runs(["r1", "r2"], store=store)
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ZenMLMDError, match="pip install pandas"):
            table.to_dataframe()
        return
    frame = table.to_dataframe()
    assert list(frame.index) == ["r1", "r2"] and frame.loc["r2", "train.C"] == 2.0


def test_text_shows_numbers_as_run_describe_does(store):
    """`run compare` printed 1 where `run describe` printed 1.0 for the same parameter."""
    lines = compare_runs(["r1", "r2"], parameters=["train.C", "load.n_samples"],
                         metrics=["evaluate.n_test"], store=store).to_text().splitlines()
    assert lines[0].split()[-3:] == ["train.C", "load.n_samples", "evaluate.n_test"]
    assert [line.split()[-3:] for line in lines[1:]] == [["1.0", "10", "5"], ["2.0", "10", "5"]]
