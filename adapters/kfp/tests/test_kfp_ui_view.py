"""Runs zen_mlmd records in the KFP convention, seen as the Kubeflow Pipelines v2 UI sees them.

`kfp_ui_view` looks runs up exactly as the UI does (rules and source files
named there); it is first checked on what KFP's own driver and launcher
record (`kfp_v2_runs`), then on zen_mlmd's runs.
"""
from __future__ import annotations

import json
import re
import uuid

import yaml
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.stack import StackRegistry
from zen_mlmd_kfp.compiler import TASK_PARAMETER
from zen_mlmd_kfp.flavor import KubeflowOrchestratorConfig
from zen_mlmd_kfp.orchestrator import KubeflowOrchestrator

from kfp_ui_view import view_run
from kfp_v2_runs import RUN_1
from side_effect_pipeline import traced
from test_kubeflow_orchestrator import subprocess_path  # noqa: F401  (a fixture)

K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_the_view_shows_kfps_own_run_as_the_ui_does(kfp_v2_runs, foreign_store):
    raw, _ = foreign_store
    _, first, _ = kfp_v2_runs
    view = view_run(raw, RUN_1)
    assert view.root_id == first.root_dag_id
    assert {k: t.state for k, t in view.tasks.items()} == {
        "importer": "COMPLETE", "make-data": "COMPLETE", "for-loop-2": "COMPLETE",
        "evaluate-pipeline": "COMPLETE"}
    sub = view_run(raw, RUN_1, dag_id=first.dags["evaluate-pipeline"])
    assert {k: t.state for k, t in sub.tasks.items()} == {"report": "COMPLETE", "condition-1": "CANCELED"}
    iteration = view_run(raw, RUN_1, dag_id=first.dags["for-loop-2[1]"])
    assert iteration.tasks["train"].metrics == {"metrics": {"accuracy": 0.91, "epochs": 3.0}}


def assert_kfp_ui_shows(raw, run_name: str, steps: dict[str, str]) -> dict:
    """The acceptance rules for a run zen_mlmd recorded as `run_name`; returns the view's tasks.

    `steps` maps each step name to its expected KFP task key.
    """
    [zen_root] = [e for e in raw.get_executions_by_type("system.DAGExecution") if e.external_id == run_name]
    context = raw.get_context_by_type_and_name("system.PipelineRun", zen_root.name[len("run/"):])
    uuid.UUID(context.name)  # named by a KFP run ID, a UUID
    executions = raw.get_executions_by_context(context.id)
    types = {t.id: t.name for t in raw.get_execution_types()}
    roots = [e for e in executions if "task_name" in e.custom_properties
             and e.custom_properties["task_name"].string_value == ""]
    assert [(e.name, types[e.type_id]) for e in roots] == [(f"run/{context.name}", "system.DAGExecution")]
    ids = {e.id for e in executions}
    for execution in executions:
        if types[execution.type_id] == "system.ContainerExecution":
            props = execution.custom_properties
            assert K8S_NAME.match(props["task_name"].string_value)
            assert props["parent_dag_id"].int_value in ids
    metric_types = {t.id for t in raw.get_artifact_types() if t.name == "system.Metrics"}
    for artifact in raw.get_artifacts():
        if artifact.type_id in metric_types:
            shown = {k: v for k, v in artifact.custom_properties.items()
                     if k not in ("display_name", "store_session_info")}
            assert all(v.WhichOneof("value") in ("double_value", "int_value") for v in shown.values()), shown
    view = view_run(raw, context.name)
    assert {k: t.label for k, t in view.tasks.items()} == {key: step for step, key in steps.items()}
    return view.tasks


def test_a_local_orchestrator_run_in_the_kfp_convention_passes_the_ui_view(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEN_MLMD_KFP_TEST_TRACE", str(tmp_path / "trace.txt"))
    registry = StackRegistry(tmp_path / "config")
    registry.register_metadata_store("db", "sqlite", {"path": str(tmp_path / "metadata.db")})
    registry.register_artifact_store("art", str(tmp_path / "artifacts"))
    registry.register_orchestrator("kfp-schema", "local", {"convention": "kfp"})
    stack = registry.register_stack("local-kfp", "db", "art", "kfp-schema")
    run = traced.run(stack=stack, run_name="traced-local", quiet=True)
    assert run.status == "completed"
    raw = stack.metadata_store.open().raw
    tasks = assert_kfp_ui_shows(raw, "traced-local", {
        "make_numbers": "make-numbers", "make_numbers_2": "make-numbers-2",
        "make_numbers_3": "make-numbers-3", "summarize": "summarize"})
    assert {t.state for t in tasks.values()} == {"COMPLETE"}
    assert tasks["summarize"].metrics == {"total": {"total": 10.0, "parts": 2.0}}
    assert set(tasks["make-numbers"].outputs) == {"numbers"}
    # what zen_mlmd reads back is unchanged: its own names, inputs in order
    summarize = run.steps["summarize"]
    assert [a.id for a in summarize.inputs["parts"]] == [
        run.steps["make_numbers_2"].outputs["numbers"].id, run.steps["make_numbers_3"].outputs["numbers"].id]
    assert summarize.outputs["total"].read() == {"total": 10.0, "parts": 2.0}
    # `run describe` accepts the run name and the KFP run ID, and shows both
    from click.testing import CliRunner

    from zen_mlmd.cli.main import cli

    monkeypatch.setenv("ZEN_MLMD_CONFIG_DIR", str(tmp_path / "config"))
    for name in ("traced-local", run.run_id):
        described = CliRunner().invoke(cli, ["run", "describe", name, "--store", "db"])
        assert described.exit_code == 0, described.output
        assert "Run 'traced-local' of pipeline 'traced'" in described.output
        assert "run id:" in described.output and run.run_id in described.output


def test_a_kfp_local_run_records_the_task_keys_kfps_compiler_gave_its_tasks(sqlite_stack, subprocess_path):  # noqa: F811
    config = KubeflowOrchestratorConfig(local=True, convention="kfp")
    orchestrator = KubeflowOrchestrator(sqlite_stack, config, quiet=True)
    package = str(subprocess_path.parent / "traced.yaml")
    orchestrator.compile(traced.build(), package)
    with open(package, encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    tasks = spec["root"]["dag"]["tasks"]
    # KFP 2.5's driver names a task's execution by its taskInfo name, later ones by its key
    # (`backend/src/v2/driver/driver.go`): the compiler keeps them the same
    assert all(task["taskInfo"]["name"] == key for key, task in tasks.items())
    compiled = {json.loads(task["inputs"]["parameters"][TASK_PARAMETER]["runtimeValue"]["constant"])
                ["step_name"]: key for key, task in tasks.items()}
    assert orchestrator.run(traced.build(), run_name="traced-kfp").status == "completed"
    raw = metadata_store.MetadataStore(sqlite_stack.metadata_store.open().connection_config)
    tasks = assert_kfp_ui_shows(raw, "traced-kfp", compiled)
    assert tasks["summarize"].metrics == {"total": {"total": 10.0, "parts": 2.0}}
    [pipeline] = raw.get_contexts_by_type("system.Pipeline")
    assert pipeline.name == spec["pipelineInfo"]["name"] == "traced"
    [root] = raw.get_executions_by_type("system.DAGExecution")
    assert root.last_known_state == pb.Execution.COMPLETE  # zen_mlmd ends what it starts


def test_on_a_cluster_kfps_own_metrics_record_would_hold_the_numbers_only(sqlite_stack, subprocess_path):  # noqa: F811
    """KFP's launcher records a task's output artifacts from its executor output
    (`launcher_v2.go` `uploadOutputArtifacts` -> `RecordArtifact`): a Metrics output's
    metadata must be its numbers, or the UI shows zen_mlmd's bookkeeping as metrics.
    kfp.local writes the same executor output file; a consumer still finds its input."""
    import glob
    import json

    from metrics_pipeline import scored

    config = KubeflowOrchestratorConfig(local=True, convention="kfp")
    run = KubeflowOrchestrator(sqlite_stack, config, quiet=True).run(scored.build(), run_name="scored-1")
    assert run.steps["report"].outputs["output"].read() == "accuracy 0.90"
    [output] = glob.glob(f"{sqlite_stack.artifact_store.path}/kfp_local/scored-*/score/executor_output.json")
    with open(output, encoding="utf-8") as handle:
        [metrics] = json.load(handle)["artifacts"]["scores"]["artifacts"]
    assert metrics["metadata"] == {"accuracy": 0.9, "loss": 0.1}
