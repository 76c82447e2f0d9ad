"""A registered stack whose orchestrator is `kubeflow` (or `local` recording in KFP's
convention) runs pipelines through `Pipeline.run`, like the default stack."""
from __future__ import annotations

import os
import sys

import pytest

from zen_mlmd import pipeline, step
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.post_execution import Run
from zen_mlmd.stack import StackRegistry

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


@step
def numbers(count: int = 3) -> list:
    return list(range(count))


@step
def total(values) -> int:
    return sum(values)


@pipeline
def adding(count: int = 3):
    total(numbers(count=count))


@pytest.fixture
def registry(tmp_path) -> StackRegistry:
    registry = StackRegistry(tmp_path / "config")
    registry.register_metadata_store("db", "sqlite", {"path": str(tmp_path / "metadata.db")})
    registry.register_artifact_store("art", str(tmp_path / "artifacts"))
    return registry


@pytest.fixture
def subprocess_path(monkeypatch, tmp_path):
    """kfp.local's task subprocesses import the steps: the repo on their path."""
    paths = [REPO, os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    monkeypatch.chdir(tmp_path)


def run_contexts(stack, type_name: str, external: bool = False) -> list[str]:
    """Names of the contexts of a type; with `external`, the run names KFP runs keep on their root DAGs."""
    with stack.metadata_store.open() as store:
        if external:
            runs = {c.name for c in store.raw.get_contexts_by_type(type_name)}
            return sorted(e.external_id for e in store.raw.get_executions_by_type("system.DAGExecution")
                          if e.name[len("run/"):] in runs)
        return sorted(c.name for c in store.raw.get_contexts_by_type(type_name))


def test_a_kubeflow_stack_runs_the_quickstart_through_pipeline_run(registry, subprocess_path):
    sys.path.insert(0, REPO)
    from examples.quickstart.pipeline import iris_training

    component = registry.register_orchestrator("kfp-local", "kubeflow", {"local": "true"})
    assert component.options == {"local": True}  # stored validated, as YAML true
    stack = registry.register_stack("kfp", "db", "art", "kfp-local")

    run = iris_training.run(stack=registry.get_stack("kfp"), run_name="iris-kfp", quiet=True)
    assert isinstance(run, Run)  # the same view the local orchestrator returns
    assert (run.name, run.status) == ("iris-kfp", "completed")
    assert {s.name: s.status for s in run.steps} == dict.fromkeys(
        ["load_iris", "split", "train", "evaluate"], "completed")
    with stack.metadata_store.open() as store:
        record = StoreReader(store).get_run("iris-kfp")
        assert record.recorded_status == "completed"
    assert run_contexts(stack, "pipeline_run") == ["iris-kfp"]  # the native convention


def test_a_local_stack_records_in_the_kfp_convention(registry):
    registry.register_orchestrator("kfp-schema", "local", {"convention": "kfp"})
    stack = registry.register_stack("local-kfp", "db", "art", "kfp-schema")

    run = adding.run(stack=stack, run_name="adding-1", quiet=True, count=4)
    assert isinstance(run, Run)
    assert (run.name, run.status) == ("adding-1", "completed")
    assert run.steps["total"].outputs["output"].read() == 6
    assert run_contexts(stack, "system.PipelineRun", external=True) == ["adding-1"]
    assert run_contexts(stack, "system.Pipeline") == ["adding"]
    assert run_contexts(stack, "pipeline_run") == []

    again = adding.run(stack=stack, run_name="adding-2", quiet=True, count=4)
    assert [s.status for s in again.steps] == ["cached", "cached"]


def test_a_run_can_choose_the_convention_for_itself(registry):
    stack = registry.register_stack("plain", "db", "art")  # the default local orchestrator
    adding.run(stack=stack, run_name="native-1", quiet=True)
    adding.run(stack=stack, run_name="kfp-1", quiet=True, convention="kfp")
    assert run_contexts(stack, "pipeline_run") == ["native-1"]
    assert run_contexts(stack, "system.PipelineRun", external=True) == ["kfp-1"]


def test_kubeflow_options_are_validated_before_anything_is_written(registry):
    from zen_mlmd.errors import ConfigError

    before = registry.config_path.read_bytes()
    with pytest.raises(ConfigError, match="set host to the KFP endpoint, or local=true"):
        registry.register_orchestrator("cluster", "kubeflow", {"namespace": "team"})
    with pytest.raises(ConfigError, match="unknown option for orchestrator flavor 'kubeflow'"):
        registry.register_orchestrator("cluster", "kubeflow", {"local": "true", "replicas": "2"})
    assert registry.config_path.read_bytes() == before
