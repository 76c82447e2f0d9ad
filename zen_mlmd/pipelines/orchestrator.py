"""The local orchestrator: runs a pipeline's DAG in-process, recording every step.

Steps run in topological order. Before a step runs, its cache key is looked
up (one MLMD query); a hit whose outputs still exist in the artifact store
with the content hash they were written with is recorded as CACHED and the
function does not run (`zen_mlmd.tracking.step_cache`). A step that reads a
value its fingerprint cannot encode runs every time, and the run says so
once. A failing step is recorded FAILED, the steps that depend on it are
recorded CANCELED, and the run ends as failed with a `StepFailedError`
naming the step.

`_run_step` is the unit that runs one step (fingerprint, cache lookup, run,
save, publish). The local orchestrator always starts the next step itself,
so it holds each publish back: the publish of one step and the start of the
next go to MLMD in one transaction (S+1 step writes for S steps).
"""
from __future__ import annotations

import dataclasses
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from zen_mlmd.errors import MaterializerError, PublishFailedError, StepFailedError, StoreUnavailableError
from zen_mlmd.mlmd.convention import get_convention
from zen_mlmd.pipelines.pipeline import Invocation, PipelineGraph
from zen_mlmd.tracking.caching import output_identity
from zen_mlmd.tracking.recorder import Recorder, RunRecorder
from zen_mlmd.tracking.step_cache import MISS_REASON_PROPERTY, StepKey, look_up, step_key


@dataclass(frozen=True)
class _Published:
    """An output available to downstream steps."""

    #: Its artifact id, or an `OutputRef` while its step's publish is held back.
    id: Any
    uri: str
    materializer: str
    data_type: str
    content_hash: str = ""
    #: written by this run: loaded without asking for trust (its hash is still checked)
    written_here: bool = False


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
    """

    def __init__(self, stack, quiet: bool = False, convention: str = "native"):
        self.stack = stack
        self.quiet = quiet
        self.convention = convention

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def run(self, graph: PipelineGraph, run_name: str | None = None):
        """Run and record the graph; returns the recorded run (post-execution view).

        The metadata store opened for the run is closed when it ends (a
        `kubeflow` store's port-forward stops then): the returned run is read
        before, and a later lineage query through a port-forward needs the
        store opened again (`get_run(name)`).

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
            store.close()

    def _run(self, graph: PipelineGraph, run_name: str | None, convention, store):
        artifact_store = self.stack.artifact_store.open()
        artifact_store.check_writable()  # before any step runs or anything is recorded
        recorder = Recorder(store, artifact_store, convention=convention)
        config = graph.config()
        config["stack"] = self.stack.describe()
        config["versions"] = versions()
        run = recorder.start_run(graph.name, run_name, config,
                                 pipeline_properties={"source": graph.source})
        summary = RunSummary(run.name, graph.name, "running")
        self._say(f"Run {run.name!r} of pipeline {graph.name!r} on stack {self.stack.name!r}")
        state = _RunState(artifact_store.root)
        failure: StepFailedError | None = None
        with run:
            pending = list(graph.invocations.values())
            while pending or run.held_step is not None:
                try:
                    if not pending:
                        run.flush()  # the last step's publish
                        continue
                    invocation = pending[0]
                    blocked = [u for u in invocation.upstream if u in state.not_done]
                    if blocked:
                        self._cancel(run, invocation, state, blocked)
                        status, error = "canceled", None
                    else:
                        status, error = self._run_step(run, graph, invocation, state, artifact_store)
                except PublishFailedError as exc:
                    # the step whose publish was held back is recorded failed; the
                    # current one was not recorded yet and is tried again
                    state.not_done.add(exc.step_name)
                    summary.steps[exc.step_name] = "failed"
                    failure = failure or StepFailedError(exc.step_name, run.name, exc.cause)
                    self._say(f"  step {exc.step_name}: FAILED: {exc}")
                    continue
                pending.pop(0)
                summary.steps[invocation.name] = status
                if error is not None and failure is None:
                    failure = StepFailedError(invocation.name, run.name, error)
            run.finish()
        summary.status = "failed" if failure else (
            "cached" if all(s == "cached" for s in summary.steps.values()) else "completed")
        hits, total = len(summary.cache_hits), len(summary.steps)
        self._say(f"Run {run.name!r} {summary.status}: {total} steps, {hits} from cache, "
                  f"{len(summary.cache_misses)} executed")
        if failure is not None:
            raise failure from failure.cause  # the user's own traceback stays visible
        return read_recorded_run(store, artifact_store, run.name)

    # -- one step ------------------------------------------------------------------
    def _run_step(self, run: RunRecorder, graph: PipelineGraph, inv: Invocation,
                  state: "_RunState", artifact_store, hold_publish: bool = True,
                  ) -> tuple[str, BaseException | None]:
        """Fingerprint, cache lookup, run, save and publish one step.

        With `hold_publish` the publish goes out with the run's next write
        (`StepRecorder.publish(defer=True)`); the step is reported completed
        once its function returned and its outputs are saved.

        Raises:
            PublishFailedError: an earlier step's held-back publish failed
                (before this step was recorded).
        """
        step = inv.step
        inputs = {}
        identities: dict[str, list[str]] = {}
        for name, index, ref in inv.input_refs():
            published = state.outputs[ref.invocation][ref.output]
            inputs.setdefault(name, []).append(published[0].id)
            identities.setdefault(name, []).append(state.identity(ref.invocation, ref.output))
        declared = {o.name: _materializer_name(o.materializer) for o in step.outputs}
        key = state.fingerprint(step, inv.parameters, identities, declared)
        state.keys[inv.name] = key.value
        start = run.step_start(inv.name, step.type_name, inv.parameters, inputs, key.fingerprint.value,
                               key.value, key.key.parts, properties=key.properties())
        use_cache = graph.enable_cache and step.enable_cache is not False
        if use_cache and not key.cacheable and inv.name not in state.warned:
            state.warned.add(inv.name)  # once per run
            self._say(f"  {key.console_line(inv.name)}")
        if use_cache and key.cacheable:
            hit, rejected = self._try_cache(run, inv, start, state, artifact_store)
            if hit:
                return "cached", None
            if rejected:
                start = dataclasses.replace(
                    start, properties={**start.properties, MISS_REASON_PROPERTY: rejected})
        started = time.perf_counter()
        self._say(f"  step {inv.name}: running")
        held = run.held_step  # its publish goes out with this start
        try:
            recorder = run.begin_step(start)
        except StoreUnavailableError as exc:
            state.not_done.add(held or inv.name)
            raise StoreUnavailableError(
                f"run {run.name!r}, step {held or inv.name!r}: the metadata store stopped answering; "
                f"the step is left {'RUNNING' if held else 'unrecorded'} and the run will read as "
                f"interrupted. {exc}") from exc
        publishing = False
        try:
            values = self._call(inv, state, artifact_store)
            for spec, value in zip(step.outputs, values):
                recorder.save_output(spec.name, value, kind=spec.kind, materializer=spec.materializer)
            publishing = True
            output_ids = recorder.publish(defer=hold_publish)
        except StoreUnavailableError as exc:
            # recording the failure would wait for the store all over again;
            # readers will see the run as interrupted
            state.not_done.add(inv.name)
            raise StoreUnavailableError(
                f"run {run.name!r}, step {inv.name!r}: the metadata store stopped answering; "
                f"the step is left RUNNING and the run will read as interrupted. {exc}") from exc
        except BaseException as exc:  # Ctrl-C too: the step must not stay RUNNING
            # A publish that failed may still have committed (a lost connection):
            # its outputs are kept rather than deleted under LIVE records.
            recorder.fail(exc, remove_outputs=not publishing)
            state.not_done.add(inv.name)
            self._say(f"  step {inv.name}: FAILED after {time.perf_counter() - started:.2f}s: "
                      f"{type(exc).__name__}: {exc}")
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt, SystemExit: the run ends as failed
            return "failed", exc
        state.remember(inv, recorder.saved_outputs, output_ids,
                       by_content=step.enable_cache is False or not key.cacheable)
        self._say(f"  step {inv.name}: completed in {time.perf_counter() - started:.2f}s")
        return "completed", None

    def _try_cache(self, run, inv, start, state, artifact_store) -> tuple[bool, str]:
        """(served from the cache, why recorded outputs were not reused)."""
        if run.held_step is not None and state.keys.get(run.held_step) == start.cache_key:
            # the held-back publish is the entry this step would reuse: written first
            run.flush()
        decision = look_up(run.store, artifact_store, start.cache_key, {o.name for o in inv.step.outputs},
                           get_convention(self.convention))
        cached = decision.hit
        if cached is None:
            if decision.rejected:
                self._say(f"  step {inv.name}: cached outputs not reused: {decision.rejected}; running it")
            return False, decision.rejected
        if decision.rejected:
            self._say(f"  step {inv.name}: newer cached outputs not reused: {decision.rejected}")
        run.record_cached_step(start, cached.execution_id,
                               {name: [a.id for a in arts] for name, arts in cached.outputs.items()})
        state.outputs[inv.name] = {
            name: [_Published(a.id, a.uri, a.materializer, a.data_type, a.content_hash) for a in arts]
            for name, arts in cached.outputs.items()
        }
        self._say(f"  step {inv.name}: cached (outputs of execution {cached.execution_id})")
        return True, ""

    def _call(self, inv: Invocation, state: "_RunState", artifact_store) -> tuple:
        from zen_mlmd.artifacts import read_artifact

        kwargs: dict[str, Any] = dict(inv.parameters)
        for name, value in inv.inputs.items():
            refs = value if isinstance(value, tuple) else (value,)
            loaded = []
            for ref in refs:
                published = state.outputs[ref.invocation][ref.output][0]
                loaded.append(read_artifact(published.uri, artifact_store,
                                            published.materializer, published.data_type,
                                            content_hash=published.content_hash,
                                            trusted=published.written_here))
            kwargs[name] = tuple(loaded) if isinstance(value, tuple) else loaded[0]
        result = inv.step.func(**kwargs)
        outputs = inv.step.outputs
        if len(outputs) == 1:
            return (result,)
        if not isinstance(result, tuple) or len(result) != len(outputs):
            raise MaterializerError(
                f"step {inv.name!r} declares {len(outputs)} outputs "
                f"({', '.join(o.name for o in outputs)}) but returned "
                f"{type(result).__name__}{'' if not isinstance(result, tuple) else f' of {len(result)}'}. "
                "Fix: return a tuple with one value per declared output"
            )
        return result

    def _cancel(self, run: RunRecorder, inv: Invocation, state: "_RunState", blocked) -> None:
        state.not_done.add(inv.name)
        start = run.step_start(inv.name, inv.step.type_name, inv.parameters)
        run.cancel_step(start, f"not run: upstream step {blocked[0]!r} did not complete")
        self._say(f"  step {inv.name}: canceled (upstream {blocked[0]!r} did not complete)")


class _RunState:
    """Outputs, cache keys and failures of the steps run so far."""

    def __init__(self, artifact_root: str):
        self.artifact_root = artifact_root
        self.outputs: dict[str, dict[str, list[_Published]]] = {}
        self.keys: dict[str, str] = {}
        self.not_done: set[str] = set()
        self.content_ids: dict[str, dict[str, str]] = {}
        #: steps whose uncacheable line was printed in this run
        self.warned: set[str] = set()

    def fingerprint(self, step, parameters, identities, declared) -> StepKey:
        """The step's fingerprint and key, computed when the step is about to run.

        Not reused across the steps of a run: an earlier step may have changed
        a module-level value a later one reads. What is costly (reading each
        function's bytecode) is done once per process (`code_scan`).
        """
        return step_key(step.func, parameters, identities, declared, self.artifact_root)

    def remember(self, inv: Invocation, saved, output_ids, by_content: bool = False) -> None:
        """Keep a step's published outputs for the steps downstream.

        Args:
            by_content: the step ran with caching off, i.e. it may not be
                deterministic: its outputs are identified by their content
                hash, so that new contents invalidate the consumers.
        """
        self.outputs[inv.name] = {
            name: [_Published(aid, out.uri, out.materializer, out.data_type, out.content_hash, True)
                   for aid, out in zip(output_ids[name], saved_outputs)]
            for name, saved_outputs in saved.items()
        }
        if by_content:
            self.content_ids[inv.name] = {
                name: ",".join(out.content_hash for out in saved_outputs)
                for name, saved_outputs in saved.items()
            }

    def identity(self, invocation: str, output: str) -> str:
        """The content identity of an output, as a consumer's cache key uses it."""
        return output_identity(self.keys[invocation], output,
                               self.content_ids.get(invocation, {}).get(output))


def _materializer_name(materializer) -> str:
    if materializer is None:
        return "auto"
    if isinstance(materializer, str):
        return materializer
    return getattr(materializer, "name", None) or getattr(materializer, "__name__", repr(materializer))
