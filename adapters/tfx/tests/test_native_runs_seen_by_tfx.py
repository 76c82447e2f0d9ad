"""A run recorded by zen_mlmd's native writer, found by the MLMD queries TFX itself makes.

TFX's portable launcher and its tools look a run up by its ``pipeline_run``
context, steps by their ``node`` context, and artifacts by context; these
tests make the same plain ml_metadata calls on a zen_mlmd-written store.
"""
from __future__ import annotations

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.store import MetadataStore, in_memory_connection_config
from zen_mlmd.tracking.recorder import Recorder

PIPELINE = "taxi_native"
RUN = "taxi_native-run-1"


@pytest.fixture
def native_run():
    store = MetadataStore(in_memory_connection_config())
    recorder = Recorder(store)
    ids = {}
    with recorder.start_run(PIPELINE, run_name=RUN) as run:
        load = run.start_step("load", type_name="steps.data.load", parameters={"rows": 10},
                              cache_key="a" * 64)
        ids["data"] = load.publish({"data": records.OutputArtifact(
            uri="/artifacts/load/data", kind="dataset", materializer="json", data_type="builtins.dict")})["data"]
        train = run.start_step("train", type_name="steps.model.train", inputs={"data": ids["data"]},
                               cache_key="b" * 64)
        ids["model"] = train.publish({"model": records.OutputArtifact(
            uri="/artifacts/train/model", kind="model", materializer="pickle", data_type="sklearn.Model")})["model"]
        ids["executions"] = {"load": load.execution_id, "train": train.execution_id}
    return store.raw, ids


def test_the_run_is_found_by_its_pipeline_run_context(native_run):
    raw, ids = native_run
    run = raw.get_context_by_type_and_name("pipeline_run", RUN)
    assert run is not None
    executions = raw.get_executions_by_context(run.id)
    assert sorted(e.id for e in executions) == sorted(ids["executions"].values())
    assert {e.last_known_state for e in executions} == {pb.Execution.COMPLETE}
    [parent] = raw.get_parent_contexts_by_context(run.id)
    assert (parent.type, parent.name) == ("pipeline", PIPELINE)


def test_each_step_is_found_by_its_node_context(native_run):
    raw, ids = native_run
    for step, execution_id in ids["executions"].items():
        node = raw.get_context_by_type_and_name("node", f"{PIPELINE}.{step}")
        assert node is not None
        assert [e.id for e in raw.get_executions_by_context(node.id)] == [execution_id]


def test_artifacts_are_attributed_to_the_run_and_pipeline(native_run):
    raw, ids = native_run
    expected = sorted([*ids["data"], *ids["model"]])
    for type_name, name in (("pipeline_run", RUN), ("pipeline", PIPELINE)):
        context = raw.get_context_by_type_and_name(type_name, name)
        artifacts = raw.get_artifacts_by_context(context.id)
        assert sorted(a.id for a in artifacts) == expected
        assert {a.state for a in artifacts} == {pb.Artifact.LIVE}


def test_events_follow_tfx_key_index_paths(native_run):
    raw, ids = native_run
    events = raw.get_events_by_execution_ids([ids["executions"]["train"]])
    paths = {(e.type, e.path.steps[0].key, e.path.steps[1].index) for e in events}
    assert paths == {(pb.Event.INPUT, "data", 0), (pb.Event.OUTPUT, "model", 0)}
