"""Reading what TFX wrote to MLMD: the portable-launcher and the legacy conventions.

TFX cannot be imported next to ml-metadata 1.17 (it needs protobuf 6), so
both conventions follow the MLMD shape TFX writes, never TFX's classes.

Portable launcher (``tfx``, TFX 1.x):

* contexts ``pipeline`` (pipeline name), ``pipeline_run`` (run id, child of
  its pipeline), ``node`` (``<pipeline>.<node id>``) and ``execution_cache``
  (the sha256 cache key), all without properties;
* execution type = the component's class path; ``last_known_state`` RUNNING,
  then COMPLETE / FAILED / CACHED; execution name a uuid; execution
  properties in custom properties (names starting ``__`` are TFX's own); a
  failed executor's result in ``__execution_result__`` (JSON of TFX's
  ``ExecutionResult``: ``code``, ``resultMessage``), read as the step's error;
* outputs appear LIVE with OUTPUT events at publish (``Artifact.state``; the
  custom ``state`` property only holds states MLMD has no value for); TFX's
  async orchestrator may first register them PENDING with PENDING_OUTPUT
  events; a cached execution gets OUTPUT events to the artifacts it reused;
* one event per artifact and execution: an artifact feeding several input
  keys has ONE event listing every ``[key, index]`` pair;
* artifact properties ``span``, ``version``, ``split_names`` (a JSON list in
  a string), custom ``tfx_version``, ``is_external``;
* sub-pipelines (see `zen_mlmd_tfx.subpipelines`) and async pipelines (see
  `zen_mlmd_tfx.async_runs`).

Legacy driver (``tfx_legacy``, TFX before the portable launcher):

* contexts ``pipeline`` (typed property ``pipeline_name``), ``run``
  (``<pipeline>.<run id>``, properties ``pipeline_name``, ``run_id``, no
  parent link) and ``component_run`` (``<pipeline>.<run id>.<component id>``);
* state in the typed execution property ``state`` (``new``, ``complete``,
  ``cached``), mirrored in ``last_known_state`` by later versions; typed
  properties ``pipeline_name``, ``pipeline_root``, ``run_id``,
  ``component_id``, ``checksum_md5`` and the execution properties as strings;
* artifact state in a ``state`` property (``published``).

zen_mlmd's native convention uses the same ``pipeline``/``pipeline_run``/
``node`` context types as the portable launcher, so a context type alone does
not say who wrote a run: each convention `claims_context` what it wrote, and
readers ask the conventions sharing a type in `claim_priority` order.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd_tfx import subpipelines
from zen_mlmd.mlmd.convention import (  # noqa: I001
    quote,
    EXECUTION_STATE_NAMES,
    INPUT_EVENTS,
    OUTPUT_EVENTS,
    Convention,
    group_events,
    properties_of,
)

PIPELINE_CONTEXT = "pipeline"
RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"
CACHE_CONTEXT = "execution_cache"
#: The context and execution type of TFX's orchestrator: one context per
#: pipeline id, one execution per sync run with the custom property
#: ``pipeline_run_id`` (tfx <= 1.15 ``orchestration/experimental/core/pipeline_state.py``,
#: ``_ORCHESTRATOR_RESERVED_ID`` and ``PipelineState.new``).
ORCHESTRATOR = "__ORCHESTRATOR__"
LEGACY_RUN_CONTEXT = "run"
#: Executions of TFX's orchestrator that are not components: a sub-pipeline
#: seen as a node of its parent, and its begin and end nodes
#: (tfx ``orchestration/experimental/core/constants.py``).
SUBPIPELINE_NODE_TYPES = frozenset({
    "tfx.orchestration.pipeline.Pipeline",
    "tfx.orchestration.pipeline.Pipeline_begin",
    "tfx.orchestration.pipeline.Pipeline_end",
})
#: `ExecutionResult.code` values: google.rpc codes, as tfx ``utils/status.Code``.
RESULT_CODES = ("OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                "UNAUTHENTICATED")
LEGACY_COMPONENT_RUN_CONTEXT = "component_run"

#: Custom properties zen_mlmd's native writer puts on its pipeline and run
#: contexts and TFX never writes: their presence means "not written by TFX".
NATIVE_MARKERS = frozenset({"schema_version", "owner"})

#: Legacy `state` values (execution and artifact properties) -> MLMD state names.
LEGACY_EXECUTION_STATES = {
    "new": records.RUNNING,
    "running": records.RUNNING,
    "complete": records.COMPLETE,
    "published": records.COMPLETE,
    "cached": records.CACHED,
    "failed": records.FAILED,
}
LEGACY_ARTIFACT_STATES = {
    "pending": "PENDING",
    "published": "LIVE",
    "missing": "DELETED",
    "deleted": "DELETED",
    "marked_for_deletion": "MARKED_FOR_DELETION",
}
_LEGACY_EXECUTION_FIELDS = frozenset(
    {"state", "pipeline_name", "pipeline_root", "run_id", "component_id", "checksum_md5"})
_TERMINAL = frozenset({records.COMPLETE, records.FAILED, records.CACHED, records.CANCELED})


def _unique_events(events: Sequence[pb.Event], convention: Convention, kinds: set[int]) -> dict[str, tuple[int, ...]]:
    """Artifact ids by event key, each artifact once.

    TFX gives an output a PENDING_OUTPUT event at start and an OUTPUT event at
    publish: both name the same artifact, which must be listed once.
    """
    grouped = group_events(events, convention, kinds)
    return {key: tuple(dict.fromkeys(ids)) for key, ids in grouped.items()}


class _TfxConvention(Convention):
    """What both TFX conventions share: read-only, TFX artifact properties."""

    writer_label = "TFX"
    pipeline_context_type = PIPELINE_CONTEXT
    supports_writing = False
    #: TFX names steps only by their node context.
    wants_step_contexts: ClassVar[bool] = True

    def claims_context(self, context: pb.Context) -> bool:
        """Whether this convention wrote `context` (a pipeline or run context)."""
        return not NATIVE_MARKERS.intersection(context.custom_properties)

    def decode_pipeline(self, context: pb.Context) -> records.PipelineRecord:
        return records.PipelineRecord(
            id=context.id, name=context.name, created_ms=context.create_time_since_epoch,
            properties=properties_of(context), convention=self.name,
        )

    def decode_step(self, execution: pb.Execution, type_name: str, events: Sequence[pb.Event]) -> records.StepRecord:
        return self.decode_step_with_contexts(execution, type_name, events, ())

    def decode_step_with_contexts(
        self, execution: pb.Execution, type_name: str, events: Sequence[pb.Event],
        contexts: Sequence[pb.Context],
    ) -> records.StepRecord:
        """An execution as a step record, named with the help of its contexts."""
        return self.decode_step(execution, type_name, events)

    def decode_artifact(self, artifact: pb.Artifact, artifact_type: pb.ArtifactType | None) -> records.ArtifactRecord:
        """A TFX artifact: `split_names` as a list; legacy `state` as the MLMD state."""
        record = super().decode_artifact(artifact, artifact_type)
        props = dict(record.properties)
        split_names = props.get("split_names")
        if isinstance(split_names, str):
            try:
                decoded = json.loads(split_names)
            except ValueError:
                decoded = None
            if isinstance(decoded, list):
                props["split_names"] = decoded
        state = record.state
        if artifact.state == pb.Artifact.UNKNOWN:
            # TFX before the portable launcher kept the state only in a property.
            state = LEGACY_ARTIFACT_STATES.get(str(props.get("state", "")).lower(), state)
        return dataclasses.replace(record, properties=props, state=state,
                                   name=record.name or str(props.get("name", "") or ""))

    def _step(self, execution: pb.Execution, type_name: str, events: Sequence[pb.Event], *,
              name: str, state: str, parameters: dict[str, Any], props: dict[str, Any],
              cache_key: str = "", code_fingerprint: str = "",
              error: tuple[str, str] = ("", "")) -> records.StepRecord:
        return records.StepRecord(
            id=execution.id,
            name=name,
            type_name=type_name,
            state=state,
            created_ms=execution.create_time_since_epoch,
            updated_ms=execution.last_update_time_since_epoch,
            parameters=parameters,
            inputs=_unique_events(events, self, INPUT_EVENTS),
            outputs=_unique_events(events, self, OUTPUT_EVENTS),
            code_fingerprint=code_fingerprint,
            cache_key=cache_key,
            start_ms=execution.create_time_since_epoch,
            end_ms=execution.last_update_time_since_epoch if state in _TERMINAL else None,
            properties=props,
            error_type=error[0],
            error_message=error[1],
        )


class TfxConvention(_TfxConvention):
    """Runs recorded by TFX's portable launcher (TFX 1.x local, Beam, Airflow, Vertex)."""

    name = "tfx"
    run_context_type = RUN_CONTEXT
    node_context_type = NODE_CONTEXT
    other_context_types = (CACHE_CONTEXT,)
    run_record_executions = (ORCHESTRATOR, "pipeline_run_id")
    claim_priority = 10

    def decode_run(self, context: pb.Context, pipeline_name: str) -> records.RunRecord:
        """A ``pipeline_run`` context; its name is the TFX run id.

        The context carries no pipeline name: `pipeline_name` comes from its
        parent ``pipeline`` context (readers resolve it in batches).
        """
        return records.RunRecord(
            id=context.id, name=context.name, pipeline_name=pipeline_name,
            created_ms=context.create_time_since_epoch,
            updated_ms=context.last_update_time_since_epoch,
            properties=properties_of(context), convention=self.name,
        )

    def decode_step_with_contexts(
        self, execution: pb.Execution, type_name: str, events: Sequence[pb.Event],
        contexts: Sequence[pb.Context],
    ) -> records.StepRecord:
        props = properties_of(execution)
        # TFX's own bookkeeping (`__stateful_working_dir_index__`, schemas of
        # proto-valued parameters) is not a parameter of the component.
        parameters = {k: v for k, v in props.items() if not k.startswith("__") and k != "component_id"}
        kept = {k: v for k, v in props.items() if k not in parameters}
        by_type = {}
        for context in contexts:
            by_type.setdefault(context.type, context)
        state = EXECUTION_STATE_NAMES.get(execution.last_known_state, records.UNKNOWN)
        return self._step(
            execution, type_name, events,
            name=subpipelines.step_path(contexts) or self.step_name(execution, props, by_type),
            state=state,
            parameters=parameters,
            props=kept,
            cache_key=by_type[CACHE_CONTEXT].name if CACHE_CONTEXT in by_type else "",
            error=execution_error(props) if state in (records.FAILED, records.CANCELED) else ("", ""),
        )

    def is_step_type(self, execution_type_name: str) -> bool:
        """Components are steps; a sub-pipeline's own executions (as a node, begin, end) are not."""
        return execution_type_name not in SUBPIPELINE_NODE_TYPES

    def screen_runs(self, store: Any, runs: Sequence[records.RunRecord],
                    pipeline_name: str | None) -> list[records.RunRecord]:
        """Sub-pipeline run contexts dropped, each run given to its root pipeline."""
        return subpipelines.screen_runs(store, runs, pipeline_name)

    @staticmethod
    def step_name(execution: pb.Execution, props: dict[str, Any], contexts_by_type: dict[str, pb.Context]) -> str:
        """The node id: a `component_id` property, else the node context, else the execution name.

        The node context is ``<pipeline>.<node id>``; node ids may contain dots
        (``Trainer.my_trainer`` in older TFX), so the pipeline name is cut off
        as a prefix when the pipeline context is known.
        """
        if props.get("component_id"):
            return str(props["component_id"])
        node = contexts_by_type.get(NODE_CONTEXT)
        if node is None:
            return execution.name or str(execution.id)
        pipeline = contexts_by_type.get(PIPELINE_CONTEXT)
        if pipeline is not None and node.name.startswith(pipeline.name + "."):
            return node.name[len(pipeline.name) + 1:]
        return node.name.split(".", 1)[-1]


def execution_error(props: dict[str, Any]) -> tuple[str, str]:
    """(error type, message) of a failed TFX execution, "" when TFX recorded none.

    The portable launcher stores a failed executor's `ExecutionResult` as JSON
    in ``__execution_result__`` (tfx ``portable/mlmd/execution_lib.set_execution_result``);
    TFX's orchestrator also writes ``__execution_error_code__`` and
    ``__execution_error_msg__`` (``experimental/core/post_execution_utils``).
    An executor that raises leaves neither: the error is then only in TFX's logs.
    """
    code: Any = props.get("__execution_error_code__")
    message = str(props.get("__execution_error_msg__", "") or "")
    raw = props.get("__execution_result__")
    if isinstance(raw, str) and raw:
        try:
            result = json.loads(raw)
        except ValueError:
            result = None
        if isinstance(result, dict):
            code = result.get("code", code)
            message = str(result.get("resultMessage") or message)
    if isinstance(code, int) and 0 <= code < len(RESULT_CODES):
        code = RESULT_CODES[code]
    return (str(code) if code not in (None, "") else "", message)


class TfxLegacyConvention(_TfxConvention):
    """Runs recorded by TFX's legacy drivers (`run` and `component_run` contexts)."""

    name = "tfx_legacy"
    run_context_type = LEGACY_RUN_CONTEXT
    component_run_context_type = LEGACY_COMPONENT_RUN_CONTEXT
    claim_priority = 20

    def claims_context(self, context: pb.Context) -> bool:
        """Every ``run`` context; a ``pipeline`` context with the typed `pipeline_name` property."""
        if context.type == self.run_context_type:
            return True
        return "pipeline_name" in context.properties

    def runs_filter(self, pipeline_name: str | None) -> str:
        """Legacy run contexts have no parent link: filter on their `pipeline_name`."""
        query = f"type = {quote(self.run_context_type)}"
        if pipeline_name is not None:
            query += f" AND properties.pipeline_name.string_value = {quote(pipeline_name)}"
        return query

    def decode_run(self, context: pb.Context, pipeline_name: str) -> records.RunRecord:
        """A ``run`` context; its name is ``<pipeline>.<run id>``, the run id is a property."""
        props = properties_of(context)
        return records.RunRecord(
            id=context.id, name=context.name,
            pipeline_name=pipeline_name or str(props.get("pipeline_name", "")),
            created_ms=context.create_time_since_epoch,
            updated_ms=context.last_update_time_since_epoch,
            properties=props, convention=self.name,
        )

    def decode_step_with_contexts(
        self, execution: pb.Execution, type_name: str, events: Sequence[pb.Event],
        contexts: Sequence[pb.Context],
    ) -> records.StepRecord:
        props = properties_of(execution)
        fields = {k: props.pop(k) for k in list(props) if k in _LEGACY_EXECUTION_FIELDS}
        name = str(fields.get("component_id") or "")
        if not name:
            for context in contexts:
                if context.type == self.component_run_context_type:
                    name = context.name.rsplit(".", 1)[-1]
        return self._step(
            execution, type_name, events,
            name=name or execution.name or str(execution.id),
            state=self.step_state(execution, str(fields.get("state", ""))),
            parameters=props,
            props=fields,
            code_fingerprint=str(fields.get("checksum_md5", "") or ""),
        )

    @staticmethod
    def step_state(execution: pb.Execution, legacy_state: str) -> str:
        """The `state` property decides; `last_known_state` for values it does not know.

        Early legacy versions never set `last_known_state`, later ones mirror
        the property into it; an unknown property value never reads "failed".
        """
        mapped = LEGACY_EXECUTION_STATES.get(legacy_state.lower())
        if mapped is not None:
            return mapped
        return EXECUTION_STATE_NAMES.get(execution.last_known_state, records.UNKNOWN)
