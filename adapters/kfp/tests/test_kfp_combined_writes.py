"""Held-back publishes in the KFP convention: one write per step boundary, KFP's shape kept.

The KFP convention links steps to the pipeline and run contexts only, so a
publish written with the next start needs no links at the run's end; the
root DAG still ends the run. A step whose start keeps its input ids (a list
input: KFP events have no index) cannot go out with the publish of an
output it reads: that boundary costs two writes.
"""
from __future__ import annotations

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.mlmd.convention_registry import get_convention
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.tracking.recorder import Recorder

from test_kfp_ui_view import assert_kfp_ui_shows

STEPS = ("load", "train", "evaluate")


def _writes(store) -> dict[str, int]:
    return {k: n for k, n in store.calls.items() if k.startswith("Put") and not k.endswith("Type")}


def test_a_kfp_run_with_held_back_publishes(memory_store, tmp_path):
    store = memory_store
    recorder = Recorder(store, ArtifactStore(str(tmp_path / "artifacts")), convention=get_convention("kfp"))
    run = recorder.start_run("training", "kfp-combined", config={"parameters": {"lr": 0.1}})
    store.reset_counts()
    inputs = None
    for name in STEPS:
        step = run.start_step(name, f"pkg.steps.{name}", parameters={"step": name}, inputs=inputs,
                              cache_key=f"key-{name}")
        step.save_output("data", {"made_by": name}, kind="dataset")
        refs = step.publish(defer=True)
        inputs = {"data": refs["data"]}
    assert _writes(store) == {"PutExecution": 1, "PutLineageSubgraph": len(STEPS) - 1}
    store.reset_counts()
    run.finish()
    # the last publish, the root DAG's end and the run context in one write: nothing to link
    assert dict(store.calls) == {"PutLineageSubgraph": 1}

    raw = store.raw
    tasks = assert_kfp_ui_shows(raw, "kfp-combined", {name: name for name in STEPS})
    assert {t.state for t in tasks.values()} == {"COMPLETE"}
    assert {key: set(t.outputs) for key, t in tasks.items()} == {name: {"data"} for name in STEPS}
    [root] = raw.get_executions_by_type("system.DAGExecution")
    assert root.last_known_state == pb.Execution.COMPLETE
    pipeline = raw.get_context_by_type_and_name("system.Pipeline", "training")
    run_context = raw.get_context_by_type_and_name("system.PipelineRun", root.name[len("run/"):])
    containers = raw.get_executions_by_type("system.ContainerExecution")
    for task in containers:
        assert task.custom_properties["parent_dag_id"].int_value == root.id
        assert "zen_mlmd_outputs" in task.custom_properties  # what zen_mlmd knows of its outputs
        assert {c.id for c in raw.get_contexts_by_execution(task.id)} == {pipeline.id, run_context.id}
    for artifact in raw.get_artifacts():
        assert artifact.name == ""  # unnamed, as KFP's launcher leaves them
        assert {c.id for c in raw.get_contexts_by_artifact(artifact.id)} == {pipeline.id, run_context.id}
    events = raw.get_events_by_execution_ids([t.id for t in containers])
    assert all(len(e.path.steps) == 1 for e in events)  # KFP's one-step paths

    reader = StoreReader(store)
    record = reader.get_run("kfp-combined")
    assert (record.convention, record.recorded_status) == ("kfp", "completed")
    data = reader.read_run(record)
    steps = {s.name: s for s in data.steps}
    assert steps["train"].inputs == {"data": steps["load"].outputs["data"]}
    assert steps["evaluate"].inputs == {"data": steps["train"].outputs["data"]}
    [made] = steps["load"].outputs["data"]
    assert data.artifacts[made].materializer and data.artifacts[made].content_hash.startswith("sha256:")
    [cached] = get_convention("kfp").find_cached_executions(store, "key-train")
    assert cached.execution_id == steps["train"].id
    assert [a.id for a in cached.outputs["data"]] == list(steps["train"].outputs["data"])


def test_a_list_input_of_a_held_back_output_is_started_after_its_publish(memory_store, tmp_path):
    store = memory_store
    recorder = Recorder(store, ArtifactStore(str(tmp_path / "artifacts")), convention=get_convention("kfp"))
    run = recorder.start_run("lists", "kfp-lists")
    first = run.start_step("first", "pkg.steps.make")
    first.save_output("part", [1], kind="dataset")
    [first_part] = first.publish()["part"]
    second = run.start_step("second", "pkg.steps.make")
    second.save_output("part", [2], kind="dataset")
    [held] = second.publish(defer=True)["part"]
    store.reset_counts()
    joined = run.start_step("joined", "pkg.steps.join", inputs={"parts": [first_part, held]})
    # the start keeps the ids in order (`zen_mlmd_inputs`): the publish goes first
    assert _writes(store) == {"PutExecution": 2}
    joined.publish({})
    run.finish()

    [second_part] = second.output_ids["part"]
    [execution] = [e for e in store.raw.get_executions_by_type("system.ContainerExecution")
                   if e.custom_properties["display_name"].string_value == "joined"]
    assert list(execution.custom_properties["zen_mlmd_inputs"].struct_value["parts"]) == [first_part, second_part]
    reader = StoreReader(store)
    steps = {s.name: s for s in reader.read_run(reader.get_run("kfp-lists")).steps}
    assert steps["joined"].inputs == {"parts": (first_part, second_part)}
