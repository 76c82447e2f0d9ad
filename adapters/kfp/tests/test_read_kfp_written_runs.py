"""Runs recorded as Kubeflow Pipelines v2's own driver and launcher record them, read whole.

The stores are written by `kfp_v2_runs`, which follows kubeflow/pipelines'
Go code call by call: sub-pipelines, a 3-iteration ParallelFor, an
importer, a condition branch not taken, a cached task, a failed one, and
the root DAG left RUNNING.
"""
from __future__ import annotations

import pytest

from zen_mlmd.errors import UnknownNameError
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd_kfp.convention import KfpConvention, metric_values

from kfp_v2_runs import PIPELINE, ROOT, RUN_1, RUN_2

RUN_1_STEPS = ["importer", "make-data", "for-loop-2[0]/train", "for-loop-2[1]/train",
               "for-loop-2[2]/train", "evaluate-pipeline/report"]


def test_the_kfp_convention_is_registered_by_entry_point():
    from zen_mlmd.mlmd.convention_registry import get_convention

    convention = get_convention("kfp")
    assert isinstance(convention, KfpConvention)
    assert convention.run_context_type == "system.PipelineRun"


def test_each_run_is_listed_once_under_its_run_id(kfp_v2_runs):
    store, first, second = kfp_v2_runs
    reader = StoreReader(store)
    [pipeline] = reader.list_pipelines()
    assert (pipeline.name, pipeline.convention) == (PIPELINE, "kfp")
    runs = list(reader.iter_runs())
    assert [(r.name, r.run_id, r.pipeline_name) for r in runs] == [
        (RUN_2, RUN_2, PIPELINE), (RUN_1, RUN_1, PIPELINE)]
    assert [r.name for r in reader.iter_runs(PIPELINE)] == [RUN_2, RUN_1]
    run = reader.get_run(RUN_1)
    assert run.id == first.run_context_id
    assert run.properties["pipeline_root"] == f"{ROOT}/{PIPELINE}/{RUN_1}"
    assert {"namespace", "resource_name", "store_session_info"} <= set(run.properties)


def test_nested_dags_and_loop_iterations_are_distinct_path_named_steps(kfp_v2_runs):
    store, first, _ = kfp_v2_runs
    reader = StoreReader(store)
    data = reader.read_run(reader.get_run(RUN_1))
    assert [s.name for s in data.steps] == RUN_1_STEPS  # no DAG execution is a step
    steps = {s.name: s for s in data.steps}
    assert {name: steps[name].id for name in RUN_1_STEPS} == {n: first.executions[n] for n in RUN_1_STEPS}
    assert [steps[f"for-loop-2[{i}]/train"].parameters for i in range(3)] == [
        {"lr": 0.1}, {"lr": 0.01}, {"lr": 0.001}]
    assert all(s.state == "COMPLETE" for s in data.steps)
    report = steps["evaluate-pipeline/report"]
    assert report.properties["parent_dag_id"] == first.dags["evaluate-pipeline"]
    assert report.inputs == {"dataset": (first.artifacts["make-data.dataset"],)}
    # lineage: every artifact's producer is the task that output it
    for key, artifact_id in first.artifacts.items():
        task, output = key.rsplit(".", 1)
        assert data.producers[artifact_id] == (first.executions[task], output)


def test_cached_and_failed_tasks_read_as_kfp_recorded_them(kfp_v2_runs):
    store, first, second = kfp_v2_runs
    reader = StoreReader(store)
    data = reader.read_run(reader.get_run(RUN_2))
    steps = {s.name: s for s in data.steps}
    assert list(steps) == RUN_1_STEPS[:5]
    cached = steps["make-data"]
    assert (cached.state, cached.original_execution_id) == ("CACHED", first.executions["make-data"])
    assert cached.outputs == {"dataset": (first.artifacts["make-data.dataset"],)}
    assert data.original_steps[first.executions["make-data"]].name == "make-data"
    assert data.original_runs[first.executions["make-data"]] == RUN_1
    failed = steps["for-loop-2[2]/train"]
    assert (failed.state, failed.outputs, failed.end_ms is not None) == ("FAILED", {}, True)
    # the importer reused run 1's artifact (no reimport)
    assert steps["importer"].outputs == {"artifact": (first.artifacts["importer.artifact"],)}


def test_run_statuses_follow_the_tasks_not_the_root_dag_kfp_leaves_running(kfp_v2_runs):
    from zen_mlmd.post_execution import get_runs

    store, first, _ = kfp_v2_runs
    root = store.get_executions_by_id([first.root_dag_id])[0]
    assert root.last_known_state == root.RUNNING
    assert [(r.name, r.status) for r in get_runs(store=store)] == [(RUN_2, "failed"), (RUN_1, "completed")]


def test_artifacts_read_with_their_kfp_types_kinds_and_metadata(kfp_v2_runs):
    store, first, _ = kfp_v2_runs
    reader = StoreReader(store)
    data = reader.read_run(reader.get_run(RUN_1))
    model = data.artifacts[first.artifacts["for-loop-2[1]/train.model"]]
    assert (model.type_name, model.base_type, model.properties["framework"]) == (
        "system.Model", "MODEL", "sklearn")
    metrics = data.artifacts[first.artifacts["for-loop-2[1]/train.metrics"]]
    assert (metrics.type_name, metrics.base_type) == ("system.Metrics", "METRICS")
    assert metric_values(metrics) == {"accuracy": 0.91, "epochs": 3.0}  # numbers are doubles
    imported = data.artifacts[first.artifacts["importer.artifact"]]
    assert (imported.uri, imported.base_type, imported.properties["source"]) == (
        "gs://ml-public/iris.csv", "DATASET", "public")


def test_the_post_execution_api_finds_steps_by_path(kfp_v2_runs):
    from zen_mlmd.post_execution import get_run

    store, first, _ = kfp_v2_runs
    run = get_run(RUN_1, store=store)
    assert run.steps.names() == RUN_1_STEPS
    train = run.steps["for-loop-2[1]/train"]
    assert train.id == first.executions["for-loop-2[1]/train"] and train.status == "completed"
    assert train.outputs["metrics"].id == first.artifacts["for-loop-2[1]/train.metrics"]
    assert train.inputs["dataset"].producer_step.name == "make-data"
    with pytest.raises(UnknownNameError, match="for-loop-2"):
        run.steps["train"]  # three trains: only their paths name them
    imported = run.steps["importer"].outputs["artifact"]
    assert imported.name == "artifact"  # KFP's importer leaves its artifact without display_name


def test_artifact_level_reads_name_the_producer_by_its_path(kfp_v2_runs):
    from zen_mlmd.post_execution import get_artifact

    store, first, _ = kfp_v2_runs
    artifact = get_artifact(first.artifacts["for-loop-2[2]/train.model"], store=store)
    assert (artifact.producer_step.name, artifact.run_name) == ("for-loop-2[2]/train", RUN_1)
    graph = artifact.lineage(direction="upstream")
    assert {n.name for n in graph.steps} >= {"for-loop-2[2]/train", "make-data", "importer"}
    report = get_artifact(first.artifacts["evaluate-pipeline/report.summary"], store=store)
    assert report.producer_step.name == "evaluate-pipeline/report"


def test_the_cli_describes_kfp_runs_by_step_path(kfp_v2_runs, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from zen_mlmd.cli.main import cli
    from zen_mlmd.stack import StackRegistry

    store, _, _ = kfp_v2_runs
    monkeypatch.setenv("ZEN_MLMD_CONFIG_DIR", str(tmp_path / "config"))
    path = store.connection_config.sqlite.filename_uri
    StackRegistry(tmp_path / "config").register_metadata_store("kfp-db", "sqlite", {"path": path})
    listed = CliRunner().invoke(cli, ["run", "list", "--store", "kfp-db"])
    assert listed.exit_code == 0, listed.output
    assert [line.split()[:3] for line in listed.output.splitlines()[1:]] == [
        [RUN_2, PIPELINE, "failed"], [RUN_1, PIPELINE, "completed"]]
    described = CliRunner().invoke(cli, ["run", "describe", RUN_2, "--store", "kfp-db"])
    assert described.exit_code == 0, described.output
    assert "  for-loop-2[2]/train [failed]" in described.output
    assert "  make-data [cached]" in described.output and f"cached from run '{RUN_1}'" in described.output
