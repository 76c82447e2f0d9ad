"""The MLMD write sequences of a run, in as few transactions as MLMD allows.

* start a run: ONE `put_lineage_subgraph` that finds (or creates) the
  pipeline context and the node contexts of the steps the orchestrator
  names (none when an earlier run of this writer found them), the run
  context and its parent link (plus, in conventions that
  have one, ONE `put_execution` of the run-level root execution, e.g.
  Kubeflow Pipelines' root DAG);
* start a step: ONE `put_execution` (RUNNING execution, INPUT events by
  artifact id, pipeline/run/node contexts);
* publish a step: ONE `put_execution` (COMPLETE, LIVE outputs, OUTPUT events);
* publish a step and start the next one: ONE `put_lineage_subgraph` for both
  (see `publish_and_start`): a run of S steps costs S+1 step transactions;
* fail a step: ONE `put_execution` (FAILED with the error, no outputs);
* a cache hit: ONE `put_execution` (CACHED, OUTPUT events to the original
  artifacts, the original execution id);
* end a run: ONE write for the run context's status and end time, the
  last held-back publish and the root execution (where there are such);
  after combined writes, ONE `put_attributions_and_associations` before it
  for the node links they left out (`zen_mlmd.mlmd.links`).

The convention decides the type names, the protos and which contexts a step
is linked to; the call sequence is the same for every convention.
Handles (`zen_mlmd.mlmd.handles`) keep the protos; callers outside
`zen_mlmd.mlmd` never see them.
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.errors import AlreadyExistsError, ConfigError
from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import WritableConvention
from zen_mlmd.mlmd.handles import RunHandle, StepHandle
from zen_mlmd.mlmd.native import NativeConvention
from zen_mlmd.mlmd.context_ids import ContextIds
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.mlmd.step_inputs import input_items, names_pending, resolved
from zen_mlmd.mlmd.store_errors import is_already_exists


def now_ms() -> int:
    return int(time.time() * 1000)


class RunWriter:
    """Writes runs into one store in one convention (native by default).

    Raises:
        ConfigError: the convention can only be read, not written.
    """

    def __init__(self, store: MetadataStore, convention: WritableConvention | None = None):
        self.store = store
        self.convention = convention or NativeConvention()
        # Ids of the pipeline and node contexts that earlier runs found.
        self._contexts = ContextIds(store)
        # Type ids by artifact kind / step type: no type proto built per write.
        self._type_ids: dict[tuple[str, str], int] = {}
        # Node contexts by (type id, pipeline, step): built once, their ids kept in `_contexts`.
        self._nodes: dict[tuple[int, str, str], pb.Context] = {}
        if not isinstance(self.convention, WritableConvention):
            raise ConfigError(
                "convention", self.convention.name, "zen_mlmd can read but not record runs in it",
                "record in a convention that supports writing, such as 'native'",
            )

    # -- runs ----------------------------------------------------------------------
    def start_run(
        self, pipeline_name: str, run_name: str, config: Mapping[str, Any],
        owner: Mapping[str, Any], pipeline_properties: Mapping[str, Any] | None = None,
        step_names: Sequence[str] = (),
    ) -> RunHandle:
        """Create the run context under its pipeline context.

        Args:
            step_names: the steps the run will have, where the orchestrator
                knows them: their node contexts are found (or created) now,
                in the call that finds the pipeline context, so the run's end
                needs no call to find them. Contexts an earlier run of this
                writer found need no call at all.

        Raises:
            AlreadyExistsError: a run with this name exists already.
        """
        c = self.convention
        pipeline_type = self.store.type_id("context", c.context_type(c.pipeline_context_type))
        run_type = self.store.type_id("context", c.context_type(c.run_context_type))
        node_type = (self.store.type_id("context", c.context_type(c.node_context_type))
                     if c.node_context_type else 0)
        pipeline_context = c.pipeline_context(
            pipeline_type, c.pipeline_context_name(pipeline_name), pipeline_properties or {})
        nodes = {name: self._node(node_type, pipeline_name, name)
                 for name in dict.fromkeys(step_names)} if node_type else {}
        shared = [pipeline_context, *nodes.values()]
        self._contexts.resolve(shared)
        run_context = c.run_context(run_type, pipeline_name, run_name, config, owner)
        root = None
        try:
            if c.root_execution_type:
                # One transaction: the run context and its root execution (which
                # may be what makes the run name unique) exist together or not at all.
                root_type = self.store.type_id("execution", c.execution_type(c.root_execution_type))
                root = c.root_execution(root_type, pipeline_name, run_name, run_context.name, config, owner)
                root.id, _, [_, run_context.id] = self._contexts.again_if_gone(shared, lambda: self.store.put_execution(
                    root, [], [pipeline_context, run_context],
                    reuse_context_if_already_exist=True, force_reuse_context=True,
                ))
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
        self._contexts.again_if_gone(shared, lambda: self.store.put_parent_contexts([
            pb.ParentContext(child_id=run_context.id, parent_id=pipeline_context.id)
        ]))
        handle = RunHandle(pipeline_name, run_name, pipeline_context, run_context, node_type, c,
                           node_contexts=nodes)
        handle.root_execution = root
        return handle

    def end_run(
        self, run: RunHandle, status: str,
        publish: tuple[StepHandle, Mapping[str, Sequence[records.OutputArtifact]]] | None = None,
    ) -> dict[str, tuple[int, ...]] | None:
        """Record the run's final status ("completed", "failed", ...) and end time.

        ONE write: the run context, the root execution where the convention
        has one, and `publish` (a step's held-back publish: COMPLETE with its
        LIVE outputs). After combined writes, the node links they left out
        go first (`zen_mlmd.mlmd.links`). Returns the output ids of `publish`.
        """
        c = self.convention
        end_ms = now_ms()
        ended = c.ended_run_context(run.run_context, status, end_ms)
        if run.deferred:
            run.deferred.write(self.store, self._contexts)
        executions, artifacts, edges, refs = [], [], [], []
        if publish is not None:
            handle, outputs = publish
            done, artifacts, refs, edges = self._completed(handle, outputs)
            executions.append(done)
        root = None
        if run.root_execution is not None:
            root = c.ended_root_execution(run.root_execution, status, end_ms)
            executions.append(root)
        if executions:
            # The executions are linked to both contexts already: only the run context changes.
            _, artifact_ids, _ = self.store.put_lineage_subgraph(
                executions, artifacts, [_by_name(run.pipeline_context), ended], edges,
                reuse_context_if_already_exist=True)
        else:
            self.store.put_contexts([ended])
        run.run_context = ended
        if root is not None:
            run.root_execution = root
        if publish is None:
            return None
        handle.execution = done
        return _published(run, refs, artifact_ids)

    # -- steps ---------------------------------------------------------------------
    def start_step(self, run: RunHandle, step: records.StepStart) -> StepHandle:
        """ONE put_execution: RUNNING, INPUT events, contexts."""
        step = resolved(step, run.published)
        execution = self._execution(run, step, records.RUNNING)
        execution.id = self._put(run, step.name, execution, self._input_events(step))
        return StepHandle(run, step, execution)

    def publish_step(
        self, handle: StepHandle, outputs: Mapping[str, Sequence[records.OutputArtifact]]
    ) -> dict[str, tuple[int, ...]]:
        """ONE put_execution: COMPLETE, LIVE outputs, OUTPUT events. Returns output ids."""
        execution, artifacts, refs, edges = self._completed(handle, outputs)
        pairs = [(artifact, event) for artifact, (_, _, event) in zip(artifacts, edges)]
        artifact_ids = self._put(handle.run, handle.step.name, execution, pairs, want_artifacts=True)
        handle.execution = execution
        return _published(handle.run, refs, artifact_ids)

    def publish_and_start(
        self, handle: StepHandle, outputs: Mapping[str, Sequence[records.OutputArtifact]],
        next_step: records.StepStart,
    ) -> tuple[dict[str, tuple[int, ...]], StepHandle]:
        """ONE put_lineage_subgraph: `handle` COMPLETE with its LIVE outputs, `next_step` RUNNING.

        `next_step` may name outputs of `handle` by `OutputRef`. MLMD links
        every execution of such a write to every context passed, so only the
        contexts both steps share (pipeline, run) go in; each execution joins
        its node context when the run ends (`end_run`, see
        `zen_mlmd.mlmd.links`). Returns the output ids and the handle of the
        started step.
        """
        c, run = self.convention, handle.run
        done, artifacts, refs, edges = self._completed(handle, outputs)
        position = {ref: i for i, ref in enumerate(refs)}
        step = resolved(next_step, run.published, pending=position)
        if names_pending(step) and c.start_records_input_ids(step.inputs):
            # its execution keeps the input ids themselves: they must exist first, two writes
            return self.publish_step(handle, outputs), self.start_step(run, step)
        started = self._execution(run, step, records.RUNNING)
        for name, index, item in input_items(step):
            if isinstance(item, records.OutputRef):
                edges.append((1, position[item], c.event(pb.Event.INPUT, name, index)))
            else:
                edges.append((1, None, c.event(pb.Event.INPUT, name, index, item)))
        shared = [_by_name(run.pipeline_context), _by_name(run.run_context)]
        [done.id, started.id], artifact_ids, _ = self.store.put_lineage_subgraph(
            [done, started], artifacts, shared, edges, reuse_context_if_already_exist=True)
        handle.execution = done
        ids = _published(run, refs, artifact_ids)
        # it joins its node context at the run's end (`handle`'s step did when it started)
        run.deferred.add(started.id, self._step_contexts(run, step.name))
        return ids, StepHandle(run, step, started, started_with_others=True)

    def _completed(self, handle: StepHandle, outputs):
        """`handle`'s execution COMPLETE, its output artifacts, their refs and OUTPUT edges.

        The edges name the first execution of the write.
        """
        c = self.convention
        artifacts, refs = self._output_artifacts(handle, outputs)
        done = c.ended_execution(handle.execution, records.COMPLETE)
        c.describe_outputs(done, outputs)
        edges = [(0, i, c.event(pb.Event.OUTPUT, ref.output_name, ref.index))
                 for i, ref in enumerate(refs)]
        return done, artifacts, refs, edges

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

    def step_state(self, handle: StepHandle) -> str:
        """ONE read: the step's state as the store holds it ("RUNNING", "COMPLETE", ...)."""
        from zen_mlmd.mlmd.convention import EXECUTION_STATE_NAMES

        [execution] = self.store.get_executions_by_id([handle.execution_id])
        return EXECUTION_STATE_NAMES.get(execution.last_known_state, records.UNKNOWN)

    def heartbeat_step(self, handle: StepHandle) -> None:
        """ONE put_execution: the running step again, stamped now (MLMD moves its update time)."""
        from zen_mlmd.tracking.heartbeat import PROPERTY

        beat = pb.Execution()
        beat.CopyFrom(handle.execution)  # not kept: the publish writes the step as it started
        beat.custom_properties[PROPERTY].double_value = time.time()
        self.store.put_execution(beat, [], [])

    def cancel_step(self, run: RunHandle, step: records.StepStart, reason: str) -> int:
        """ONE put_execution: a step that will not run (an upstream step failed)."""
        step = resolved(step, run.published)
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
        step = resolved(step, run.published)
        execution = c.ended_execution(
            self._execution(run, step, records.CACHED), records.CACHED,
            original_execution_id=original_execution_id,
        )
        events = self._input_events(step)
        for output_name, artifact_ids in outputs.items():
            for index, artifact_id in enumerate(artifact_ids):
                events.append((None, c.event(pb.Event.OUTPUT, output_name, index, artifact_id)))
        return self._put(run, step.name, execution, events)

    # -- pieces --------------------------------------------------------------------
    def _put(self, run: RunHandle, step_name: str, execution: pb.Execution, events: list,
             want_artifacts: bool = False):
        contexts = [run.pipeline_context, run.run_context]
        node = None
        if run.node_type_id:
            node = self._node_context(run, step_name)
            contexts.append(node)
        # Contexts passed with an id are only linked, never rewritten; a new node
        # context created by a concurrent run is reused.
        execution_id, artifact_ids, context_ids = self._contexts.again_if_gone(
            [node] if node is not None and node.id else [], lambda: self.store.put_execution(
                execution, events, contexts, reuse_context_if_already_exist=True, force_reuse_context=True))
        if node is not None and not node.id:
            node.id = context_ids[2]
            self._contexts.remember([node])
        return artifact_ids if want_artifacts else execution_id

    def _node_context(self, run: RunHandle, step_name: str) -> pb.Context:
        node = run.node_contexts.get(step_name)
        if node is None:  # not named at the run's start: its id is filled in once written
            node = run.node_contexts[step_name] = self._node(run.node_type_id, run.pipeline_name, step_name)
        return node

    def _node(self, type_id: int, pipeline_name: str, step_name: str) -> pb.Context:
        """The node context of a step (its id once found), the same proto for every run."""
        key = (type_id, pipeline_name, step_name)
        node = self._nodes.get(key)
        if node is None:
            node = self._nodes[key] = self.convention.node_context(type_id, pipeline_name, step_name)
        return node

    def _step_contexts(self, run: RunHandle, step_name: str) -> list[pb.Context]:
        """The per-step contexts of a step: its node context, in conventions that have one."""
        return [self._node_context(run, step_name)] if run.node_type_id else []

    def _output_artifacts(self, handle: StepHandle, outputs) -> tuple[list[pb.Artifact], list[records.OutputRef]]:
        c, run = self.convention, handle.run
        artifacts, refs = [], []
        for output_name, items in outputs.items():
            for index, output in enumerate(items):
                type_id = self._type_id("artifact", output.kind)
                artifacts.append(c.output_artifact(type_id, run.run_name, handle.step.name, output_name,
                                                   index, output, handle.execution_id))
                refs.append(records.OutputRef(handle.execution_id, output_name, index))
        return artifacts, refs

    def _execution(self, run: RunHandle, step: records.StepStart, state: str) -> pb.Execution:
        return self.convention.run_step_execution(self._type_id("execution", step.type_name), run, step, state)

    def _type_id(self, kind: str, name: str) -> int:
        """The id of the artifact type of a kind, or of the execution type of a step type."""
        type_id = self._type_ids.get((kind, name))
        if type_id is None:
            c = self.convention
            type_proto = c.artifact_type(name) if kind == "artifact" else c.execution_type(name)
            type_id = self._type_ids[(kind, name)] = self.store.type_id(kind, type_proto)
        return type_id

    def _input_events(self, step: records.StepStart) -> list:
        # MLMD keeps one event per (artifact, execution, type), whatever its
        # path: an artifact passed to two inputs gets one event (the first);
        # the convention records the full mapping on the execution then.
        c = self.convention
        return [(None, c.event(pb.Event.INPUT, name, index, artifact_id))
                for name, index, artifact_id in input_items(step)]


def _by_name(context: pb.Context) -> pb.Context:
    """A context to link to by type and name, without id: MLMD then only looks it up
    (given an id, it would compare, and maybe rewrite, every property of the context)."""
    return pb.Context(type_id=context.type_id, name=context.name)


def _published(run: RunHandle, refs: Sequence[records.OutputRef], artifact_ids) -> dict[str, tuple[int, ...]]:
    grouped: dict[str, list[int]] = {}
    for ref, artifact_id in zip(refs, artifact_ids):
        run.published[ref] = artifact_id
        grouped.setdefault(ref.output_name, []).append(artifact_id)
    return {name: tuple(ids) for name, ids in grouped.items()}
