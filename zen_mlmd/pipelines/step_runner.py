"""One step, run and recorded the same way by every orchestrator that runs zen_mlmd steps.

The local orchestrator (all steps in one process) and the Kubeflow task
entrypoint (one step per pod) both call `StepRunner.run`, which

1. computes the step's fingerprint and cache key (`step_cache.step_key`:
   code, parameters, the identities of its inputs, declared outputs,
   artifact store); an uncacheable step says why (once per runner) and runs;
2. looks the key up and verifies the outputs found (`step_cache.look_up`):
   a hit is recorded CACHED and the function is not called;
3. records the step RUNNING, loads its inputs (each checked against the
   content hash it was written with), calls the function while a heartbeat
   marks the step alive (`tracking.heartbeat`), saves every output through
   its materializer and publishes them: COMPLETE with LIVE outputs;
4. records a failure FAILED. Outputs saved before publishing started are
   removed; once the publish has been sent they are never removed: a
   publish that failed may still have been committed (a connection lost
   after the commit), and a LIVE artifact must keep its file.

Who records is the caller's choice: a `RunRecorder` (zen_mlmd writes the
run itself) or any object with its step methods (a KFP task joining the
execution KFP's own launcher records). Inputs and outputs travel between
steps as `StepInput` / `StepOutput`: the local orchestrator keeps them in
memory, KFP tasks pass them as task parameters.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from zen_mlmd.errors import MaterializerError, PublishWrittenError, StoreUnavailableError
from zen_mlmd.tracking.caching import output_identity
from zen_mlmd.tracking.heartbeat import Heartbeat
from zen_mlmd.tracking.step_cache import MISS_REASON_PROPERTY, StepKey, look_up, step_key

COMPLETED = "completed"
CACHED = "cached"
FAILED = "failed"


@dataclass(frozen=True)
class StepInput:
    """One input artifact of a step, as the step that produced it published it.

    Attributes:
        ref: what the recorder links the input by: an artifact id, an
            `OutputRef` (its producer's publish is held back), or None when
            another writer records the step's inputs (KFP's driver).
        identity: how the consumer's cache key names this output
            (`caching.output_identity`).
        trusted: written by this run in this process: loaded even in a
            format that runs code (its content hash is still checked).
    """

    ref: Any
    uri: str
    materializer: str
    data_type: str
    content_hash: str = ""
    identity: str = ""
    trusted: bool = False


@dataclass(frozen=True)
class StepOutput:
    """One published output, for the steps downstream (see `StepInput`)."""

    ref: Any
    uri: str
    materializer: str
    data_type: str
    content_hash: str
    identity: str
    kind: str = ""
    size_bytes: int | None = None
    #: saved by this process in this run (not reused from the cache)
    written_here: bool = False

    def as_input(self) -> StepInput:
        return StepInput(self.ref, self.uri, self.materializer, self.data_type, self.content_hash,
                         self.identity, trusted=self.written_here)


@dataclass(frozen=True)
class StepCall:
    """One invocation of a `@step` to run.

    Attributes:
        inputs: input artifacts by input name (several for a list input).
        list_inputs: the inputs that take a tuple of artifacts.
        use_cache: the pipeline and the step allow reusing cached outputs.
        properties: more execution properties to record (pod name, image).
    """

    name: str
    step: Any
    parameters: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, Sequence[StepInput]] = field(default_factory=dict)
    list_inputs: frozenset[str] = frozenset()
    use_cache: bool = True
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class StepOutcome:
    """What happened to one step.

    Attributes:
        status: "completed", "cached" or "failed".
        outputs: the published (or reused) outputs by output name.
        values: the values the function returned, by output name (not for
            a cached step: its function did not run).
        error: what the step raised (status "failed").
        original_execution_id: the execution whose outputs a cached step reuses.
        execution_id: the step's own execution, where the recorder knows it.
        heartbeats: how many heartbeats the step wrote while its function ran.
    """

    status: str
    key: StepKey
    outputs: dict[str, list[StepOutput]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None
    original_execution_id: int | None = None
    execution_id: int | None = None
    heartbeats: int = 0


class StepRunner:
    """Runs the steps of one run, one at a time (see the module docstring).

    Args:
        run: a `RunRecorder` (or an object with the same step methods).
        artifact_store: where outputs are saved and inputs read.
        convention: the convention the run is recorded in (its cache lookup).
        hold_publish: hold each publish back to go out with the run's next
            write (the local orchestrator, which starts the next step itself).
        heartbeat_sec: while a step runs, record a sign of life this often
            (None: never).
        say: where progress lines go.
    """

    def __init__(self, run, artifact_store, convention, *, hold_publish: bool = False,
                 heartbeat_sec: float | None = None, say: Callable[[str], None] | None = None):
        self.run = run
        self.artifact_store = artifact_store
        self.convention = convention
        self.hold_publish = hold_publish
        self.heartbeat_sec = heartbeat_sec
        self.say = say or _stderr
        #: steps whose "cannot be cached" line was printed (once per runner)
        self._warned: set[str] = set()

    def key(self, call: StepCall) -> StepKey:
        """The step's fingerprint and cache key, computed now (no MLMD call).

        Not reused across the steps of a run: an earlier step may have changed
        a module-level value a later one reads. What is costly (reading each
        function's bytecode) is done once per process (`code_scan`).
        """
        identities = {name: [i.identity for i in items] for name, items in call.inputs.items()}
        declared = {o.name: materializer_name(o.materializer) for o in call.step.outputs}
        return step_key(call.step.func, call.parameters, identities, declared, self.artifact_store.root)

    def run_step(self, call: StepCall) -> StepOutcome:
        """Fingerprint, look up, run, save and publish one step.

        Returns:
            The outcome; a step that raised is "failed" with its error (the
            failure is recorded first).

        Raises:
            PublishFailedError: an earlier step's held-back publish failed
                (before this step was recorded).
            StoreUnavailableError: the metadata store stopped answering; the
                step is left as far as it got, and the run reads interrupted.
            KeyboardInterrupt, SystemExit: after the step is recorded FAILED.
        """
        run, step = self.run, call.step
        key = self.key(call)
        start = run.step_start(
            call.name, step.type_name, call.parameters,
            {name: [i.ref for i in items] for name, items in call.inputs.items()
             if all(i.ref is not None for i in items)},
            key.fingerprint.value, key.value, key.key.parts,
            properties={**call.properties, **key.properties()})
        if call.use_cache and not key.cacheable and call.name not in self._warned:
            self._warned.add(call.name)
            self.say(f"  {key.console_line(call.name)}")
        if call.use_cache and key.cacheable:
            hit, rejected = self._try_cache(call, start, key)
            if hit is not None:
                return hit
            if rejected:
                start = dataclasses.replace(start, properties={**start.properties, MISS_REASON_PROPERTY: rejected})
        return self._execute(call, start, key)

    # -- pieces ------------------------------------------------------------------------
    def _try_cache(self, call: StepCall, start, key: StepKey) -> tuple[StepOutcome | None, str]:
        """(the outcome of a cache hit or None, why recorded outputs were not reused)."""
        run = self.run
        if getattr(run, "held_step_cache_key", "") == start.cache_key:
            run.flush()  # the held-back publish is the entry this step would reuse: written first
        decision = look_up(run.store, self.artifact_store, start.cache_key,
                           {o.name for o in call.step.outputs}, self.convention)
        cached = decision.hit
        if cached is None:
            if decision.rejected:
                self.say(f"  step {call.name}: cached outputs not reused: {decision.rejected}; running it")
            return None, decision.rejected
        if decision.rejected:
            self.say(f"  step {call.name}: newer cached outputs not reused: {decision.rejected}")
        execution_id = run.record_cached_step(
            start, cached.execution_id, {name: [a.id for a in arts] for name, arts in cached.outputs.items()})
        kinds = {o.name: o.kind for o in call.step.outputs}
        outputs = {name: [StepOutput(a.id, a.uri, a.materializer, a.data_type, a.content_hash,
                                     output_identity(key.value, name), _kind_name(kinds.get(name)))
                          for a in arts]
                   for name, arts in cached.outputs.items()}
        self.say(f"  step {call.name}: cached (outputs of execution {cached.execution_id})")
        return StepOutcome(CACHED, key, outputs, original_execution_id=cached.execution_id,
                           execution_id=execution_id if isinstance(execution_id, int) else None), ""

    def _execute(self, call: StepCall, start, key: StepKey) -> StepOutcome:
        run, step = self.run, call.step
        started = time.perf_counter()
        self.say(f"  step {call.name}: running")
        held = getattr(run, "held_step", None)  # its publish goes out with this start
        try:
            recorder = run.begin_step(start)
        except PublishWrittenError:
            raise  # says which step it left, and how
        except StoreUnavailableError as exc:
            raise StoreUnavailableError(
                f"run {run.name!r}, step {held or call.name!r}: the metadata store stopped answering; "
                f"the step is left {'RUNNING' if held else 'unrecorded'} and the run will read as "
                f"interrupted. {exc}") from exc
        publishing = False
        values: dict[str, Any] = {}
        heartbeat = Heartbeat(recorder.heartbeat, self.heartbeat_sec)
        try:
            with heartbeat:
                returned = self._call(call)
                for spec, value in zip(step.outputs, returned):
                    values[spec.name] = value
                    recorder.save_output(spec.name, value, kind=spec.kind, materializer=spec.materializer)
            publishing = True
            output_refs = recorder.publish(defer=self.hold_publish)
        except PublishWrittenError:
            raise
        except StoreUnavailableError as exc:
            # recording the failure would wait for the store all over again;
            # readers will see the run as interrupted
            raise StoreUnavailableError(
                f"run {run.name!r}, step {call.name!r}: the metadata store stopped answering; "
                f"the step is left {'as far as its publish got' if publishing else 'RUNNING'} and "
                f"the run will read as interrupted. {exc}") from exc
        except BaseException as exc:  # Ctrl-C too: the step must not stay RUNNING
            if publishing and hasattr(recorder, "raise_if_published"):
                recorder.raise_if_published(exc)  # written after all: COMPLETE, LIVE, kept
            # A publish that failed may still commit later (a deadline passed while
            # the server works on): its outputs are kept rather than deleted.
            recorder.fail(exc, remove_outputs=not publishing)
            self.say(f"  step {call.name}: FAILED after {time.perf_counter() - started:.2f}s: "
                     f"{type(exc).__name__}: {exc}")
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt, SystemExit: the run ends as failed
            return StepOutcome(FAILED, key, error=exc, execution_id=recorder.execution_id,
                               heartbeats=heartbeat.beats)
        # Not cached, so maybe not deterministic: consumers name its outputs by content.
        by_content = step.enable_cache is False or not key.cacheable
        outputs = {}
        for name, saved in recorder.saved_outputs.items():
            refs = output_refs.get(name) or (None,) * len(saved)
            outputs[name] = [
                StepOutput(ref, out.uri, out.materializer, out.data_type, out.content_hash,
                           output_identity(key.value, name, ",".join(o.content_hash for o in saved)
                                           if by_content else None),
                           out.kind, out.size_bytes, written_here=True)
                for ref, out in zip(refs, saved)]
        self.say(f"  step {call.name}: completed in {time.perf_counter() - started:.2f}s")
        return StepOutcome(COMPLETED, key, outputs, values, execution_id=recorder.execution_id,
                           heartbeats=heartbeat.beats)

    def _call(self, call: StepCall) -> tuple:
        from zen_mlmd.artifacts import read_artifact

        kwargs: dict[str, Any] = dict(call.parameters)
        for name, items in call.inputs.items():
            loaded = [read_artifact(i.uri, self.artifact_store, i.materializer, i.data_type,
                                    content_hash=i.content_hash, trusted=i.trusted) for i in items]
            kwargs[name] = tuple(loaded) if name in call.list_inputs else loaded[0]
        result = call.step.func(**kwargs)
        outputs = call.step.outputs
        if len(outputs) == 1:
            return (result,)
        if not isinstance(result, tuple) or len(result) != len(outputs):
            raise MaterializerError(
                f"step {call.name!r} declares {len(outputs)} outputs "
                f"({', '.join(o.name for o in outputs)}) but returned "
                f"{type(result).__name__}{'' if not isinstance(result, tuple) else f' of {len(result)}'}. "
                "Fix: return a tuple with one value per declared output"
            )
        return result


def materializer_name(materializer) -> str:
    """How a step's declared materializer is named in its cache key."""
    if materializer is None:
        return "auto"
    if isinstance(materializer, str):
        return materializer
    return getattr(materializer, "name", None) or getattr(materializer, "__name__", repr(materializer))


def _kind_name(kind) -> str:
    if kind is None:
        return ""
    from zen_mlmd.artifacts.kinds import ArtifactKind

    return ArtifactKind.parse(kind).value


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
