"""The Kubeflow Pipelines v2 convention: read what KFP's launcher writes, and write it.

KFP v2 records a run in MLMD as:

* contexts `system.Pipeline` (name = pipeline name) and `system.PipelineRun`
  (name = run id; custom properties `namespace`, `resource_name`,
  `pipeline_root`), the run a child of the pipeline;
* a root `system.DAGExecution` named `run/<run id>`, and one
  `system.ContainerExecution` per task, with custom properties
  `display_name`, `task_name`, `parent_dag_id` (the root DAG's id),
  `cache_fingerprint`, `cached_execution_id` (cached tasks), `inputs` /
  `outputs` (structs of parameter values), `pod_name`, `image`; states in
  `last_known_state` (RUNNING, then COMPLETE / FAILED / CACHED);
* artifacts typed by KFP schema title (`system.Dataset`, ...) with
  `display_name` and the artifact's metadata (metric values for
  `system.Metrics`) as custom properties;
* events whose path is ONE step: the input or output name.

zen_mlmd writes exactly that shape, plus custom properties of its own where
KFP has no equivalent (materializer, data type, content hash and the cache
bookkeeping on artifacts; the step's function path, code fingerprint and run
name on executions; status, config and owner on the run context). It adds no
typed property to KFP's types: KFP's launcher registers them without
properties and must keep being able to.
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

from google.protobuf import struct_pb2
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import (
    EXECUTION_STATE_NAMES,
    INPUT_EVENTS,
    OUTPUT_EVENTS,
    WritableConvention,
    group_events,
    properties_of,
    set_properties,
)
from zen_mlmd.mlmd.values import to_value

PIPELINE_CONTEXT = "system.Pipeline"
RUN_CONTEXT = "system.PipelineRun"
CONTAINER_EXECUTION = "system.ContainerExecution"
DAG_EXECUTION = "system.DAGExecution"
IMPORTER_EXECUTION = "system.ImporterExecution"
ROOT_DAG_PREFIX = "run/"

#: Artifact custom properties that are zen_mlmd bookkeeping, not artifact metadata.
BOOKKEEPING = frozenset({
    "display_name", "materializer", "data_type", "content_hash", "size_bytes", "kind",
    "producer_execution_id", "output_index", "cache_key",
})
#: Run statuses that end the root DAG execution COMPLETE (any other: FAILED).
_SUCCEEDED_RUN_STATUSES = frozenset({"completed", "cached"})


def set_plain_properties(target, values: Mapping[str, Any]) -> None:
    """Write values the way KFP does: plain int/double/string/struct, skipping None.

    KFP's UI and launcher read `double_value` metrics and `int_value` ids.
    Ints beyond 32 bits (MLMD's int column on MySQL and PostgreSQL) and
    NaN/infinity (not valid SQL) get zen_mlmd's exact encoding instead.
    """
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            target[key].bool_value = value
        elif isinstance(value, int) and -(2**31) <= value < 2**31:
            target[key].int_value = value  # MLMD's int column is 32-bit on MySQL/PostgreSQL
        elif isinstance(value, float) and math.isfinite(value):
            # as KFP writes metrics: MLMD keeps six decimals of a double in SQL,
            # for KFP's own runs too; the exact value is in the artifact itself
            target[key].double_value = value
        elif isinstance(value, str):
            target[key].string_value = value
        elif isinstance(value, Mapping):
            target[key].CopyFrom(struct_value(value))
        else:
            target[key].CopyFrom(to_value(value, name=key))


def struct_value(values: Mapping[str, Any]) -> pb.Value:
    """A plain protobuf Struct, as KFP writes `inputs` / `outputs` (JSON numbers)."""
    struct = struct_pb2.Struct()
    struct.update(json.loads(json.dumps(dict(values), default=repr)))
    value = pb.Value()
    value.struct_value.CopyFrom(struct)
    return value


class KfpConvention(WritableConvention):
    """Kubeflow Pipelines v2 (see the module docstring)."""

    name = "kfp"
    pipeline_context_type = PIPELINE_CONTEXT
    run_context_type = RUN_CONTEXT
    root_execution_type = DAG_EXECUTION

    # -- types -------------------------------------------------------------------
    def execution_type(self, type_name: str) -> pb.ExecutionType:
        # Every task is a container execution, whatever its step function.
        return pb.ExecutionType(name=DAG_EXECUTION if type_name == DAG_EXECUTION else CONTAINER_EXECUTION)

    def artifact_type(self, kind: str) -> pb.ArtifactType:
        from zen_mlmd_kfp.artifact_types import schema_title_for_kind

        return pb.ArtifactType(name=schema_title_for_kind(kind))

    # -- writing: the run ------------------------------------------------------------
    def pipeline_context(self, type_id: int, name: str, properties: Mapping[str, Any]) -> pb.Context:
        context = pb.Context(type_id=type_id, name=name)
        set_properties(context.custom_properties, properties)
        return context

    def run_context(self, type_id: int, pipeline_name: str, run_name: str,
                    config: Mapping[str, Any], owner: Mapping[str, Any]) -> pb.Context:
        kfp = dict(config.get("kfp") or {})
        context = pb.Context(type_id=type_id, name=run_name)
        set_plain_properties(context.custom_properties, {
            "namespace": str(kfp.get("namespace", "")),
            "resource_name": str(kfp.get("resource_name") or run_name),
            "pipeline_root": str(kfp.get("pipeline_root", "")),
            "pipeline_name": pipeline_name,
        })
        set_properties(context.custom_properties, {"config": dict(config), "owner": dict(owner)})
        return context

    def ended_run_context(self, context: pb.Context, status: str, end_ms: int) -> pb.Context:
        ended = pb.Context()
        ended.CopyFrom(context)
        set_properties(ended.custom_properties, {"status": status, "end_time": end_ms})
        return ended

    def root_execution(self, type_id: int, pipeline_name: str, run_name: str,
                       config: Mapping[str, Any]) -> pb.Execution:
        name = ROOT_DAG_PREFIX + run_name
        execution = pb.Execution(type_id=type_id, name=name, last_known_state=pb.Execution.RUNNING)
        set_plain_properties(execution.custom_properties, {"display_name": name, "run_name": run_name})
        execution.custom_properties["inputs"].CopyFrom(struct_value(config.get("parameters") or {}))
        return execution

    def ended_root_execution(self, execution: pb.Execution, status: str) -> pb.Execution:
        ended = pb.Execution()
        ended.CopyFrom(execution)
        succeeded = status.lower() in _SUCCEEDED_RUN_STATUSES
        ended.last_known_state = pb.Execution.COMPLETE if succeeded else pb.Execution.FAILED
        return ended

    # -- writing: steps ----------------------------------------------------------------
    def run_step_execution(self, type_id: int, run: Any, step: records.StepStart, state: str) -> pb.Execution:
        execution = pb.Execution(
            type_id=type_id, name=f"{run.run_name}.{step.name}",
            last_known_state=pb.Execution.State.Value(state),
        )
        props = execution.custom_properties
        root = getattr(run, "root_execution", None)
        set_plain_properties(props, {
            "display_name": step.name,
            "task_name": step.name,
            "parent_dag_id": root.id if root is not None else None,
            "cache_fingerprint": step.cache_key or None,
            "run_name": run.run_name,
            "step_type": step.type_name,
            "code_fingerprint": step.code_fingerprint or None,
        })
        set_properties(props, {"cache_key_parts": dict(step.cache_key_parts) or None, **step.properties})
        props["inputs"].CopyFrom(struct_value(step.parameters))
        return execution

    def ended_execution(self, execution: pb.Execution, state: str, **properties: Any) -> pb.Execution:
        ended = pb.Execution()
        ended.CopyFrom(execution)
        ended.last_known_state = pb.Execution.State.Value(state)
        original = properties.pop("original_execution_id", None)
        if original is not None:
            # KFP keeps the id of the execution a cached task reuses as a string.
            properties["cached_execution_id"] = str(original)
        set_plain_properties(ended.custom_properties, properties)
        return ended

    def output_artifact(self, type_id: int, run_name: str, step_name: str, output_name: str,
                        index: int, output: records.OutputArtifact) -> pb.Artifact:
        suffix = f".{index}" if index else ""
        artifact = pb.Artifact(
            type_id=type_id, uri=output.uri, state=pb.Artifact.LIVE,
            name=f"{run_name}.{step_name}.{output_name}{suffix}",
        )
        # The artifact's metadata (metric values included) as KFP writes it.
        set_plain_properties(artifact.custom_properties, {
            "display_name": output_name,
            "kind": output.kind.upper(),
            "materializer": output.materializer or None,
            "data_type": output.data_type or None,
            "content_hash": output.content_hash or None,
            "size_bytes": output.size_bytes,
            **output.properties,
        })
        return artifact

    def event(self, event_type: int, key: str, index: int, artifact_id: int | None = None) -> pb.Event:
        # KFP paths are one step, the input/output name; a list keeps its event order.
        event = pb.Event(type=event_type)
        if artifact_id is not None:
            event.artifact_id = artifact_id
        event.path.steps.add().key = key
        return event

    # -- reading -------------------------------------------------------------------
    def is_step_type(self, execution_type_name: str) -> bool:
        return execution_type_name != DAG_EXECUTION

    def decode_pipeline(self, context: pb.Context) -> records.PipelineRecord:
        return records.PipelineRecord(
            id=context.id, name=context.name, created_ms=context.create_time_since_epoch,
            properties=properties_of(context), convention=self.name,
        )

    def decode_run(self, context: pb.Context, pipeline_name: str) -> records.RunRecord:
        props = properties_of(context)
        return records.RunRecord(
            id=context.id,
            name=context.name,
            pipeline_name=pipeline_name or str(props.pop("pipeline_name", "") or ""),
            created_ms=context.create_time_since_epoch,
            updated_ms=context.last_update_time_since_epoch,
            recorded_status=str(props.pop("status", "") or ""),
            end_ms=props.pop("end_time", None),
            config=props.pop("config", None) or {},
            owner=props.pop("owner", None) or {},
            properties=props,
            convention=self.name,
        )

    def decode_step(self, execution: pb.Execution, type_name: str,
                    events: Sequence[pb.Event]) -> records.StepRecord:
        props = properties_of(execution)
        parameters = props.pop("inputs", None) or {}
        state = EXECUTION_STATE_NAMES.get(execution.last_known_state, records.UNKNOWN)
        terminal = state in (records.COMPLETE, records.FAILED, records.CACHED, records.CANCELED)
        cached_from = props.pop("cached_execution_id", None)
        name = props.get("task_name") or props.get("display_name") or execution.name
        return records.StepRecord(
            id=execution.id,
            name=str(name),
            type_name=type_name,
            state=state,
            created_ms=execution.create_time_since_epoch,
            updated_ms=execution.last_update_time_since_epoch,
            parameters=parameters if isinstance(parameters, dict) else {},
            inputs=group_events(events, self, INPUT_EVENTS),
            outputs=group_events(events, self, OUTPUT_EVENTS),
            code_fingerprint=str(props.pop("code_fingerprint", "") or ""),
            cache_key=str(props.pop("cache_fingerprint", "") or ""),
            original_execution_id=_as_int(cached_from),
            error_type=str(props.pop("error_type", "") or ""),
            error_message=str(props.pop("error_message", "") or ""),
            start_ms=execution.create_time_since_epoch,
            end_ms=execution.last_update_time_since_epoch if terminal else None,
            properties=props,
        )

    def decode_artifact(self, artifact: pb.Artifact, artifact_type: pb.ArtifactType | None) -> records.ArtifactRecord:
        record = super().decode_artifact(artifact, artifact_type)
        if record.base_type is not None:
            return record
        from dataclasses import replace

        from zen_mlmd_kfp.artifact_types import kind_for_schema_title

        # KFP's types carry no base type: the schema title (or the kind
        # zen_mlmd recorded) says what the artifact is.
        kind = str(record.properties.get("kind") or kind_for_schema_title(record.type_name).value)
        return replace(record, base_type=None if kind == "DATA" else kind)


def metric_values(artifact: records.ArtifactRecord) -> dict[str, Any]:
    """The metadata of a KFP artifact (metric values of a `system.Metrics` one).

    zen_mlmd's bookkeeping properties are left out.
    """
    return {k: v for k, v in artifact.properties.items() if k not in BOOKKEEPING}


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
