"""How pipelines, runs, steps and artifacts map onto MLMD: the convention.

A convention is one replaceable object. It knows the MLMD type names, the
context names and the properties a writer uses, builds the protos to write,
and decodes stored protos back into plain records. The native convention
lives in `native.py`; adapters ship the Kubeflow Pipelines and TFX ones and
register them under the entry-point group `zen_mlmd.conventions`. Readers
pick the convention of a run from its context type (`detect_convention`).

Only the `mlmd` package and conventions build MLMD protos.
"""
from __future__ import annotations

import abc
from typing import Any, ClassVar, Mapping, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.values import from_value, to_value, write_value

EXECUTION_STATE_NAMES = {value: name for name, value in pb.Execution.State.items()}
ARTIFACT_STATE_NAMES = {value: name for name, value in pb.Artifact.State.items()}
ARTIFACT_BASE_TYPE_NAMES = {
    value: name for name, value in pb.ArtifactType.SystemDefinedBaseType.items()
}


class Convention(abc.ABC):
    """The mapping of zen_mlmd concepts onto MLMD types, names and properties."""

    name: ClassVar[str]
    #: Who writes runs in this convention, as users know it ("TFX").
    writer_label: ClassVar[str] = ""
    pipeline_context_type: ClassVar[str]
    run_context_type: ClassVar[str]
    #: True for a `WritableConvention`: zen_mlmd can record runs in it.
    supports_writing: ClassVar[bool] = False

    # -- reading -----------------------------------------------------------
    #: Conventions sharing a context type (native and TFX both name theirs
    #: `pipeline_run`) are asked in descending priority whether they wrote a
    #: context; the first that `claims_context` it decodes it.
    claim_priority: ClassVar[int] = 0
    #: The reader hands each execution's contexts to `decode_step_with_contexts`
    #: (TFX names a step only through its `node` context).
    wants_step_contexts: ClassVar[bool] = False
    #: Other context types its runs' executions may be linked to (TFX's
    #: `execution_cache`; the native convention's before schema 3): its own
    #: when reading (never reported as unrecognised); zen_mlmd writes none.
    other_context_types: ClassVar[tuple[str, ...]] = ()
    #: Executions in none of a run's contexts that still belong to it, as
    #: (execution type, property holding the run context's name): TFX's
    #: orchestrator records each sync pipeline run as an `__ORCHESTRATOR__`
    #: execution whose `pipeline_run_id` names the run. Deleting the run
    #: deletes them once ended (COMPLETE, FAILED or CANCELED).
    run_record_executions: ClassVar[tuple[str, str] | None] = None

    def claims_context(self, context: pb.Context) -> bool:
        """Whether this convention wrote `context` (a pipeline or run context)."""
        return True

    @property
    def runs_are_pipelines(self) -> bool:
        """Whether a run is a pipeline context (TFX's async pipelines have no run contexts).

        Such a convention lists a pipeline's runs only when no run context
        has that pipeline as parent (`StoreReader.iter_run_pages`).
        """
        return self.run_context_type == self.pipeline_context_type

    def runs_filter(self, pipeline_name: str | None) -> str:
        """The MLMD filter query for this convention's runs (of one pipeline).

        Without `pipeline_name`, a condition on the context alone (no
        `parent_contexts_a` or `child_contexts_a`): the reader joins the
        filters of all conventions with OR into one listing, and an OR across
        MLMD's joins (inner joins) matches nothing.
        """
        query = f"type = {quote(self.run_context_type)}"
        if pipeline_name is not None:
            query += (f" AND parent_contexts_a.type = {quote(self.pipeline_context_type)}"
                      f" AND parent_contexts_a.name = {quote(pipeline_name)}")
        return query

    def decode_step_with_contexts(
        self, execution: pb.Execution, type_name: str, events: Sequence[pb.Event],
        contexts: Sequence[pb.Context],
    ) -> records.StepRecord:
        """Like `decode_step`, given the execution's contexts (see `wants_step_contexts`)."""
        return self.decode_step(execution, type_name, events)

    def screen_runs(self, store: Any, runs: Sequence[records.RunRecord],
                    pipeline_name: str | None) -> list[records.RunRecord]:
        """The runs among `runs` (decoded contexts this convention claimed) that are runs.

        A writer may record contexts of its run type that are not runs of
        their own (TFX's sub-pipeline run contexts), or give a run several
        parent pipelines. A convention drops those here and fills in the
        pipeline names it knows better; `pipeline_name` (when listing one
        pipeline's runs) drops runs of other pipelines. Called once per page
        of listed runs: it may cost a few MLMD calls (`store` is the open
        `MetadataStore`), never one per run.
        """
        return list(runs)

    def name_steps(self, store: Any, steps: Sequence[records.StepRecord], *,
                   structure: Sequence[pb.Execution] | None) -> tuple[records.StepRecord, ...]:
        """Decoded steps named by their place in their run.

        With `structure`, `steps` are all the steps of one run and
        `structure` its executions that are not steps (Kubeflow Pipelines'
        DAGs of sub-pipelines, loops and iterations); no MLMD call is made.
        A step is named by its path from the root, an iteration as
        `name[i]` (`for-loop-2[1]/train`), a TFX async node's executions by
        their order (`node[k]`); executions recording a step twice may be dropped.
        With `structure` None, `steps` are some of their runs' steps (an
        artifact's producer, a lineage graph's): what a name needs is read on
        `store` (the open `MetadataStore`) in a bounded number of calls.
        """
        return tuple(steps)

    def artifact_with_producer(self, artifact: records.ArtifactRecord, producer: records.StepRecord,
                               output_name: str) -> records.ArtifactRecord:
        """`artifact` completed with what its producing step recorded about it.

        Kubeflow Pipelines' artifacts carry only KFP's own properties; where
        zen_mlmd recorded such a run, what it knows about each output
        (materializer, data type, content hash) is on the execution.
        """
        return artifact

    def find_run_context(self, store: Any, name: str) -> pb.Context | None:
        """The run context of the run called `name` where its context has another name (one or two calls).

        Kubeflow Pipelines names a run context by the run ID; zen_mlmd's
        run name is then kept elsewhere. None by default.
        """
        return None

    def pipeline_context_name(self, pipeline_name: str) -> str:
        """The name of the pipeline context of the pipeline called `pipeline_name`."""
        return pipeline_name

    def context_types(self) -> frozenset[str]:
        """Every context type this convention writes or reads."""
        names = {self.pipeline_context_type, self.run_context_type}
        for attribute in ("node_context_type", "component_run_context_type"):
            names.add(getattr(self, attribute, None))
        names.update(self.other_context_types)
        return frozenset(n for n in names if n)

    def is_step_type(self, execution_type_name: str) -> bool:
        """Whether executions of this type are pipeline steps (not DAG rows)."""
        return True

    def is_step(self, execution: pb.Execution, execution_type_name: str) -> bool:
        """Whether this execution is a pipeline step (not a DAG row, nor the writer's own bookkeeping)."""
        return self.is_step_type(execution_type_name)

    @abc.abstractmethod
    def decode_pipeline(self, context: pb.Context) -> records.PipelineRecord:
        """A pipeline context as a record."""

    @abc.abstractmethod
    def decode_run(self, context: pb.Context, pipeline_name: str) -> records.RunRecord:
        """A run context as a record; `pipeline_name` comes from its parent."""

    @abc.abstractmethod
    def decode_step(
        self, execution: pb.Execution, type_name: str, events: Sequence[pb.Event]
    ) -> records.StepRecord:
        """An execution with its events as a step record."""

    def decode_artifact(self, artifact: pb.Artifact, artifact_type: pb.ArtifactType | None) -> records.ArtifactRecord:
        """An artifact as a record; properties decoded to Python values."""
        props = properties_of(artifact)
        base = None
        if artifact_type is not None and artifact_type.HasField("base_type"):
            base = ARTIFACT_BASE_TYPE_NAMES.get(artifact_type.base_type)
        return records.ArtifactRecord(
            id=artifact.id,
            name=artifact.name,
            uri=artifact.uri,
            type_name=artifact_type.name if artifact_type is not None else artifact.type,
            base_type=base if base != "UNSET" else None,
            state=ARTIFACT_STATE_NAMES.get(artifact.state, "UNKNOWN"),
            created_ms=artifact.create_time_since_epoch,
            materializer=str(props.pop("materializer", "") or ""),
            data_type=str(props.pop("data_type", "") or ""),
            content_hash=str(props.pop("content_hash", "") or ""),
            properties=props,
        )

    def event_key(self, event: pb.Event) -> tuple[str, int]:
        """(name, index) of an event's path: its first pair (see `event_keys`)."""
        return self.event_keys(event)[0]

    def event_keys(self, event: pb.Event) -> list[tuple[str, int]]:
        """Every (name, index) pair of an event's path.

        Paths are `[key, index]` pairs, or one key (Kubeflow Pipelines). TFX
        gives an artifact that feeds several inputs of one execution ONE event
        listing every pair (`[left, 0, right, 0]`, tfx `event_lib.add_event_path`);
        a key without an index stands for index 0.
        """
        pairs: list[tuple[str, int]] = []
        key: str | None = None
        for step in event.path.steps:
            if step.HasField("key"):
                if key is not None:
                    pairs.append((key, 0))
                key = step.key
            elif step.HasField("index"):
                pairs.append((key or "", step.index))
                key = None
        if key is not None:
            pairs.append((key, 0))
        return pairs or [("", 0)]


class WritableConvention(Convention):
    """A convention zen_mlmd can record runs in: it builds the protos `RunWriter` writes."""

    supports_writing: ClassVar[bool] = True
    #: Context type each step execution is also linked to (TFX's `node`);
    #: None when steps are linked to the pipeline and run contexts only.
    node_context_type: ClassVar[str | None] = None
    #: Execution type of an execution written once per run when it starts
    #: (Kubeflow Pipelines' root `system.DAGExecution`); None for no such row.
    root_execution_type: ClassVar[str | None] = None

    def context_type(self, type_name: str) -> pb.ContextType:
        """The context type to register for `type_name`."""
        return pb.ContextType(name=type_name)

    def execution_type(self, type_name: str) -> pb.ExecutionType:
        """The execution type to register for `type_name`."""
        return pb.ExecutionType(name=type_name)

    @abc.abstractmethod
    def artifact_type(self, kind: str) -> pb.ArtifactType:
        """The artifact type of an artifact kind ("dataset", "model", ...)."""

    @abc.abstractmethod
    def pipeline_context(self, type_id: int, name: str, properties: Mapping[str, Any]) -> pb.Context:
        """A pipeline's context, written by its first run."""

    @abc.abstractmethod
    def run_context(self, type_id: int, pipeline_name: str, run_name: str,
                    config: Mapping[str, Any], owner: Mapping[str, Any]) -> pb.Context:
        """A run's context, with its config snapshot and owner."""

    @abc.abstractmethod
    def ended_run_context(self, context: pb.Context, status: str, end_ms: int) -> pb.Context:
        """The run context once the run ended with `status` ("completed", "failed")."""

    @abc.abstractmethod
    def run_step_execution(self, type_id: int, run: Any, step: records.StepStart, state: str) -> pb.Execution:
        """The execution of a step of `run` (a `zen_mlmd.mlmd.handles.RunHandle`) in `state`."""

    @abc.abstractmethod
    def ended_execution(self, execution: pb.Execution, state: str, **properties: Any) -> pb.Execution:
        """A step execution moved to a final `state`, with extra properties (errors, ...)."""

    @abc.abstractmethod
    def output_artifact(self, type_id: int, run_name: str, step_name: str, output_name: str,
                        index: int, output: records.OutputArtifact, producer_execution_id: int) -> pb.Artifact:
        """A published (LIVE) output artifact of the execution `producer_execution_id`."""

    @abc.abstractmethod
    def event(self, event_type: int, key: str, index: int, artifact_id: int | None = None) -> pb.Event:
        """An INPUT/OUTPUT event for input or output `key`, list position `index`."""

    def start_records_input_ids(self, inputs: Mapping[str, Sequence[Any]]) -> bool:
        """Whether the start execution of a step with `inputs` keeps their artifact ids itself.

        A step start that does cannot be written in one transaction with the
        publish of the outputs it reads (their ids do not exist yet). By
        default the ids are kept when one artifact feeds several inputs (MLMD
        keeps one INPUT event per artifact and execution).
        """
        ids = [i for values in inputs.values() for i in values]
        return len(ids) != len(set(ids))

    def describe_outputs(self, execution: pb.Execution,
                         outputs: Mapping[str, Sequence[records.OutputArtifact]]) -> None:
        """Record facts about a step's published `outputs` on its ended `execution` (in place).

        Called once per publish, before the one `put_execution`. Conventions
        whose artifacts must carry only their own tool's properties keep
        zen_mlmd's facts here; by default they are on the artifacts.
        """

    def output_metadata(self, kind: str, value: Any) -> dict[str, Any]:
        """Properties an output of `kind` holding `value` gets as its metadata (none by default).

        Kubeflow Pipelines records a metrics output's numbers on the artifact.
        """
        return {}

    def find_cached_executions(self, store: Any, cache_key: str) -> list:
        """Completed executions' outputs for `cache_key`, newest first (`cache_query.CachedOutputs`).

        One MLMD call: a filter on the `cache_key` zen_mlmd puts on artifacts.
        """
        from zen_mlmd.mlmd.cache_query import find_cached_executions

        return find_cached_executions(store, cache_key)

    def node_context(self, type_id: int, pipeline_name: str, step_name: str) -> pb.Context:
        """The context of a step across runs; called only when `node_context_type` is set."""
        raise NotImplementedError(f"{type(self).__name__} sets node_context_type: define node_context")

    def root_execution(self, type_id: int, pipeline_name: str, run_name: str, run_id: str,
                       config: Mapping[str, Any], owner: Mapping[str, Any]) -> pb.Execution:
        """The run-level execution; called only when `root_execution_type` is set.

        `run_id` is the name of the run's context (the run name, or the
        run's id where the convention names run contexts by id). It is
        written in one transaction with the run context.
        """
        raise NotImplementedError(f"{type(self).__name__} sets root_execution_type: define root_execution")

    def ended_root_execution(self, execution: pb.Execution, status: str, end_ms: int) -> pb.Execution:
        """The run-level execution once the run ended; only with `root_execution_type`."""
        raise NotImplementedError(f"{type(self).__name__} sets root_execution_type: define it")


def quote(text: str) -> str:
    """A string literal for an MLMD filter query."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def properties_of(node) -> dict[str, Any]:
    """Typed and custom properties of an MLMD node as one Python dict."""
    out = {name: from_value(value) for name, value in node.custom_properties.items()}
    out.update({name: from_value(value) for name, value in node.properties.items()})
    return out


def set_properties(target, values: Mapping[str, Any], *, prefix: str = "", keep_none: bool = False) -> None:
    """Write Python values into a custom_properties map; None is skipped unless `keep_none`."""
    for key, value in values.items():
        if value is None and not keep_none:
            continue
        key = prefix + key
        if key in target:  # replaced as a whole, whatever it held
            target[key].CopyFrom(to_value(value, name=key))
            continue
        try:
            write_value(target[key], value, name=key)
        except BaseException:
            del target[key]  # the map as it was: no half-written entry
            raise


def group_events(events: Sequence[pb.Event], convention: Convention, kinds: set[int]) -> dict[str, tuple[int, ...]]:
    """Artifact ids by event key, ordered by the event path index."""
    grouped: dict[str, list[tuple[int, int]]] = {}
    for event in events:
        if event.type in kinds:
            for key, index in convention.event_keys(event):
                grouped.setdefault(key, []).append((index, event.artifact_id))
    # by name: MLMD returns events in no particular order
    return {key: tuple(aid for _, aid in sorted(grouped[key])) for key in sorted(grouped)}


INPUT_EVENTS = {pb.Event.INPUT, pb.Event.DECLARED_INPUT, pb.Event.INTERNAL_INPUT}
OUTPUT_EVENTS = {pb.Event.OUTPUT, pb.Event.DECLARED_OUTPUT, pb.Event.INTERNAL_OUTPUT, pb.Event.PENDING_OUTPUT}
