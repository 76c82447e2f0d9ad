"""A run recorded by zen_mlmd in the KFP convention, read back with plain ml_metadata.

What KFP's driver writes (kubeflow/pipelines `backend/src/v2/metadata/client.go`)
and its UI reads is the reference; `kfp_v2_client` follows the same code.
"""
from __future__ import annotations

import json
import uuid

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.errors import AlreadyExistsError
from zen_mlmd.mlmd.convention_registry import get_convention
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.tracking.recorder import Recorder

ROOT = "/data/artifacts"
CONFIG = {"parameters": {"lr": 0.1}, "kfp": {"namespace": "team-a", "pipeline_root": ROOT},
          "steps": [{"name": "load"}, {"name": "evaluate"}, {"name": "load_again"}]}


@pytest.fixture
def recorded(memory_store, tmp_path):
    recorder = Recorder(memory_store, ArtifactStore(str(tmp_path / "artifacts")),
                        convention=get_convention("kfp"))
    with recorder.start_run("Training_Pipeline", "run-1", config=CONFIG) as run:
        first = run.start_step("load", "pkg.steps.load", parameters={"rows": 10}, cache_key="key-load",
                               code_fingerprint="sha256:abc", cache_key_parts={"code": "sha256:abc"})
        first.save_output("data", [1, 2, 3], kind="dataset")
        first.save_output("extra", [4], kind="dataset")
        data_ids = first.publish()
        memory_store.reset_counts()
        second = run.start_step(
            "evaluate", "pkg.steps.evaluate", cache_key="key-eval",
            inputs={"data": data_ids["data"], "pair": (data_ids["extra"][0], data_ids["data"][0])},
            properties={"pod_name": "pod-7", "image": "img:1"})
        second.save_output("metrics", {"accuracy": 0.9, "epochs": 3, "note": "x"}, kind="metrics")
        second.publish()
        step_calls = dict(memory_store.calls)
        run.record_cached_step(run.step_start("load_again", "pkg.steps.load", cache_key="key-load"),
                               first.execution_id, {"data": data_ids["data"]})
    return memory_store, step_calls, data_ids


def run_context(store) -> pb.Context:
    [context] = store.raw.get_contexts_by_type("system.PipelineRun")
    return context


def test_the_run_context_is_named_by_a_run_id_and_keeps_the_run_name(recorded):
    store, _, _ = recorded
    raw = store.raw
    context = run_context(store)
    uuid.UUID(context.name)  # a KFP run ID
    [root] = raw.get_executions_by_type("system.DAGExecution")
    assert root.external_id == "run-1"  # where KFP's launcher never writes (see writing.py)
    assert not context.external_id
    pipeline = raw.get_context_by_type_and_name("system.Pipeline", "training-pipeline")  # k8s-style
    assert [c.id for c in raw.get_parent_contexts_by_context(context.id)] == [pipeline.id]
    props = context.custom_properties
    assert props["namespace"].string_value == "team-a"
    assert props["pipeline_root"].string_value == f"{ROOT}/training-pipeline/{context.name}"
    assert json.loads(props["store_session_info"].string_value) == {"Provider": "file",
                                                                    "Params": {"fromEnv": "true"}}
    reader = StoreReader(store)
    by_name, by_id = reader.get_run("run-1"), reader.get_run(context.name)
    assert by_name.id == by_id.id == context.id
    assert (by_name.name, by_name.run_id, by_name.pipeline_name) == ("run-1", context.name, "training-pipeline")


def test_run_names_stay_unique(recorded, tmp_path):
    store, _, _ = recorded
    recorder = Recorder(store, ArtifactStore(str(tmp_path / "other")), convention=get_convention("kfp"))
    with pytest.raises(AlreadyExistsError, match="'run-1' already exists"):
        recorder.start_run("Training_Pipeline", "run-1")


def test_one_root_dag_named_by_the_run_id_with_empty_task_and_display_names(recorded):
    store, _, _ = recorded
    [root] = store.raw.get_executions_by_type("system.DAGExecution")
    assert root.name == f"run/{run_context(store).name}"
    assert root.custom_properties["task_name"].string_value == ""
    assert root.custom_properties["display_name"].string_value == ""
    assert "parent_dag_id" not in root.custom_properties
    assert root.custom_properties["inputs"].struct_value["lr"] == 0.1


def test_tasks_are_container_executions_keyed_and_parented_as_kfp_does(recorded):
    store, _, _ = recorded
    raw = store.raw
    [root] = raw.get_executions_by_type("system.DAGExecution")
    tasks = {e.custom_properties["task_name"].string_value: e
             for e in raw.get_executions_by_type("system.ContainerExecution")}
    assert set(tasks) == {"load", "evaluate", "load-again"}  # kfp.dsl.utils.maybe_rename_for_k8s
    load, evaluate, cached = tasks["load"], tasks["evaluate"], tasks["load-again"]
    assert cached.custom_properties["display_name"].string_value == "load_again"
    for task in tasks.values():
        props = task.custom_properties
        assert props["parent_dag_id"].int_value == root.id
        assert {"pod_name", "pod_uid", "namespace", "image", "inputs"} <= set(props)
        assert props["namespace"].string_value == "team-a"
    assert evaluate.custom_properties["pod_name"].string_value == "pod-7"
    assert evaluate.custom_properties["image"].string_value == "img:1"
    assert load.custom_properties["cache_fingerprint"].string_value == "key-load"
    assert load.custom_properties["inputs"].struct_value["rows"] == 10
    assert dict(load.custom_properties["outputs"].struct_value) == {}
    assert (load.last_known_state, evaluate.last_known_state, cached.last_known_state) == (
        pb.Execution.COMPLETE, pb.Execution.COMPLETE, pb.Execution.CACHED)
    assert cached.custom_properties["cached_execution_id"].string_value == str(load.id)


def test_artifacts_carry_only_what_kfp_writes(recorded):
    store, _, _ = recorded
    raw = store.raw
    [metrics] = raw.get_artifacts_by_type("system.Metrics")
    assert (metrics.name, metrics.state) == ("", pb.Artifact.LIVE)  # unnamed, as KFP's launcher leaves them
    props = metrics.custom_properties
    assert set(props) == {"display_name", "store_session_info", "accuracy", "epochs"}
    assert (props["accuracy"].double_value, props["epochs"].double_value) == (0.9, 3.0)  # numbers as doubles
    for artifact in raw.get_artifacts():
        assert set(artifact.custom_properties) >= {"display_name", "store_session_info"}
        assert not {"materializer", "cache_key", "producer_execution_id"} & set(artifact.custom_properties)
    # KFP's launcher registers its types without typed properties: none are added
    assert all(not t.properties for t in raw.get_artifact_types())
    for event in raw.get_events_by_execution_ids([e.id for e in raw.get_executions()]):
        assert len(event.path.steps) == 1  # ONE path step, the input/output name


def test_what_zen_mlmd_knows_of_outputs_is_on_the_producing_execution(recorded):
    store, _, data_ids = recorded
    reader = StoreReader(store)
    data = reader.read_run(reader.get_run("run-1"))
    steps = {s.name: s for s in data.steps}
    assert list(steps) == ["load", "evaluate", "load_again"]
    [data_id] = steps["load"].outputs["data"]
    artifact = data.artifacts[data_id]
    assert (artifact.materializer, artifact.data_type, artifact.base_type) == (
        "builtins.json", "builtins.list", "DATASET")
    assert artifact.content_hash.startswith("sha256:")
    assert steps["load_again"].original_execution_id == steps["load"].id
    assert steps["load"].type_name == "pkg.steps.load"


def test_input_order_and_an_artifact_feeding_two_inputs_are_kept(recorded):
    store, _, data_ids = recorded
    reader = StoreReader(store)
    evaluate = next(s for s in reader.read_run(reader.get_run("run-1")).steps if s.name == "evaluate")
    assert evaluate.inputs == {"data": data_ids["data"], "pair": (data_ids["extra"][0], data_ids["data"][0])}


def test_a_step_costs_two_writes_in_the_kfp_convention_too(recorded):
    _, step_calls, _ = recorded
    # (the first metrics output also registers its type, once per connection)
    assert {k: n for k, n in step_calls.items() if not k.endswith("Type")} == {"PutExecution": 2}


def test_the_cache_finds_kfp_recorded_outputs_in_two_calls(recorded):
    store, _, data_ids = recorded
    convention = get_convention("kfp")
    store.reset_counts()
    [cached] = convention.find_cached_executions(store, "key-load")
    assert dict(store.calls) == {"GetExecutions": 1, "GetArtifacts": 1}
    assert [a.id for a in cached.outputs["data"]] == list(data_ids["data"])
    assert cached.outputs["data"][0].materializer == "builtins.json"
    assert cached.outputs["data"][0].data_type == "builtins.list"
    assert cached.outputs["data"][0].content_hash.startswith("sha256:")
    assert convention.find_cached_executions(store, "no-such-key") == []


def test_an_artifact_read_alone_is_read_with_its_materializer(recorded, tmp_path):
    from zen_mlmd.post_execution import get_artifact
    from zen_mlmd.post_execution.session import ReadSession

    store, _, data_ids = recorded
    artifact = get_artifact(data_ids["data"][0], ReadSession(store, ArtifactStore(str(tmp_path / "artifacts"))))
    assert (artifact.name, artifact.materializer, artifact.run_name) == ("data", "builtins.json", "run-1")
    assert artifact.producer_step.name == "load"
    assert artifact.read() == [1, 2, 3]
