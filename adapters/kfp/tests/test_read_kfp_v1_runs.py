"""Runs Kubeflow Pipelines' v1 metadata writer recorded, listed and described.

The store is written by `kfp_v1_writer`, which follows kubeflow/pipelines
`backend/metadata_writer/src/metadata_writer.py` and `metadata_helpers.py`.
"""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.post_execution import get_run, get_runs

from kfp_v1_writer import WORKFLOW, write_v1_run


@pytest.fixture
def v1_store(foreign_store):
    raw, store = foreign_store
    return store, write_v1_run(raw)


def test_v1_runs_are_listed(v1_store):
    store, _ = v1_store
    reader = StoreReader(store)
    [run] = list(reader.iter_runs())
    assert (run.name, run.pipeline_name, run.convention, run.run_id) == (WORKFLOW, WORKFLOW, "kfp_v1", WORKFLOW)
    assert [r.name for r in get_runs(WORKFLOW, store=store)] == [WORKFLOW]


def test_a_v1_run_is_described_with_steps_inputs_outputs_and_statuses(v1_store):
    store, executions = v1_store
    run = get_run(WORKFLOW, store=store)
    assert run.steps.names() == ["Download data", "Train model[0]", "Train model[1]", "Evaluate"]
    download, train, train_again, evaluate = run.steps
    assert [s.id for s in run.steps] == list(executions.values())
    assert dict(download.parameters) == {"url": "gs://x/y.csv"}
    assert dict(train.parameters) == {"lr": "0.1"} and dict(train_again.parameters) == {"lr": "0.01"}
    data = download.outputs["data"]
    assert (data.type, data.kind, data.uri) == ("Dataset", "dataset", "minio://mlpipeline/artifacts/dl/data.tgz")
    assert train.inputs["data"].id == data.id
    assert train.outputs["model"].kind == "model" and train.outputs["mlpipeline-metrics"].kind == "metrics"
    assert evaluate.inputs["model"].id == train.outputs["model"].id
    assert train.outputs["model"].producer_step.name == "Train model[0]"
    # v1 records no state: a pod with outputs has finished, the others are unknown
    assert [s.status for s in run.steps] == ["completed", "completed", "completed", "unknown"]
    assert run.status == "unknown"
    assert train.type_name.startswith("components.Train model@sha256=")


def test_the_cli_lists_v1_runs(v1_store, tmp_path, monkeypatch):
    from zen_mlmd.cli.main import cli
    from zen_mlmd.stack import StackRegistry

    store, _ = v1_store
    monkeypatch.setenv("ZEN_MLMD_CONFIG_DIR", str(tmp_path / "config"))
    StackRegistry(tmp_path / "config").register_metadata_store(
        "v1", "sqlite", {"path": store.connection_config.sqlite.filename_uri})
    listed = CliRunner().invoke(cli, ["run", "list", "--store", "v1"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines()[1].split()[:3] == [WORKFLOW, WORKFLOW, "unknown"]
    described = CliRunner().invoke(cli, ["run", "describe", WORKFLOW, "--store", "v1"])
    assert "  Train model[1] [completed]" in described.output
    assert "data: Dataset #" in described.output
