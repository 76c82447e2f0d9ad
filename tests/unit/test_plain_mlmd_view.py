"""What another MLMD tool sees: a recorded run read with plain ml_metadata only.

The pipeline is recorded with zen_mlmd; everything after that uses nothing
but `ml_metadata` and the file system.
"""
from __future__ import annotations

import os

import pytest
from google.protobuf.struct_pb2 import ListValue
from ml_metadata.metadata_store import metadata_store as plain_mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

from tracking_helpers import LocalTestStack, sqlite_store
from zen_mlmd.artifacts import Dataset, Metrics, Model
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step


@step(outputs={"train": Dataset, "test": Dataset})
def split_rows(n: int = 6):
    rows = list(range(n))
    return rows[: n // 2], rows[n // 2:]


@step(outputs={"model": Model})
def fit_mean(parts: list, lr: float = 0.5):
    values = [x for part in parts for x in part]
    return {"mean": sum(values) / len(values), "lr": lr}


@step(outputs={"metrics": Metrics})
def check(model: dict, test: list):
    return {"error": abs(model["mean"] - sum(test) / len(test))}


@pipeline
def plain_view(n: int = 6, lr: float = 0.5):
    train, test = split_rows(n=n)
    check(fit_mean([train, test], lr=lr), test)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plain")
    db = tmp / "mlmd.sqlite"
    stack = LocalTestStack(sqlite_store(db), tmp / "artifacts")
    plain_view.run(stack=stack, quiet=True, run_name="plain-1")
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(db)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
    return plain_mlmd.MetadataStore(config)


def _path(event: pb.Event) -> list:
    return [s.key if s.HasField("key") else s.index for s in event.path.steps]


def test_the_run_is_a_pipeline_run_context_under_a_pipeline_context(recorded):
    store = recorded
    run = store.get_context_by_type_and_name("pipeline_run", "plain-1")
    assert run is not None and run.type == "pipeline_run"
    [parent] = store.get_parent_contexts_by_context(run.id)
    assert parent.type == "pipeline"
    assert parent.name == "plain_view"
    assert run.custom_properties["status"].string_value == "completed"
    assert [c.name for c in store.get_children_contexts_by_context(parent.id)] == ["plain-1"]


def test_each_step_is_a_complete_execution_with_a_display_name(recorded):
    store = recorded
    run = store.get_context_by_type_and_name("pipeline_run", "plain-1")
    executions = store.get_executions_by_context(run.id)
    names = sorted(e.custom_properties["display_name"].string_value for e in executions)
    assert names == ["check", "fit_mean", "split_rows"]
    for execution in executions:
        assert execution.last_known_state == pb.Execution.COMPLETE
        step_name = execution.custom_properties["display_name"].string_value
        assert execution.name == f"plain-1.{step_name}"
        assert execution.type.endswith(f".{step_name}")
        node = store.get_context_by_type_and_name("node", f"plain_view.{step_name}")
        assert node is not None
        assert execution.id in [e.id for e in store.get_executions_by_context(node.id)]
    fit = next(e for e in executions if e.name == "plain-1.fit_mean")
    assert fit.custom_properties["param.lr"].double_value == 0.5


def test_each_output_is_a_live_artifact_with_a_base_type_and_existing_uri(recorded):
    store = recorded
    run = store.get_context_by_type_and_name("pipeline_run", "plain-1")
    executions = {e.id: e for e in store.get_executions_by_context(run.id)}
    events = store.get_events_by_execution_ids(list(executions))
    outputs = [e for e in events if e.type == pb.Event.OUTPUT]
    assert len(outputs) == 4  # train, test, model, metrics
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in outputs])}
    types = {t.id: t for t in store.get_artifact_types_by_id(list({a.type_id for a in artifacts.values()}))}
    expected_base = {"train": pb.ArtifactType.DATASET, "test": pb.ArtifactType.DATASET,
                     "model": pb.ArtifactType.MODEL, "metrics": pb.ArtifactType.METRICS}
    for event in outputs:
        artifact = artifacts[event.artifact_id]
        key, index = _path(event)
        assert index == 0
        assert artifact.state == pb.Artifact.LIVE
        artifact_type = types[artifact.type_id]
        assert artifact_type.HasField("base_type")
        assert artifact_type.base_type == expected_base[key]
        assert artifact_type.name.startswith("zen_mlmd.")
        assert "display_name" not in artifact.custom_properties  # the output name is in its name
        listed = ListValue()  # what zen_mlmd knows of the output, read with protobuf alone
        assert artifact.custom_properties["zen_mlmd_output"].proto_value.Unpack(listed)
        materializer, data_type, content_hash, size_bytes, producer = listed
        assert materializer and data_type and content_hash.startswith("sha256:") and size_bytes > 0
        assert producer == event.execution_id
        assert os.path.exists(artifact.uri)
        assert os.listdir(artifact.uri)  # the materializer's files are there
        producer = executions[event.execution_id]
        assert artifact.name == f"{producer.name}.{key}"


def test_inputs_are_linked_by_input_events_with_key_index_paths(recorded):
    store = recorded
    run = store.get_context_by_type_and_name("pipeline_run", "plain-1")
    executions = {e.name: e for e in store.get_executions_by_context(run.id)}
    events = store.get_events_by_execution_ids([e.id for e in executions.values()])
    produced = {(e.execution_id, _path(e)[0]): e.artifact_id for e in events if e.type == pb.Event.OUTPUT}
    split = executions["plain-1.split_rows"].id
    fit = executions["plain-1.fit_mean"].id
    check = executions["plain-1.check"].id
    fit_inputs = sorted(_path(e) + [e.artifact_id] for e in events
                        if e.type == pb.Event.INPUT and e.execution_id == fit)
    assert fit_inputs == [["parts", 0, produced[(split, "train")]],
                          ["parts", 1, produced[(split, "test")]]]
    check_inputs = sorted(_path(e) + [e.artifact_id] for e in events
                          if e.type == pb.Event.INPUT and e.execution_id == check)
    assert check_inputs == [["model", 0, produced[(fit, "model")]],
                            ["test", 0, produced[(split, "test")]]]
    for event in events:
        assert len(event.path.steps) == 2
        assert event.path.steps[0].HasField("key") and event.path.steps[1].HasField("index")
