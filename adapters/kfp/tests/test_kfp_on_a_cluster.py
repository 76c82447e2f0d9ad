"""Runs recorded on a Kubeflow cluster by earlier versions of zen-mlmd-kfp still read as one run each.

Before each task added its facts to the execution KFP's launcher records
(`joined`, played end to end in `test_played_cluster`), a task recorded a
second execution of its own next to KFP's, in KFP's run context and root
DAG, or recorded the run natively and marked KFP's root DAG. Stores keep
such runs: here the KFP side follows KFP's code (`kfp_v2_runs`), the task's
side is what those versions recorded, and readers list each run, and each
step, once.
"""
from __future__ import annotations

import pytest

from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.mlmd.convention_registry import get_convention
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.tracking.recorder import Recorder
from zen_mlmd_kfp import recording

from kfp_ui_view import view_run
from kfp_v2_client import Client
from kfp_v2_runs import NAMESPACE, PIPELINE, container, root_dag

RUN_ID = "3e0c6a52-9d59-4c7b-8d2e-7b1f7c0f9a10"
STEPS = ["make_numbers", "summarize"]


@pytest.fixture
def cluster_run(foreign_store, tmp_path):
    raw, store = foreign_store
    client = Client(raw)
    convention = get_convention("kfp")
    artifacts = ArtifactStore(str(tmp_path / "artifacts"))
    config = {"kfp": {"run_id": RUN_ID, "namespace": NAMESPACE}, "steps": [{"name": s} for s in STEPS],
              "parameters": {"count": 4}}
    recorded: dict[str, dict] = {}

    def zen_task(step_name: str, inputs: dict):
        def run_task(pod_name: str) -> None:  # what task_entrypoint.run_task records
            recorder = Recorder(store, artifacts, convention=convention)
            run = recording.start_or_attach_run(recorder, "training_pipeline", "nightly", config)
            step = run.start_step(step_name, f"pkg.{step_name}", inputs=inputs,
                                  properties={"pod_name": pod_name, "image": "img:1"})
            step.save_output("output", [1, 2, 3] if not inputs else 6)
            recorded[step_name] = step.publish()
            recording.finish_if_last(run, convention, set(STEPS))
        return run_task

    _, root = root_dag(client, RUN_ID, {"count": 4.0})
    container(client, RUN_ID, root, "make-numbers", {"count": 4.0}, {}, {"output": ("system.Dataset", {})},
              user_code=zen_task("make_numbers", {}))
    container(client, RUN_ID, root, "summarize", {}, {}, {"output": ("system.Metrics", {})},
              user_code=lambda pod: zen_task("summarize", {"values": recorded["make_numbers"]["output"]})(pod))
    return raw, store, root


def test_the_run_is_listed_once_with_one_root_dag(cluster_run):
    raw, store, root = cluster_run
    reader = StoreReader(store)
    [run] = list(reader.iter_runs())
    assert (run.name, run.run_id, run.pipeline_name, run.recorded_status) == (
        "nightly", RUN_ID, PIPELINE, "completed")
    assert reader.get_run("nightly").id == reader.get_run(RUN_ID).id == run.id
    assert [e.id for e in raw.get_executions_by_type("system.DAGExecution")] == [root.id]
    [context] = raw.get_contexts_by_type("system.PipelineRun")
    # KFP's launcher rewrote the run context with each task it published: only KFP's
    # properties are there, zen_mlmd's run name and config are on the root DAG
    assert context.custom_properties["resource_name"].string_value == "run-resource"
    assert set(context.custom_properties) == {"namespace", "resource_name", "pipeline_root", "store_session_info"}
    assert raw.get_executions_by_id([root.id])[0].external_id == "nightly"


def test_each_task_is_one_step_although_kfp_and_zen_mlmd_both_recorded_it(cluster_run):
    raw, store, _ = cluster_run
    reader = StoreReader(store)
    assert len(raw.get_executions_by_type("system.ContainerExecution")) == 4
    data = reader.read_run(reader.get_run("nightly"))
    assert [(s.name, s.type_name, s.state) for s in data.steps] == [
        ("make_numbers", "pkg.make_numbers", "COMPLETE"), ("summarize", "pkg.summarize", "COMPLETE")]
    summarize = data.steps[1]
    assert summarize.properties["pod_name"].startswith(f"{PIPELINE}-")  # the pod KFP ran it in
    assert data.artifacts[summarize.outputs["output"][0]].materializer == "builtins.json"
    assert reader.run_step_states([reader.get_run("nightly")])  # statuses read without error


def test_the_kfp_ui_still_shows_the_run(cluster_run):
    raw, _, _ = cluster_run
    view = view_run(raw, RUN_ID)
    assert {k: t.state for k, t in view.tasks.items()} == {"make-numbers": "COMPLETE", "summarize": "COMPLETE"}


def test_a_run_claimed_by_two_conventions_is_listed_once(cluster_run, monkeypatch):
    """Another installed convention reading `system.PipelineRun` too: the run is still listed once."""
    from zen_mlmd.mlmd import convention_registry as registry
    from zen_mlmd_kfp.convention import KfpConvention

    class AlsoKfp(KfpConvention):
        name = "also_kfp"
        claim_priority = -1

    _, store, _ = cluster_run
    installed = dict(registry._registry())
    monkeypatch.setattr(registry, "_registry", lambda: {**installed, "also_kfp": AlsoKfp()})
    runs = list(StoreReader(store).iter_runs())
    assert [(r.name, r.convention) for r in runs] == [("nightly", "kfp")]


def test_a_run_recorded_natively_on_a_cluster_is_listed_once(foreign_store, tmp_path):
    """The default convention is native: KFP's driver still records the run in KFP's convention."""
    raw, store = foreign_store
    client = Client(raw)
    native = get_convention("native")
    artifacts = ArtifactStore(str(tmp_path / "artifacts"))

    def zen_task(pod_name: str) -> None:  # task_entrypoint.run_task, native convention
        recorder = Recorder(store, artifacts, convention=native)
        run = recording.start_or_attach_run(recorder, "training_pipeline", "nightly-native", {})
        mark_kfp_root_dag(raw, RUN_ID, run.name, native.name)
        step = run.start_step("make_numbers", "pkg.make_numbers", properties={"pod_name": pod_name})
        step.save_output("output", [1, 2, 3])
        step.publish()
        recording.finish_if_last(run, native, {"make_numbers"})

    _, root = root_dag(client, RUN_ID, {"count": 4.0})
    container(client, RUN_ID, root, "make-numbers", {"count": 4.0}, {}, {"output": ("system.Dataset", {})},
              user_code=zen_task)
    reader = StoreReader(store)
    assert [(r.name, r.convention) for r in reader.iter_runs()] == [("nightly-native", "native")]
    assert reader.get_run(RUN_ID) is None  # KFP's own record of it is not a second run


def mark_kfp_root_dag(raw, run_id: str, run_name: str, convention: str) -> None:
    """What those versions' first task wrote on KFP's root DAG of a run it recorded natively."""
    [root] = [e for e in raw.get_executions_by_type("system.DAGExecution") if e.name == f"run/{run_id}"]
    root.external_id = run_name
    root.custom_properties["zen_mlmd_recorded_in"].string_value = convention
    raw.put_executions([root])
