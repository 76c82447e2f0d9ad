"""Held-back publishes in the KFP convention: one write per step boundary, KFP's shape kept.

The KFP convention links steps to the pipeline and run contexts only, so a
publish written with the next start needs no links at the run's end; the
root DAG still ends the run.
"""
from __future__ import annotations

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.mlmd.convention import get_convention
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.tracking.recorder import Recorder

STEPS = ("load", "train", "evaluate")


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
    writes = {k: n for k, n in store.calls.items() if k.startswith("Put") and not k.endswith("Type")}
    assert writes == {"PutExecution": 1, "PutLineageSubgraph": len(STEPS) - 1}
    store.reset_counts()
    run.finish()
    # the last publish, then the root DAG ends with the run context: nothing left to link
    assert dict(store.calls) == {"PutExecution": 2}

    raw = store.raw
    [root] = raw.get_executions_by_type("system.DAGExecution")
    assert root.last_known_state == pb.Execution.COMPLETE
    pipeline = raw.get_context_by_type_and_name("system.Pipeline", "training")
    run_context = raw.get_context_by_type_and_name("system.PipelineRun", "kfp-combined")
    tasks = raw.get_executions_by_type("system.ContainerExecution")
    assert sorted(t.custom_properties["task_name"].string_value for t in tasks) == sorted(STEPS)
    for task in tasks:
        assert task.custom_properties["parent_dag_id"].int_value == root.id
        assert task.last_known_state == pb.Execution.COMPLETE
        assert {c.id for c in raw.get_contexts_by_execution(task.id)} == {pipeline.id, run_context.id}
    for artifact in raw.get_artifacts():
        assert {c.id for c in raw.get_contexts_by_artifact(artifact.id)} == {pipeline.id, run_context.id}
    events = raw.get_events_by_execution_ids([t.id for t in tasks])
    assert all(len(e.path.steps) == 1 for e in events)  # KFP's one-step paths

    reader = StoreReader(store)
    record = reader.get_run("kfp-combined")
    assert (record.convention, record.recorded_status) == ("kfp", "completed")
    steps = {s.name: s for s in reader.read_run(record).steps}
    assert steps["train"].inputs == {"data": steps["load"].outputs["data"]}
    assert steps["evaluate"].inputs == {"data": steps["train"].outputs["data"]}
