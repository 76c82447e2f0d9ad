"""A KFP task closes the metadata store it opened when it ends, completed or failed.

`run_task` is what the compiled component runs in the task's container; here
it is called in-process with real KFP artifact objects and a real SQLite
store, so that the store it opened can be looked at afterwards (a `kubeflow`
store's port-forward stops when it is closed).
"""
from __future__ import annotations

import os
import sys

import pytest
import yaml
from kfp import dsl

from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.stack.components import MetadataStoreComponent
from zen_mlmd_kfp.compiler import TASK_PARAMETER
from zen_mlmd_kfp.orchestrator import KubeflowOrchestrator
from zen_mlmd_kfp.task_entrypoint import run_task

sys.path.insert(0, os.path.dirname(__file__))
from side_effect_pipeline import traced  # noqa: E402


@pytest.fixture
def opened(monkeypatch) -> list:
    """Every store `MetadataStoreComponent.open` returns (the real ones), in order."""
    stores = []
    real_open = MetadataStoreComponent.open

    def open_and_keep(self, *args, **kwargs):
        stores.append(real_open(self, *args, **kwargs))
        return stores[-1]

    monkeypatch.setattr(MetadataStoreComponent, "open", open_and_keep)
    return stores


def _task_json(stack, tmp_path, task: str) -> str:
    package = str(tmp_path / "traced.yaml")
    KubeflowOrchestrator(stack, quiet=True).compile(traced.build(), package)
    with open(package, encoding="utf-8") as handle:
        tasks = yaml.safe_load(handle)["root"]["dag"]["tasks"]
    return tasks[task]["inputs"]["parameters"][TASK_PARAMETER]["runtimeValue"]["constant"]


def _run_make_numbers(stack, tmp_path, run_name: str) -> None:
    output = dsl.Dataset(name="numbers", uri=str(tmp_path / "kfp" / run_name / "numbers"))
    run_task(_task_json(stack, tmp_path, "make-numbers"), run_name, f"job-{run_name}",
             inputs={}, outputs={"numbers": output})


def test_a_completed_task_closes_its_store(sqlite_stack, tmp_path, monkeypatch, opened):
    monkeypatch.setenv("ZEN_MLMD_KFP_TEST_TRACE", str(tmp_path / "trace.txt"))
    _run_make_numbers(sqlite_stack, tmp_path, "task-ok")
    [store] = opened
    assert store.closed
    reader = StoreReader(sqlite_stack.metadata_store.open())
    [step] = reader.read_run_steps(reader.get_run("task-ok"))
    assert (step.name, step.state) == ("make_numbers", "COMPLETE")


def test_a_failed_task_records_the_failure_then_closes_its_store(sqlite_stack, tmp_path, monkeypatch,
                                                                 opened):
    monkeypatch.setenv("ZEN_MLMD_KFP_TEST_TRACE", str(tmp_path / "no-such-dir" / "trace.txt"))
    with pytest.raises(FileNotFoundError):
        _run_make_numbers(sqlite_stack, tmp_path, "task-failed")
    [store] = opened
    assert store.closed
    reader = StoreReader(sqlite_stack.metadata_store.open())
    run = reader.get_run("task-failed")
    assert run.recorded_status == "failed"
    [step] = reader.read_run_steps(run)
    assert (step.name, step.state) == ("make_numbers", "FAILED")
