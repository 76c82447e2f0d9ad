"""A run recorded by zen_mlmd in the KFP convention, read back with plain ml_metadata."""
from __future__ import annotations

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.mlmd.convention import get_convention
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.tracking.recorder import Recorder
from zen_mlmd.mlmd.cache_query import find_cached_outputs

KFP_EXECUTION_PROPERTIES = {
    "display_name", "task_name", "parent_dag_id", "cache_fingerprint", "inputs",
    # zen_mlmd's own, where KFP has no equivalent:
    "run_name", "step_type", "code_fingerprint", "cache_key_parts",
}


@pytest.fixture
def recorded(memory_store, tmp_path):
    recorder = Recorder(memory_store, ArtifactStore(str(tmp_path / "artifacts")),
                        convention=get_convention("kfp"))
    with recorder.start_run("training", "run-1", config={"parameters": {"lr": 0.1}}) as run:
        first = run.start_step("load", "pkg.steps.load", parameters={"rows": 10}, cache_key="key-load",
                               code_fingerprint="sha256:abc", cache_key_parts={"code": "sha256:abc"})
        first.save_output("data", [1, 2, 3], kind="dataset")
        data_ids = first.publish()
        memory_store.reset_counts()
        second = run.start_step("evaluate", "pkg.steps.evaluate", inputs={"data": data_ids["data"]},
                                cache_key="key-eval", properties={"pod_name": "pod-7", "image": "img:1"})
        second.save_output("metrics", {"accuracy": 0.9}, kind="metrics")
        second.publish()
        step_calls = dict(memory_store.calls)
        run.record_cached_step(run.step_start("load_again", "pkg.steps.load", cache_key="key-load"),
                               first.execution_id, {"data": data_ids["data"]})
    return memory_store, step_calls


def test_kfp_types_contexts_and_root_dag(recorded):
    store, _ = recorded
    raw = store.raw
    assert {t.name for t in raw.get_context_types()} == {"system.Pipeline", "system.PipelineRun"}
    assert {t.name for t in raw.get_execution_types()} == {"system.DAGExecution", "system.ContainerExecution"}
    assert {t.name for t in raw.get_artifact_types()} == {"system.Dataset", "system.Metrics"}
    # KFP's launcher registers its types without typed properties: none are added.
    assert all(not t.properties for t in raw.get_artifact_types())
    pipeline = raw.get_context_by_type_and_name("system.Pipeline", "training")
    run = raw.get_context_by_type_and_name("system.PipelineRun", "run-1")
    assert [c.id for c in raw.get_parent_contexts_by_context(run.id)] == [pipeline.id]
    assert {"namespace", "resource_name", "pipeline_root"} <= set(run.custom_properties)
    assert run.custom_properties["resource_name"].string_value == "run-1"
    [root] = raw.get_executions_by_type("system.DAGExecution")
    assert root.name == "run/run-1"
    assert root.last_known_state == pb.Execution.COMPLETE  # the run ended
    assert root.custom_properties["inputs"].struct_value["lr"] == 0.1


def test_tasks_are_container_executions_named_and_parented_as_kfp_does(recorded):
    store, _ = recorded
    raw = store.raw
    [root] = raw.get_executions_by_type("system.DAGExecution")
    tasks = {e.custom_properties["task_name"].string_value: e
             for e in raw.get_executions_by_type("system.ContainerExecution")}
    assert set(tasks) == {"load", "evaluate", "load_again"}
    load, evaluate, cached = tasks["load"], tasks["evaluate"], tasks["load_again"]
    assert set(load.custom_properties) == KFP_EXECUTION_PROPERTIES
    assert set(evaluate.custom_properties) == (
        KFP_EXECUTION_PROPERTIES - {"code_fingerprint", "cache_key_parts"}) | {"pod_name", "image"}
    assert evaluate.custom_properties["pod_name"].string_value == "pod-7"
    assert load.custom_properties["display_name"].string_value == "load"
    assert load.custom_properties["parent_dag_id"].int_value == root.id
    assert load.custom_properties["cache_fingerprint"].string_value == "key-load"
    assert load.custom_properties["inputs"].struct_value["rows"] == 10
    assert (load.last_known_state, evaluate.last_known_state, cached.last_known_state) == (
        pb.Execution.COMPLETE, pb.Execution.COMPLETE, pb.Execution.CACHED)
    assert cached.custom_properties["cached_execution_id"].string_value == str(load.id)


def test_artifacts_and_events_follow_kfp(recorded):
    store, _ = recorded
    raw = store.raw
    [metrics] = raw.get_artifacts_by_type("system.Metrics")
    assert metrics.state == pb.Artifact.LIVE
    props = metrics.custom_properties
    assert props["display_name"].string_value == "metrics"
    assert {"materializer", "data_type", "content_hash", "cache_key",
            "producer_execution_id"} <= set(props)
    assert "output_index" not in props  # the index is in the artifact's name
    events = raw.get_events_by_artifact_ids([metrics.id])
    assert [[s.key for s in e.path.steps] for e in events] == [["metrics"]]  # ONE path step
    for event in raw.get_events_by_execution_ids([e.id for e in raw.get_executions()]):
        assert len(event.path.steps) == 1


def test_a_step_costs_two_writes_in_the_kfp_convention_too(recorded):
    _, step_calls = recorded
    # (the first metrics output also registers its type, once per connection)
    assert {k: n for k, n in step_calls.items() if not k.endswith("Type")} == {"PutExecution": 2}


def test_a_kfp_recorded_run_reads_back_through_zen_mlmd(recorded):
    store, _ = recorded
    reader = StoreReader(store)
    run = reader.get_run("run-1")
    assert (run.convention, run.recorded_status, run.pipeline_name) == ("kfp", "completed", "training")
    data = reader.read_run(run)
    steps = {s.name: s for s in data.steps}
    assert list(steps) == ["load", "evaluate", "load_again"]
    assert steps["load_again"].original_execution_id == steps["load"].id
    assert steps["evaluate"].inputs == {"data": steps["load"].outputs["data"]}
    [data_id] = steps["load"].outputs["data"]
    assert data.artifacts[data_id].materializer and data.artifacts[data_id].base_type == "DATASET"


def test_the_cache_finds_kfp_recorded_outputs(recorded):
    store, _ = recorded
    cached = find_cached_outputs(store, "key-eval")
    [artifact] = cached.outputs["metrics"]
    assert artifact.materializer and artifact.data_type == "builtins.dict"
