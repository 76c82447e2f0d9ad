"""Deleting runs that Kubeflow Pipelines and TFX wrote, on every backend.

The runs are written with plain ml_metadata by the adapters' fixtures, which
follow those tools' call order (adapters/kfp/tests/kfp_written_store.py after
KFP's backend/src/v2/metadata/client.go, with its root DAG execution;
adapters/tfx/tests/tfx_shapes.py after TFX's portable launcher, with its
node and execution_cache contexts). Runs are named as each tool names them
(a KFP run id, a TFX run id) and found through the readers.
"""
from __future__ import annotations

import sys
import uuid
from pathlib import Path

from lifecycle_helpers import assert_store_consistent, plain_store
from zen_mlmd.lifecycle import delete_runs
from zen_mlmd.post_execution import get_runs

_ADAPTER_TESTS = Path(__file__).resolve().parents[2] / "adapters"
for _folder in ("kfp/tests", "tfx/tests"):
    if str(_ADAPTER_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_ADAPTER_TESTS / _folder))

import kfp_written_store  # noqa: E402  (the adapters' fixtures)
from tfx_shapes import PortableTfxWriter  # noqa: E402


def test_kfp_and_tfx_runs_are_deleted_with_everything_only_they_held(metadata_store, backend,
                                                                      monkeypatch):
    store = metadata_store
    raw = plain_store(backend)
    kfp_runs = []
    for i in range(2):
        # the fixture names its run and its (new) pipeline by module constants; restored after
        monkeypatch.setattr(kfp_written_store, "RUN_ID", str(uuid.UUID(int=100 + i)))
        monkeypatch.setattr(kfp_written_store, "PIPELINE", f"iris-kfp-{i}")
        kfp_runs.append((kfp_written_store.RUN_ID, kfp_written_store.write_kfp_run(raw)))
    writer = PortableTfxWriter(raw, "tfx-pipe")
    tfx_executions = {}
    for run_id in ("tfx-1", "tfx-2"):
        contexts = writer.start_run(run_id)
        gen, examples = writer.run_component(contexts, "ExampleGen", "tfx.ExampleGen",
                                             outputs={"examples": [("Examples", {"span": 1})]})
        trainer, _ = writer.run_component(contexts, "Trainer", "tfx.Trainer", inputs=examples,
                                          outputs={"model": [("Model", {})]})
        tfx_executions[run_id] = [gen.id, trainer.id]
    names = {r.name for r in get_runs(store=store)}
    assert {kfp_runs[0][0], kfp_runs[1][0], "tfx-1", "tfx-2"} <= names

    run_id, written = kfp_runs[0]
    report = delete_runs(store, [run_id])
    assert report.executions == 4  # the root DAG and three tasks
    assert raw.get_executions_by_id([written.root_dag_id, *written.executions.values()]) == []
    assert raw.get_artifacts_by_id(list(written.artifacts.values())) == []
    assert raw.get_context_by_type_and_name("system.PipelineRun", run_id) is None
    assert_store_consistent(backend)

    report = delete_runs(store, ["tfx-1"])
    assert report.executions == 2 and len(report.artifacts) == 2
    assert raw.get_executions_by_id(tfx_executions["tfx-1"]) == []
    assert raw.get_context_by_type_and_name("pipeline_run", "tfx-1") is None
    # tfx-2 still uses the node contexts and the pipeline: they stay
    assert raw.get_context_by_type_and_name("node", "tfx-pipe.Trainer") is not None
    assert raw.get_context_by_type_and_name("pipeline", "tfx-pipe") is not None
    assert_store_consistent(backend)

    delete_runs(store, ["tfx-2"])  # the last run of its pipeline: its contexts go with it
    assert raw.get_context_by_type_and_name("node", "tfx-pipe.Trainer") is None
    assert raw.get_context_by_type_and_name("pipeline", "tfx-pipe") is None
    assert {r.name for r in get_runs(store=store)} == {kfp_runs[1][0]}
    assert_store_consistent(backend)
