"""The local orchestrator: runs a pipeline's DAG in-process, recording every step.

Steps run in topological order. Before a step runs, its cache key is looked
up (one MLMD query); a hit whose outputs still exist in the artifact store
with the content hash they were written with is recorded as CACHED and the
function does not run (`zen_mlmd.tracking.step_cache`). A step that reads a
value its fingerprint cannot encode runs every time, and the run says so
once. A failing step is recorded FAILED, the steps that depend on it are
recorded CANCELED, and the run ends as failed with a `StepFailedError`
naming the step.

Each step runs through the step runner the Kubeflow tasks use too
(`step_runner.StepRunner`: fingerprint, cache lookup, run, save, publish).
The local orchestrator always starts the next step itself, so it holds each
publish back: the publish of one step and the start of the next go to MLMD
in one transaction (S+1 step writes for S steps). A step that runs longer
than the heartbeat interval records a sign of life every interval, so that
a reader on another host can tell a live run from a killed one
(`tracking.heartbeat`).
"""
from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field

from zen_mlmd.errors import PublishFailedError, StepFailedError, StoreUnavailableError
from zen_mlmd.mlmd.convention_registry import get_convention
from zen_mlmd.pipelines.pipeline import Invocation, PipelineGraph
from zen_mlmd.pipelines.step_runner import StepCall, StepInput, StepOutput, StepRunner
from zen_mlmd.tracking import heartbeat
from zen_mlmd.tracking.owner import current_owner
from zen_mlmd.tracking.recorder import Recorder, RunRecorder


@dataclass
class RunSummary:
    """The local orchestrator's tally while it runs: statuses and cache hits, by step.

    What `run()` returns is the recorded run (`read_recorded_run`), the same
    view whatever the orchestrator.
    """

    run_name: str
    pipeline_name: str
    status: str
    steps: dict[str, str] = field(default_factory=dict)

    @property
    def cache_hits(self) -> list[str]:
        return [name for name, status in self.steps.items() if status == "cached"]

    @property
    def cache_misses(self) -> list[str]:
        return [name for name, status in self.steps.items() if status == "completed"]


def read_recorded_run(store, artifact_store, run_name: str):
    """The post-execution view (`zen_mlmd.post_execution.Run`) of a run just recorded.

    What every orchestrator returns from `run()`: `name`, `status`, `steps`
    and the rest of the read API, read through the connection that recorded it.
    The whole run is read now (a bounded number of calls): orchestrators
    close the store when the run ends.
    """
    from zen_mlmd.post_execution.api import get_run
    from zen_mlmd.post_execution.session import ReadSession

    recorded = get_run(run_name, ReadSession(store, artifact_store))
    recorded.data  # noqa: B018 - read before the store closes
    return recorded


def versions() -> dict[str, str]:
    """Versions that matter to reproduce a run."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("zen-mlmd", "ml-metadata"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "unknown"
    return found


class LocalOrchestrator:
    """Runs pipelines in this process on a stack.

    Args:
        stack: the stack whose metadata and artifact stores the run is recorded in.
        quiet: print nothing.
        convention: the name of the MLMD convention to record in ("native",
            or "kfp" with zen-mlmd-kfp installed); it must support writing.
        heartbeat_sec: a step running longer records a sign of life this
            often (None: never; see `tracking.heartbeat`).
        stale_after_sec: a reader on another host reports the run
            interrupted after this long without a sign of life.
    """

    def __init__(self, stack, quiet: bool = False, convention: str = "native",
                 heartbeat_sec: float | None = heartbeat.DEFAULT_INTERVAL_SEC,
                 stale_after_sec: float = heartbeat.DEFAULT_STALE_AFTER_SEC):
        self.stack = stack
        self.quiet = quiet
        self.convention = convention
        self.heartbeat_sec = heartbeat_sec
        self.stale_after_sec = stale_after_sec

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def run(self, graph: PipelineGraph, run_name: str | None = None):
        """Run and record the graph; returns the recorded run (post-execution view).

        The returned run reads through the metadata store the run was
        recorded in (lineage, producers), which stays open while the run is
        held. A store reached through a port-forward (`kubeflow`) is closed
        when the run ends, stopping the forward: a later lineage query
        through it needs the store opened again (`get_run(name)`).

        Raises:
            StepFailedError: a step raised (after the run is recorded as failed).
            UnknownNameError / ConfigError: the convention is not installed or
                cannot be written (before anything is recorded).
        """
        convention = get_convention(self.convention)
        store = self.stack.metadata_store.open()
        try:
            return self._run(graph, run_name, convention, store)
        finally:
            store.close_if_forwarded()

    def _run(self, graph: PipelineGraph, run_name: str | None, convention, store):
        artifact_store = self.stack.artifact_store.open()
        artifact_store.check_writable()  # before any step runs or anything is recorded
        owner = current_owner()
        if self.heartbeat_sec:  # readers on other hosts cannot check the process
            owner.update(heartbeat.heartbeat_owner({}, self.heartbeat_sec, self.stale_after_sec))
        recorder = Recorder(store, artifact_store, convention=convention, owner=owner)
        config = graph.config()
        config["stack"] = self.stack.describe()
        config["versions"] = versions()
        run = recorder.start_run(graph.name, run_name, config,
                                 pipeline_properties={"source": graph.source},
                                 step_names=list(graph.invocations))
        summary = RunSummary(run.name, graph.name, "running")
        self._say(f"Run {run.name!r} of pipeline {graph.name!r} on stack {self.stack.name!r}")
        state = _RunState()
        runner = StepRunner(run, artifact_store, convention, hold_publish=True,
                            heartbeat_sec=self.heartbeat_sec, say=self._say)
        failure: StepFailedError | None = None
        with run:
            pending = list(graph.invocations.values())
            while pending:
                try:
                    invocation = pending[0]
                    blocked = [u for u in invocation.upstream if u in state.not_done]
                    if blocked:
                        self._cancel(run, invocation, state, blocked)
                        status, error = "canceled", None
                    else:
                        status, error = self._run_step(runner, graph, invocation, state)
                except PublishFailedError as exc:
                    # the current step was not recorded yet and is tried again
                    failure = self._publish_failed(exc, run, state, summary, failure)
                    continue
                pending.pop(0)
                summary.steps[invocation.name] = status
                if error is not None and failure is None:
                    failure = StepFailedError(invocation.name, run.name, error)
            try:
                run.finish()  # the last step's held-back publish goes out with the run's end
            except PublishFailedError as exc:
                failure = self._publish_failed(exc, run, state, summary, failure)
        summary.status = "failed" if failure else (
            "cached" if all(s == "cached" for s in summary.steps.values()) else "completed")
        hits, total = len(summary.cache_hits), len(summary.steps)
        self._say(f"Run {run.name!r} {summary.status}: {total} steps, {hits} from cache, "
                  f"{len(summary.cache_misses)} executed")
        if failure is not None:
            raise failure from failure.cause  # the user's own traceback stays visible
        return read_recorded_run(store, artifact_store, run.name)

    # -- one step ------------------------------------------------------------------
    def _run_step(self, runner: StepRunner, graph: PipelineGraph, inv: Invocation,
                  state: "_RunState") -> tuple[str, BaseException | None]:
        """Run one step through the shared step runner (`step_runner.StepRunner.run_step`).

        Raises:
            PublishFailedError: an earlier step's held-back publish failed
                (before this step was recorded).
            StoreUnavailableError: the metadata store stopped answering.
        """
        inputs: dict[str, list[StepInput]] = {}
        for name, _index, ref in inv.input_refs():
            inputs.setdefault(name, []).append(state.outputs[ref.invocation][ref.output][0].as_input())
        call = StepCall(
            inv.name, inv.step, inv.parameters, inputs,
            frozenset(name for name, value in inv.inputs.items() if isinstance(value, tuple)),
            use_cache=graph.enable_cache and inv.step.enable_cache is not False)
        try:
            outcome = runner.run_step(call)
        except StoreUnavailableError:
            state.not_done.add(runner.run.held_step or inv.name)
            raise
        if outcome.status == "failed":
            state.not_done.add(inv.name)
        else:
            state.outputs[inv.name] = outcome.outputs
        return outcome.status, outcome.error

    def _publish_failed(self, exc: PublishFailedError, run: RunRecorder, state: "_RunState",
                        summary: RunSummary, failure: StepFailedError | None) -> StepFailedError:
        """A held-back publish failed: its step is recorded failed. Returns the run's first failure."""
        state.not_done.add(exc.step_name)
        summary.steps[exc.step_name] = "failed"
        self._say(f"  step {exc.step_name}: FAILED: {exc}")
        return failure or StepFailedError(exc.step_name, run.name, exc.cause)

    def _cancel(self, run: RunRecorder, inv: Invocation, state: "_RunState", blocked) -> None:
        state.not_done.add(inv.name)
        start = run.step_start(inv.name, inv.step.type_name, inv.parameters)
        run.cancel_step(start, f"not run: upstream step {blocked[0]!r} did not complete")
        self._say(f"  step {inv.name}: canceled (upstream {blocked[0]!r} did not complete)")


class _RunState:
    """Published outputs and unfinished steps of the run so far."""

    def __init__(self):
        #: each step's published (or reused) outputs, by output name
        self.outputs: dict[str, dict[str, list[StepOutput]]] = {}
        self.not_done: set[str] = set()


