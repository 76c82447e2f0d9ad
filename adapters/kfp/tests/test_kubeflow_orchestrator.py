"""Compiling zen_mlmd pipelines for KFP, and running them for real through kfp.local."""
from __future__ import annotations

import os
import sys

import pytest
import yaml
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.errors import ConfigError
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd_kfp.compiler import RUN_NAME_PARAMETER, TASK_PARAMETER, build_pipeline
from zen_mlmd_kfp.flavor import KubeflowOrchestratorConfig
from zen_mlmd_kfp.orchestrator import KubeflowOrchestrator
from zen_mlmd_kfp.task_spec import TaskSpec

sys.path.insert(0, os.path.dirname(__file__))
from side_effect_pipeline import guarded_pipeline, traced  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


@pytest.fixture
def quickstart():
    sys.path.insert(0, REPO)
    from examples.quickstart.pipeline import iris_training

    return iris_training


@pytest.fixture
def subprocess_path(monkeypatch, tmp_path):
    """kfp.local's task subprocesses import the steps: the repo and this directory on their path."""
    paths = [REPO, os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    monkeypatch.setenv("ZEN_MLMD_KFP_TEST_TRACE", str(tmp_path / "trace.txt"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "trace.txt"


def test_the_quickstart_compiles_to_a_kfp_pipeline_spec(quickstart, sqlite_stack, tmp_path):
    from kfp import components

    package = str(tmp_path / "iris.yaml")
    KubeflowOrchestrator(sqlite_stack, quiet=True).compile(quickstart.build(C=0.5), package)
    with open(package, encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    assert spec["pipelineInfo"]["name"] == "iris-training"
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {RUN_NAME_PARAMETER}
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"load-iris", "split", "train", "evaluate"}
    assert tasks["evaluate"]["dependentTasks"] == ["split", "train"]
    assert tasks["train"]["inputs"]["artifacts"]["train"]["taskOutputArtifact"] == {
        "outputArtifactKey": "train", "producerTask": "split"}
    assert all(task["cachingOptions"] == {} for task in tasks.values())  # KFP's cache off
    outputs = spec["components"]["comp-train"]["outputDefinitions"]["artifacts"]
    assert outputs["model"]["artifactType"]["schemaTitle"] == "system.Model"
    metrics = spec["components"]["comp-evaluate"]["outputDefinitions"]["artifacts"]["metrics"]
    assert metrics["artifactType"]["schemaTitle"] == "system.Metrics"
    task_spec = TaskSpec.from_json(
        tasks["train"]["inputs"]["parameters"][TASK_PARAMETER]["runtimeValue"]["constant"])
    assert (task_spec.step_ref, task_spec.parameters) == (
        "examples.quickstart.pipeline:train", {"C": 0.5, "max_iter": 500})
    # kfp loads the package back as a pipeline it can run
    loaded = components.load_component_from_file(package)
    assert loaded.pipeline_spec.root.dag.tasks["split"].component_ref.name == "comp-split"


def test_the_quickstart_runs_through_kfp_local_and_the_second_run_is_cached(
        quickstart, sqlite_stack, subprocess_path):
    orchestrator = KubeflowOrchestrator(sqlite_stack, KubeflowOrchestratorConfig(local=True), quiet=True)
    first = orchestrator.run(quickstart.build(), run_name="iris-1")
    assert (first.name, first.status) == ("iris-1", "completed")
    assert [(s.name, s.status) for s in first.steps] == [
        (name, "completed") for name in ("load_iris", "split", "train", "evaluate")]
    assert set(first.steps["evaluate"].outputs["metrics"].read()) == {"accuracy", "f1_macro"}
    second = orchestrator.run(quickstart.build(), run_name="iris-2")
    assert (second.status, {s.status for s in second.steps}) == ("cached", {"cached"})

    store = sqlite_stack.metadata_store.open()
    reader = StoreReader(store)
    run_1, run_2 = reader.get_run("iris-1"), reader.get_run("iris-2")
    assert (run_1.recorded_status, run_2.recorded_status) == ("completed", "completed")
    data_1, data_2 = reader.read_run(run_1), reader.read_run(run_2)
    assert [s.name for s in data_2.steps] == ["load_iris", "split", "train", "evaluate"]
    by_name = {s.name: s for s in data_1.steps}
    for step in data_2.steps:  # the same artifacts, no new ones
        assert step.state == "CACHED"
        assert step.original_execution_id == by_name[step.name].id
        assert step.outputs == by_name[step.name].outputs
    assert not os.path.exists(os.path.join(sqlite_stack.artifact_store.path, "iris_training", "iris-2"))


def test_cached_tasks_do_not_run_their_step_functions(sqlite_stack, subprocess_path):
    orchestrator = KubeflowOrchestrator(sqlite_stack, KubeflowOrchestratorConfig(local=True), quiet=True)
    assert orchestrator.run(traced.build(), run_name="traced-1").status == "completed"
    ran = ["make_numbers"] * 3 + ["summarize"]
    assert sorted(subprocess_path.read_text().split()) == ran
    assert orchestrator.run(traced.build(), run_name="traced-2").status == "cached"
    assert sorted(subprocess_path.read_text().split()) == ran  # no step function ran again
    # A list input keeps its artifacts; a changed parameter misses the cache for its step only.
    third = orchestrator.run(traced.build(count=7), run_name="traced-3")
    assert {s.name: s.status for s in third.steps} == {
        "make_numbers": "completed", "make_numbers_2": "cached", "make_numbers_3": "cached",
        "summarize": "completed"}


def test_kfp_tasks_verify_cached_outputs_and_run_uncacheable_steps(sqlite_stack, subprocess_path):
    """The task entrypoint shares the local orchestrator's cache rules (`tracking.step_cache`)."""
    orchestrator = KubeflowOrchestrator(sqlite_stack, KubeflowOrchestratorConfig(local=True), quiet=True)
    orchestrator.run(guarded_pipeline.build(), run_name="guarded-1")
    assert sorted(subprocess_path.read_text().split()) == ["guarded", "make_numbers", "summarize"]
    store = sqlite_stack.metadata_store.open()
    reader = StoreReader(store)
    first = {s.name: s for s in reader.read_run(reader.get_run("guarded-1")).steps}
    [numbers] = store.get_artifacts_by_id(list(first["make_numbers"].outputs["numbers"]))
    for name in os.listdir(numbers.uri):  # the cached output changes on disk
        with open(os.path.join(numbers.uri, name), "w", encoding="utf-8") as changed:
            changed.write("[7]")

    second = orchestrator.run(guarded_pipeline.build(), run_name="guarded-2")
    assert {s.name: s.status for s in second.steps} == {
        "make_numbers": "completed", "guarded": "completed", "summarize": "cached"}
    assert sorted(subprocess_path.read_text().split()) == [
        "guarded", "guarded", "make_numbers", "make_numbers", "summarize"]
    steps = {s.name: s for s in reader.read_run(reader.get_run("guarded-2")).steps}
    assert "reads global '_LOCK' (_thread.lock)" in steps["guarded"].properties["uncacheable"]
    assert steps["guarded"].cache_key == ""
    assert "changed since it was written" in steps["make_numbers"].properties["cache_miss_reason"]


def test_the_kfp_convention_records_a_kfp_local_run_kubeflow_tools_can_read(sqlite_stack, subprocess_path):
    config = KubeflowOrchestratorConfig(local=True, convention="kfp")
    KubeflowOrchestrator(sqlite_stack, config, quiet=True).run(traced.build(), run_name="traced-kfp")
    raw = sqlite_stack.metadata_store.open().raw
    [root] = [e for e in raw.get_executions_by_type("system.DAGExecution") if e.external_id == "traced-kfp"]
    run = raw.get_context_by_type_and_name("system.PipelineRun", root.name[len("run/"):])
    executions = raw.get_executions_by_context(run.id)
    names = {e.custom_properties["display_name"].string_value: e for e in executions}
    assert set(names) == {"", "make_numbers", "make_numbers_2", "make_numbers_3", "summarize"}
    assert names[""].name == f"run/{run.name}"
    [metrics] = raw.get_artifacts_by_type("system.Metrics")
    assert metrics.custom_properties["total"].double_value == 10.0  # KFP's metrics metadata
    assert metrics.custom_properties["parts"].double_value == 2.0
    assert names[""].last_known_state == pb.Execution.COMPLETE


def test_a_failing_step_fails_the_run_and_names_the_step(sqlite_stack, subprocess_path, monkeypatch):
    from zen_mlmd.errors import StepFailedError

    monkeypatch.setenv("ZEN_MLMD_KFP_TEST_TRACE", "/nonexistent-dir/trace.txt")
    orchestrator = KubeflowOrchestrator(sqlite_stack, KubeflowOrchestratorConfig(local=True), quiet=True)
    with pytest.raises(StepFailedError, match="make_numbers"):
        orchestrator.run(traced.build(), run_name="traced-fail")
    reader = StoreReader(sqlite_stack.metadata_store.open())
    run = reader.get_run("traced-fail")
    assert run.recorded_status == "failed"
    states = {s.name: s.state for s in reader.read_run_steps(run)}
    # kfp.local stops at the first failed task: every step it did not reach is recorded
    assert set(states) == {"make_numbers", "make_numbers_2", "make_numbers_3", "summarize"}
    assert sorted(states.values()) == ["CANCELED", "CANCELED", "CANCELED", "FAILED"]
    assert states["summarize"] == "CANCELED"


def test_a_step_kfp_cannot_import_is_refused_at_compile_time(sqlite_stack):
    from zen_mlmd import pipeline, step

    @step
    def local_step():
        return 1

    @pipeline
    def inline():
        local_step()

    with pytest.raises(ConfigError, match="cannot be imported"):
        build_pipeline(inline.build(), sqlite_stack)


def test_a_literal_secret_is_never_written_into_the_package(tmp_path):
    from zen_mlmd.stack.components import ArtifactStoreComponent, MetadataStoreComponent, OrchestratorComponent
    from zen_mlmd.stack.stack import Stack

    stack = Stack("s", MetadataStoreComponent("db", "mysql", {
        "host": "127.0.0.1", "database": "mlmd", "user": "u", "password": "hunter2"}),
        ArtifactStoreComponent("a", str(tmp_path)), OrchestratorComponent("o", "kubeflow"))
    with pytest.raises(ConfigError, match=r"\$\{ENV_VAR\}") as error:
        build_pipeline(traced.build(), stack)
    assert "hunter2" not in str(error.value)
