"""The MLMD write sequences of a run, in as few calls as MLMD allows.

* start a run: the pipeline context (once per pipeline), the run context and
  its parent link (plus, in conventions that have one, ONE `put_execution` of
  the run-level root execution, e.g. Kubeflow Pipelines' root DAG);
* start a step: ONE `put_execution` (RUNNING execution, INPUT events by
  artifact id, pipeline/run/node contexts);
* publish a step: ONE `put_execution` (COMPLETE, LIVE outputs, OUTPUT events);
* fail a step: ONE `put_execution` (FAILED with the error, no outputs);
* a cache hit: ONE `put_execution` (CACHED, OUTPUT events to the original
  artifacts, the original execution id);
* end a run: one `put_contexts` (one `put_execution` ending the root
  execution and updating the run context, where there is a root execution).

The convention decides the type names, the protos and which contexts a step
is linked to; the call sequence is the same for every convention.
Handles keep the protos; callers outside `zen_mlmd.mlmd` never see them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.errors import AlreadyExistsError, ConfigError
from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import WritableConvention
from zen_mlmd.mlmd.native import NativeConvention
from zen_mlmd.mlmd.store import MetadataStore, is_already_exists


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class RunHandle:
    """A run being recorded: its contexts, with their ids."""

    pipeline_name: str
    run_name: str
    pipeline_context: pb.Context
    run_context: pb.Context
    #: 0 when the convention links steps to no node context.
    node_type_id: int
    convention: WritableConvention
    node_contexts: dict[str, pb.Context] = field(default_factory=dict)
    cache_type_id: int = 0
    #: The run-level execution of conventions that write one (else None).
    root_execution: pb.Execution | None = None

    @property
    def run_id(self) -> int:
        return self.run_context.id


@dataclass
class StepHandle:
    """A started step: its execution as written."""

    run: RunHandle
    step: records.StepStart
    execution: pb.Execution

    @property
    def execution_id(self) -> int:
        return self.execution.id


class RunWriter:
    """Writes runs into one store in one convention (native by default).

    Raises:
        ConfigError: the convention can only be read, not written.
    """

    def __init__(self, store: MetadataStore, convention: WritableConvention | None = None):
        self.store = store
        self.convention = convention or NativeConvention()
        if not isinstance(self.convention, WritableConvention):
            raise ConfigError(
                "convention", self.convention.name, "zen_mlmd can read but not record runs in it",
                "record in a convention that supports writing, such as 'native'",
            )

    # -- runs ----------------------------------------------------------------------
    def start_run(
        self, pipeline_name: str, run_name: str, config: Mapping[str, Any],
        owner: Mapping[str, Any], pipeline_properties: Mapping[str, Any] | None = None,
    ) -> RunHandle:
        """Create the run context under its pipeline context.

        Raises:
            AlreadyExistsError: a run with this name exists already.
        """
        c = self.convention
        pipeline_type = self.store.type_id("context", c.context_type(c.pipeline_context_type))
        run_type = self.store.type_id("context", c.context_type(c.run_context_type))
        node_type = (self.store.type_id("context", c.context_type(c.node_context_type))
                     if c.node_context_type else 0)
        pipeline_context = self._pipeline_context(
            pipeline_type, c.pipeline_context_name(pipeline_name), pipeline_properties or {})
        run_context = c.run_context(run_type, pipeline_name, run_name, config, owner)
        root = None
        try:
            if c.root_execution_type:
                # One transaction: the run context and its root execution (which
                # may be what makes the run name unique) exist together or not at all.
                root_type = self.store.type_id("execution", c.execution_type(c.root_execution_type))
                root = c.root_execution(root_type, pipeline_name, run_name, run_context.name, config, owner)
                root.id, _, [_, run_context.id] = self.store.put_execution(
                    root, [], [pipeline_context, run_context],
                    reuse_context_if_already_exist=True, force_reuse_context=True,
                )
            else:
                [run_context.id] = self.store.put_contexts([run_context])
        except Exception as exc:
            if is_already_exists(exc):
                raise AlreadyExistsError(
                    f"a run named {run_name!r} already exists in this metadata store. "
                    "Fix: choose another run name (run names are unique), or leave it "
                    "unset to get a generated one"
                ) from None
            raise
        self.store.put_parent_contexts([
            pb.ParentContext(child_id=run_context.id, parent_id=pipeline_context.id)
        ])
        handle = RunHandle(pipeline_name, run_name, pipeline_context, run_context, node_type, c)
        handle.root_execution = root
        if c.cache_context_type:
            handle.cache_type_id = self.store.type_id("context", c.context_type(c.cache_context_type))
        return handle

    def _pipeline_context(self, type_id: int, name: str, properties: Mapping[str, Any]) -> pb.Context:
        type_name = self.convention.pipeline_context_type
        existing = self.store.get_context_by_type_and_name(type_name, name)
        if existing is not None:
            return existing
        context = self.convention.pipeline_context(type_id, name, properties)
        try:
            [context.id] = self.store.put_contexts([context])
            return context
        except Exception as exc:  # another process created it first
            if not is_already_exists(exc):
                raise
            return self.store.get_context_by_type_and_name(type_name, name)

    def end_run(self, run: RunHandle, status: str) -> None:
        """Record the run's final status ("completed", "failed", ...) and end time."""
        end_ms = now_ms()
        ended = self.convention.ended_run_context(run.run_context, status, end_ms)
        if run.root_execution is None:
            self.store.put_contexts([ended])
        else:
            # One transaction: the root execution ends and the context is updated.
            root = self.convention.ended_root_execution(run.root_execution, status, end_ms)
            self.store.put_execution(root, [], [ended], reuse_context_if_already_exist=True)
            run.root_execution = root
        run.run_context = ended

    # -- steps ---------------------------------------------------------------------
    def start_step(self, run: RunHandle, step: records.StepStart) -> StepHandle:
        """ONE put_execution: RUNNING, INPUT events, contexts."""
        execution = self._execution(run, step, records.RUNNING)
        execution.id = self._put(run, step.name, execution, self._input_events(step))
        return StepHandle(run, step, execution)

    def publish_step(
        self, handle: StepHandle, outputs: Mapping[str, Sequence[records.OutputArtifact]]
    ) -> dict[str, tuple[int, ...]]:
        """ONE put_execution: COMPLETE, LIVE outputs, OUTPUT events. Returns output ids."""
        c = self.convention
        run = handle.run
        pairs, names = [], []
        for output_name, artifacts in outputs.items():
            for index, output in enumerate(artifacts):
                type_id = self.store.type_id("artifact", c.artifact_type(output.kind))
                artifact = c.output_artifact(type_id, run.run_name, handle.step.name, output_name, index, output)
                pairs.append((artifact, c.event(pb.Event.OUTPUT, output_name, index)))
                names.append(output_name)
        execution = c.ended_execution(handle.execution, records.COMPLETE)
        c.describe_outputs(execution, outputs)
        artifact_ids = self._put(run, handle.step.name, execution, pairs, want_artifacts=True,
                                 cache_key=handle.step.cache_key)
        handle.execution = execution
        grouped: dict[str, list[int]] = {}
        for name, artifact_id in zip(names, artifact_ids):
            grouped.setdefault(name, []).append(artifact_id)
        return {name: tuple(ids) for name, ids in grouped.items()}

    def fail_step(self, handle: StepHandle, error_type: str, error_message: str,
                  error_traceback: str = "") -> None:
        """ONE put_execution: FAILED with the error; no outputs are published."""
        execution = self.convention.ended_execution(
            handle.execution, records.FAILED,
            error_type=error_type, error_message=error_message[:4000],
            # the innermost frames are the informative ones
            error_traceback=error_traceback[-8000:] or None,
        )
        self._put(handle.run, handle.step.name, execution, [])
        handle.execution = execution

    def cancel_step(self, run: RunHandle, step: records.StepStart, reason: str) -> int:
        """ONE put_execution: a step that will not run (an upstream step failed)."""
        execution = self.convention.ended_execution(
            self._execution(run, step, records.CANCELED), records.CANCELED, error_message=reason,
        )
        return self._put(run, step.name, execution, self._input_events(step))

    def record_cached_step(
        self, run: RunHandle, step: records.StepStart, original_execution_id: int,
        outputs: Mapping[str, Sequence[int]],
    ) -> int:
        """ONE put_execution: CACHED, INPUT events, OUTPUT events to the reused artifacts."""
        c = self.convention
        execution = c.ended_execution(
            self._execution(run, step, records.CACHED), records.CACHED,
            original_execution_id=original_execution_id,
        )
        events = self._input_events(step)
        for output_name, artifact_ids in outputs.items():
            for index, artifact_id in enumerate(artifact_ids):
                events.append((None, c.event(pb.Event.OUTPUT, output_name, index, artifact_id)))
        return self._put(run, step.name, execution, events, cache_key=step.cache_key)

    # -- pieces --------------------------------------------------------------------
    def _put(self, run: RunHandle, step_name: str, execution: pb.Execution, events: list,
             want_artifacts: bool = False, cache_key: str = ""):
        contexts = [run.pipeline_context, run.run_context]
        node = None
        if run.node_type_id:
            node = run.node_contexts.get(step_name)
            if node is None:
                node = self.convention.node_context(run.node_type_id, run.pipeline_name, step_name)
            contexts.append(node)
        if cache_key and run.cache_type_id:
            # completed and cached executions join their key's context, where
            # TFX's cache helpers look; created by the first, reused after
            contexts.append(self.convention.cache_context(run.cache_type_id, cache_key))
        execution_id, artifact_ids, context_ids = self.store.put_execution(
            execution, events, contexts,
            # Contexts passed with an id are only linked, never rewritten; a
            # new node context created by a concurrent run is reused.
            reuse_context_if_already_exist=True, force_reuse_context=True,
        )
        if node is not None and not node.id:
            node.id = context_ids[2]
            run.node_contexts[step_name] = node
        return artifact_ids if want_artifacts else execution_id

    def _execution(self, run: RunHandle, step: records.StepStart, state: str) -> pb.Execution:
        c = self.convention
        type_id = self.store.type_id("execution", c.execution_type(step.type_name))
        return c.run_step_execution(type_id, run, step, state)

    def _input_events(self, step: records.StepStart) -> list:
        # MLMD keeps one event per (artifact, execution, type), whatever its
        # path: an artifact passed to two inputs gets one event (the first);
        # the convention records the full mapping on the execution then.
        c = self.convention
        events, seen = [], set()
        for name, artifact_ids in step.inputs.items():
            for index, artifact_id in enumerate(artifact_ids):
                if artifact_id not in seen:
                    seen.add(artifact_id)
                    events.append((None, c.event(pb.Event.INPUT, name, index, artifact_id)))
        return events
