"""Runs written by Kubeflow Pipelines' launcher, read through zen_mlmd."""
from __future__ import annotations

import pytest

from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd_kfp.convention import KfpConvention, metric_values

from kfp_written_store import PIPELINE, ROOT, RUN_ID, write_kfp_run


@pytest.fixture
def kfp_store(memory_store):
    written = write_kfp_run(memory_store.raw)
    return memory_store, written


def test_the_kfp_convention_is_registered_by_entry_point():
    from zen_mlmd.mlmd.convention import get_convention

    convention = get_convention("kfp")
    assert isinstance(convention, KfpConvention)
    assert convention.run_context_type == "system.PipelineRun"


def test_pipelines_and_runs_are_found_by_their_kfp_context_types(kfp_store):
    store, _ = kfp_store
    reader = StoreReader(store)
    [pipeline] = reader.list_pipelines()
    assert (pipeline.name, pipeline.convention) == (PIPELINE, "kfp")
    [run] = list(reader.iter_runs(PIPELINE))
    assert (run.name, run.pipeline_name, run.convention) == (RUN_ID, PIPELINE, "kfp")
    assert run.properties == {"namespace": "kubeflow-user", "resource_name": "iris-kfp-x7k2p",
                              "pipeline_root": ROOT}
    assert reader.get_run(RUN_ID).id == run.id


def test_a_run_reads_as_tasks_in_dag_order_with_states_parameters_and_lineage(kfp_store):
    store, written = kfp_store
    reader = StoreReader(store)
    data = reader.read_run(reader.get_run(RUN_ID))
    assert [s.name for s in data.steps] == ["make-data", "train", "evaluate"]  # the root DAG is no step
    assert all(s.state == "COMPLETE" for s in data.steps)
    steps = {s.name: s for s in data.steps}
    assert steps["train"].parameters == {"C": 0.5}
    assert steps["train"].cache_key == "fp-train"
    assert steps["train"].properties["parent_dag_id"] == written.root_dag_id
    assert steps["evaluate"].inputs == {"model": (written.artifacts["train.model"],),
                                        "dataset": (written.artifacts["make-data.dataset"],)}
    assert steps["evaluate"].outputs == {"metrics": (written.artifacts["evaluate.metrics"],)}
    # Lineage: every artifact's producer is the task that output it.
    for key, artifact_id in written.artifacts.items():
        task, output = key.split(".")
        assert data.producers[artifact_id] == (written.executions[task], output)


def test_artifacts_read_with_their_kfp_types_kinds_and_metadata(kfp_store):
    store, written = kfp_store
    reader = StoreReader(store)
    data = reader.read_run(reader.get_run(RUN_ID))
    model = data.artifacts[written.artifacts["train.model"]]
    assert (model.type_name, model.base_type) == ("system.Model", "MODEL")
    assert model.properties == {"display_name": "model", "framework": "sklearn"}
    metrics = data.artifacts[written.artifacts["evaluate.metrics"]]
    assert (metrics.type_name, metrics.base_type, metrics.uri) == (
        "system.Metrics", "METRICS", f"{ROOT}/evaluate/metrics")
    assert metric_values(metrics) == {"accuracy": 0.93, "f1": 0.91}


def test_listing_statuses_reads_the_task_states_of_kfp_runs(kfp_store):
    store, _ = kfp_store
    reader = StoreReader(store)
    run = reader.get_run(RUN_ID)
    assert reader.run_step_states([run]) == {run.id: ("COMPLETE", "COMPLETE", "COMPLETE")}


def test_the_post_execution_api_reads_a_kfp_run(kfp_store):
    from zen_mlmd.post_execution import get_run

    store, written = kfp_store
    run = get_run(RUN_ID, store=store)
    assert run.name == RUN_ID
    # KFP records no end status on the run: its tasks' states tell
    assert run.status == "completed"
    assert run.pipeline_name  # from the parent system.Pipeline context
    names = [step.name for step in run.steps]
    assert names == ["make-data", "train", "evaluate"]
    evaluate = run.get_step("evaluate")
    assert evaluate.status == "completed"
    metrics = evaluate.outputs["metrics"]
    assert metrics.id == written.artifacts["evaluate.metrics"]
