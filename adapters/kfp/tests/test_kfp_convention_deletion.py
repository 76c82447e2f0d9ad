"""Deleting runs zen_mlmd recorded in the KFP convention, by zen_mlmd's run name or KFP's run ID.

Such a run's context is a `system.PipelineRun` named by a KFP run ID (a
UUID); zen_mlmd's run name is kept on its root DAG (see
`zen_mlmd_kfp.writing`). `run delete` finds the run by either name, and
deletes the root DAG with the tasks. Runs KFP itself wrote are deleted in
tests/integration/test_foreign_run_deletion.py.
"""
from __future__ import annotations

from pathlib import Path

from ml_metadata.metadata_store import metadata_store as mlmd

from kfp_v2_client import sqlite_config
from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.lifecycle import delete_runs
from zen_mlmd.mlmd.convention_registry import get_convention
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.tracking.recorder import Recorder

CONFIG = {"kfp": {"namespace": "team-a", "pipeline_root": "/data/artifacts"}}


def record(store, artifacts, name: str, cached_load=None):
    """load -> evaluate; with `cached_load` (execution id, outputs), load is served from that run."""
    recorder = Recorder(store, artifacts, convention=get_convention("kfp"))
    with recorder.start_run("Training_Pipeline", name, config=CONFIG) as run:
        if cached_load is None:
            load = run.start_step("load", "pkg.steps.load", cache_key="key-load")
            load.save_output("data", [1, 2, 3], kind="dataset")
            data = load.publish()["data"]
            load_id = load.execution_id
        else:
            load_id, data = cached_load
            run.record_cached_step(run.step_start("load", "pkg.steps.load", cache_key="key-load"),
                                   load_id, {"data": data})
        evaluate = run.start_step("evaluate", "pkg.steps.evaluate", inputs={"data": data})
        evaluate.save_output("metrics", {"accuracy": 0.9}, kind="metrics")
        metrics = evaluate.publish()["metrics"]
    return load_id, data, metrics


def test_kfp_convention_runs_are_deleted_by_run_name_then_by_run_id(tmp_path):
    config = sqlite_config(tmp_path / "kfp.db")
    store = MetadataStore(config, store_name="kfp")
    artifacts = ArtifactStore(str(tmp_path / "artifacts"))
    load_id, data, metrics_1 = record(store, artifacts, "run-1")
    _, _, metrics_2 = record(store, artifacts, "run-2", cached_load=(load_id, data))
    raw = mlmd.MetadataStore(config)
    reader = StoreReader(store)
    run_1, run_2 = reader.get_run("run-1"), reader.get_run("run-2")
    assert run_1.run_id != "run-1"  # the context is named by a KFP run ID
    run_1_executions = [e.id for e in raw.get_executions_by_context(run_1.id)]
    assert len(run_1_executions) == 3  # the root DAG and two tasks
    before = [(s.name, s.state, s.inputs, s.outputs) for s in reader.read_run(run_2).steps]
    data_files = [a.uri for a in raw.get_artifacts_by_id(data)]
    metrics_files = [a.uri for a in raw.get_artifacts_by_id(metrics_1)]
    assert all(Path(uri).exists() for uri in data_files + metrics_files)

    report = delete_runs(store, ["run-1"], artifact_stores=[artifacts])

    assert report.runs == ("run-1",) and report.executions == 3
    assert {a.id for a in report.artifacts} == set(metrics_1)
    assert {a.id for a in report.kept} == set(data)  # run 2's cached load reused it
    assert raw.get_executions_by_id(run_1_executions) == []
    assert raw.get_context_by_type_and_name("system.PipelineRun", run_1.run_id) is None
    assert [(s.name, s.state, s.inputs, s.outputs) for s in reader.read_run(run_2).steps] == before
    assert {r.name for r in reader.iter_runs()} == {"run-2"}
    assert all(Path(uri).exists() for uri in data_files)
    assert not any(Path(uri).exists() for uri in metrics_files)

    report = delete_runs(store, [run_2.run_id], artifact_stores=[artifacts])  # KFP's run ID

    assert report.runs == ("run-2",)
    assert {a.id for a in report.artifacts} == {*data, *metrics_2}
    assert raw.get_executions() == [] and raw.get_artifacts() == [] and raw.get_contexts() == []
