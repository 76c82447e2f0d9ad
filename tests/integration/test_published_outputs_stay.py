"""Published outputs are never deleted: the store failing after a step's publish keeps them LIVE, with their files.

A write can be committed and its answer lost: the connection drops after
the commit. The fault is injected where the wire would lose it: each test
lets the store commit the publish for real, then makes the client see an
error (`LostAnswer`), on every backend. A real server dying right after a
publish (SIGKILL of `zen-mlmd metadata-store serve`, by the step that runs
next) is the last test.

The step runner is the one both the local orchestrator and the Kubeflow
task entrypoint use (`zen_mlmd.pipelines.step_runner`): the first test
drives it as a KFP task does (one step, publish not held back), the second
through the local orchestrator (publish held back, written with the next
step's start).
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from ml_metadata import errors as mlmd_errors
from ml_metadata.proto import metadata_store_pb2 as pb

from backends import GrpcServer, connection_config, sqlite_spec
from zen_mlmd import pipeline, step
from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.errors import StoreUnavailableError
from zen_mlmd.mlmd.convention_registry import get_convention
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.pipelines.step_runner import StepCall, StepRunner
from zen_mlmd.tracking.recorder import Recorder


class LostAnswer:
    """Lets the store commit the first call of `method` whose request `matches`, then raises as if the answer was lost."""

    def __init__(self, store: MetadataStore, method: str, matches=lambda request: True):
        self.store, self.method, self.matches = store, method, matches
        self.raw_call = store.raw._call_method
        self.fired = False
        store.raw._call_method = self

    def __call__(self, method_name, request, response):
        result = self.raw_call(method_name, request, response)
        if not self.fired and method_name == self.method and self.matches(request):
            self.fired = True
            raise mlmd_errors.InternalError("connection reset by peer (after the commit)")
        return result


def complete(request) -> bool:
    return request.execution.last_known_state == pb.Execution.COMPLETE


@step
def make_numbers(count: int = 3) -> list:
    return list(range(count))


@step
def total(numbers) -> int:
    return sum(numbers)


@step
def halve(value) -> float:
    return value / 2


@pipeline
def counting(count: int = 3):
    halve(total(make_numbers(count=count)))


def outputs_of(store: MetadataStore, execution_id: int) -> list[pb.Artifact]:
    events = store.raw.get_events_by_execution_ids([execution_id])
    ids = [e.artifact_id for e in events if e.type == pb.Event.OUTPUT]
    return store.raw.get_artifacts_by_id(ids)


def test_a_publish_written_then_lost_keeps_the_step_complete_and_its_outputs(metadata_store, tmp_path):
    """A KFP task's step (publish not held back): the publish commits, the answer is lost."""
    artifacts = ArtifactStore(str(tmp_path / "artifacts"))
    run = Recorder(metadata_store, artifacts).start_run("counting", "lost-1")
    runner = StepRunner(run, artifacts, get_convention("native"), say=lambda line: None)
    LostAnswer(metadata_store, "PutExecution", complete)
    with pytest.raises(StoreUnavailableError, match="its publish was written") as raised:
        runner.run_step(StepCall("make_numbers", make_numbers, {"count": 3}))
    assert "Fix: read the run back" in str(raised.value)
    [execution] = metadata_store.raw.get_executions()
    assert execution.last_known_state == pb.Execution.COMPLETE  # never overwritten with FAILED
    [output] = outputs_of(metadata_store, execution.id)
    assert output.state == pb.Artifact.LIVE
    assert artifacts.exists(output.uri)  # its file stays
    assert artifacts.exists(output.uri) and os.listdir(output.uri)


def test_a_publish_that_did_not_land_fails_the_step_and_keeps_the_files(metadata_store, tmp_path):
    """The other way round: the store answered with an error and holds nothing: FAILED, nothing LIVE."""
    artifacts = ArtifactStore(str(tmp_path / "artifacts"))
    run = Recorder(metadata_store, artifacts).start_run("counting", "refused-1")
    runner = StepRunner(run, artifacts, get_convention("native"), say=lambda line: None)
    raw_call = metadata_store.raw._call_method

    def refuse_publish(method_name, request, response):
        if method_name == "PutExecution" and complete(request):
            raise mlmd_errors.InternalError("the write was rolled back")
        return raw_call(method_name, request, response)

    metadata_store.raw._call_method = refuse_publish
    outcome = runner.run_step(StepCall("make_numbers", make_numbers, {"count": 3}))
    assert outcome.status == "failed" and "rolled back" in str(outcome.error)
    [execution] = metadata_store.raw.get_executions()
    assert execution.last_known_state == pb.Execution.FAILED
    assert metadata_store.raw.get_artifacts() == []  # nothing LIVE under a failed step
    # the files written before the publish stay: whether a refused write landed cannot be known
    # for sure, and a LIVE record must never point at deleted files
    written = [Path(folder, name) for folder, _, names in os.walk(tmp_path / "artifacts") for name in names]
    assert written and all("make_numbers" in str(path) for path in written), written
    assert all(path.stat().st_size > 0 for path in written)


def test_the_local_orchestrator_keeps_a_held_publish_that_was_written(backend, tmp_path):
    """Step 1's publish goes out with step 2's start; the write commits and its answer is lost."""
    from zen_mlmd.stack.components import ArtifactStoreComponent, MetadataStoreComponent, OrchestratorComponent
    from zen_mlmd.stack.stack import Stack
    from zen_mlmd.pipelines.orchestrator import LocalOrchestrator

    stack = Stack("faulty", MetadataStoreComponent("faulty-db", backend.flavor, dict(backend.options)),
                  ArtifactStoreComponent("faulty-artifacts", str(tmp_path / "artifacts")),
                  OrchestratorComponent("faulty-local"))
    opened: list[MetadataStore] = []
    component_open = MetadataStoreComponent.open

    def open_with_fault(self, **kwargs):
        store = component_open(self, **kwargs)
        if not kwargs.get("read_only"):
            # the first combined publish-and-start (the run's start finds contexts, no executions)
            LostAnswer(store, "PutLineageSubgraph", matches=lambda request: len(request.executions) == 2)
            opened.append(store)
        return store

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MetadataStoreComponent, "open", open_with_fault)
        with pytest.raises(StoreUnavailableError, match="'make_numbers': its publish was written"):
            LocalOrchestrator(stack, quiet=True).run(counting.build(count=3), run_name="held-1")
    with MetadataStore(connection_config(backend)) as store:
        executions = {e.custom_properties["display_name"].string_value: e for e in store.raw.get_executions()}
        first = executions["make_numbers"]
        assert first.last_known_state == pb.Execution.COMPLETE
        [output] = outputs_of(store, first.id)
        assert output.state == pb.Artifact.LIVE and Path(output.uri).exists()
        # the step started in the same transaction is left RUNNING: nothing more was recorded
        assert executions["total"].last_known_state == pb.Execution.RUNNING
        assert "halve" not in executions


def test_a_server_that_dies_after_a_publish_leaves_the_published_outputs_live(tmp_path):
    """A real `zen-mlmd metadata-store serve` killed by the step after the publish."""
    from zen_mlmd.pipelines.orchestrator import LocalOrchestrator
    from zen_mlmd.stack.components import ArtifactStoreComponent, MetadataStoreComponent, OrchestratorComponent
    from zen_mlmd.stack.stack import Stack

    database = connection_config(sqlite_spec(tmp_path))
    with GrpcServer(database, tmp_path / "server") as server:
        os.environ["ZEN_MLMD_TEST_SERVER_PID"] = str(server.process.pid)
        try:
            stack = Stack("dying", MetadataStoreComponent(
                "dying-db", "kubeflow", {"host": "127.0.0.1", "port": server.port, "client_timeout_sec": 2}),
                ArtifactStoreComponent("dying-artifacts", str(tmp_path / "artifacts")),
                OrchestratorComponent("dying-local"))
            with pytest.raises(StoreUnavailableError):
                LocalOrchestrator(stack, quiet=True).run(dying.build(), run_name="dying-1")
        finally:
            del os.environ["ZEN_MLMD_TEST_SERVER_PID"]
    with MetadataStore(database) as store:  # the records, read from the server's database
        executions = {e.custom_properties["display_name"].string_value: e for e in store.raw.get_executions()}
        first = executions["make_numbers"]
        assert first.last_known_state == pb.Execution.COMPLETE
        [output] = outputs_of(store, first.id)
        assert output.state == pb.Artifact.LIVE and Path(output.uri).exists()


@step(enable_cache=False)
def kill_the_server(numbers) -> int:
    os.kill(int(os.environ["ZEN_MLMD_TEST_SERVER_PID"]), signal.SIGKILL)
    return len(numbers)


@pipeline
def dying():
    kill_the_server(make_numbers(count=2))
