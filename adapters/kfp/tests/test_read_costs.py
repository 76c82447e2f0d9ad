"""Reading a Kubeflow Pipelines run costs what reading a native run of the same size costs.

MLMD calls are counted (`MetadataStore.calls`), never timed. A KFP run
written as KFP's driver writes it (`kfp_v2_runs`: importer, make-data, a
ParallelFor of N train tasks, a sub-pipeline) is read next to a native
run with the same steps and artifacts.
"""
from __future__ import annotations

import collections

import pytest
from ml_metadata.metadata_store import metadata_store

from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.tracking.recorder import Recorder

from kfp_v2_client import Client, sqlite_config
from kfp_v2_runs import RUN_1, training_run


def kfp_store(tmp_path, iterations: int) -> MetadataStore:
    config = sqlite_config(tmp_path / f"kfp-{iterations}.db")
    training_run(Client(metadata_store.MetadataStore(config)), RUN_1,
                 learning_rates=[0.1 / (i + 1) for i in range(iterations)])
    return MetadataStore(config)


def native_store(tmp_path, iterations: int) -> MetadataStore:
    """The same steps, inputs and outputs, recorded by zen_mlmd in its own convention."""
    store = MetadataStore(sqlite_config(tmp_path / f"native-{iterations}.db"))
    recorder = Recorder(store, ArtifactStore(str(tmp_path / f"artifacts-{iterations}")))
    with recorder.start_run("training", "native-run") as run:
        imported = run.start_step("importer", "steps.importer")
        imported.save_output("artifact", [1, 2, 3], kind="dataset")
        raw = imported.publish()["artifact"]
        make = run.start_step("make_data", "steps.make_data", inputs={"raw": raw})
        make.save_output("dataset", [1, 2], kind="dataset")
        dataset = make.publish()["dataset"]
        for index in range(iterations):
            train = run.start_step(f"train_{index}", "steps.train", parameters={"lr": 0.1 / (index + 1)},
                                   inputs={"dataset": dataset})
            train.save_output("model", {"w": index}, kind="model")
            train.save_output("metrics", {"accuracy": 0.9}, kind="metrics")
            train.publish()
        report = run.start_step("report", "steps.report", inputs={"dataset": dataset})
        report.save_output("summary", "ok")
        report.publish()
    return store


def read_costs(store: MetadataStore, run_name: str) -> tuple[collections.Counter, collections.Counter, int]:
    """(calls of get_run, calls of read_run, steps read), with the store's type cache warm."""
    reader = StoreReader(store)
    reader.get_run(run_name)  # types are registered once per connection
    store.reset_counts()
    run = reader.get_run(run_name)
    lookup = collections.Counter(store.calls)
    store.reset_counts()
    data = reader.read_run(run)
    return lookup, collections.Counter(store.calls), len(data.steps)


@pytest.mark.parametrize("iterations", [3, 30])
def test_a_kfp_run_reads_in_the_calls_of_a_native_run_of_its_size(tmp_path, iterations):
    kfp_lookup, kfp_read, kfp_steps = read_costs(kfp_store(tmp_path, iterations), RUN_1)
    native_lookup, native_read, native_steps = read_costs(native_store(tmp_path, iterations), "native-run")
    assert kfp_steps == native_steps == iterations + 3
    # the whole run: its executions (DAG rows among them), their events, artifacts and types
    assert kfp_read == native_read
    assert sum(kfp_read.values()) == 5
    # Finding the run: KFP records the pipeline only as the run's parent context, and
    # zen_mlmd's facts about a run (if it recorded it) are on the root DAG, read
    # with one query per page of runs: two calls more, whatever the run's size.
    assert native_lookup == collections.Counter({"GetContextTypes": 1, "GetContextByTypeAndName": 1})
    assert kfp_lookup == native_lookup + collections.Counter({"GetContexts": 1, "GetExecutions": 1})


def test_the_cost_does_not_grow_with_the_number_of_loop_iterations(tmp_path):
    """Within one page of executions (MLMD pages hold 100; a KFP iteration is a task and a DAG)."""
    small = read_costs(kfp_store(tmp_path, 3), RUN_1)
    large = read_costs(kfp_store(tmp_path, 45), RUN_1)
    assert (small[0], small[1]) == (large[0], large[1])
    assert large[2] == 48
