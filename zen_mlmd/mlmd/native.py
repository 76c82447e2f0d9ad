"""The native convention: what zen_mlmd writes, in names MLMD tools know.

Documented in docs/CONVENTIONS.md (a test checks the writer against it):

* context types `pipeline` (name = pipeline name), `pipeline_run` (name = run
  name, child of its pipeline) and `node` (name = `<pipeline>.<step>`), as
  TFX names them;
* one execution type per step (the step function's import path); state only
  in `last_known_state`; the step name in `display_name` (what MLMD and
  Kubeflow UIs show) and nothing stored twice: the run and pipeline names
  come from the execution name `<run>.<step>` and the contexts, the code
  fingerprint from `cache_key_parts`; parameters as typed values in custom
  properties `param.<name>`;
* artifact types `zen_mlmd.<Kind>` with `base_type`; state only in
  `Artifact.state`; what zen_mlmd knows of an output (materializer, data
  type, content hash, size, producer) in ONE property `zen_mlmd_output`, a
  `google.protobuf.ListValue` in `proto_value` (no MLMD index copies it),
  the cache key in `cache_key` (the cache lookup filters on it);
* event paths as `[key, index]` pairs.
"""
from __future__ import annotations

import dataclasses
import json
import warnings
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
from zen_mlmd.mlmd.record_names import artifact_output, execution_run_name
from zen_mlmd.mlmd.values import from_value

#: 2: nothing stored twice: step executions without `task_name`, `step_name`,
#: `pipeline_name`, `run_name` (`code_fingerprint` only when `cache_key_parts`
#: has no code); artifacts without `display_name`, `output_index` (in the
#: artifact name). 3: no `execution_cache` context per cache key (the key is
#: on the execution and its outputs; lookups read the outputs). 4: an output's
#: facts in one property (`OUTPUT_FACTS_PROPERTY`) instead of five: MLMD
#: stores, and on a server inserts, every property as a row of its own.
#: 5: those facts as a list in `proto_value`, where schema 4 kept a JSON
#: object in `string_value`: MLMD indexes every string value, so each fact
#: was stored twice. Readers read all.
SCHEMA_VERSION = 5
PARAM_PREFIX = "param."

#: Artifact kinds -> (MLMD type name, base type). Kept in step with
#: `zen_mlmd.artifacts.kinds.ArtifactKind`.
ARTIFACT_TYPES: Mapping[str, tuple[str, str | None]] = {
    "dataset": ("zen_mlmd.Dataset", "DATASET"),
    "model": ("zen_mlmd.Model", "MODEL"),
    "metrics": ("zen_mlmd.Metrics", "METRICS"),
    "statistics": ("zen_mlmd.Statistics", "STATISTICS"),
    "data": ("zen_mlmd.Data", None),
}
#: Artifact custom property: zen_mlmd's facts about an output. Schema 5: a
#: `google.protobuf.ListValue` in `proto_value`, the values of `OUTPUT_FACTS`
#: in that order (null when unknown); schema 4: a JSON object with those
#: keys in `string_value`. Schemas 1-3 kept the first three as typed
#: properties and the others as custom properties.
OUTPUT_FACTS_PROPERTY = "zen_mlmd_output"
OUTPUT_FACTS = ("materializer", "data_type", "content_hash", "size_bytes", "producer_execution_id")
_TEXT_FACTS, _INT_FACTS = OUTPUT_FACTS[:3], OUTPUT_FACTS[3:]
_EXACT = 2**53  # integers a ListValue's doubles hold exactly

# Execution custom properties the reader turns into StepRecord fields.
_STEP_FIELDS = {
    "code_fingerprint", "cache_key", "original_execution_id", "error_type",
    "error_message", "step_name",
}
#: Written only when one artifact feeds several inputs (see step_execution).
INPUTS_PROPERTY = "input_artifacts"


class NewerRecordsWarning(UserWarning):
    """Runs recorded by a newer zen_mlmd (a higher convention schema) than the one reading them."""


class NativeConvention(WritableConvention):
    """zen_mlmd's own convention (TFX-compatible context names)."""

    name = "native"
    writer_label = "zen_mlmd"
    pipeline_context_type = "pipeline"
    run_context_type = "pipeline_run"
    node_context_type = "node"
    #: Schema 1 and 2 stores hold `execution_cache` contexts (the cache key a
    #: third time, beside the execution's and its outputs' `cache_key`).
    other_context_types = ("execution_cache",)

    # -- types -----------------------------------------------------------------
    def artifact_type(self, kind: str) -> pb.ArtifactType:
        type_name, base = ARTIFACT_TYPES[kind.lower()]
        # No typed properties since schema 4 (earlier stores' types keep theirs).
        artifact_type = pb.ArtifactType(name=type_name)
        if base:
            artifact_type.base_type = pb.ArtifactType.SystemDefinedBaseType.Value(base)
        return artifact_type

    # -- writing -----------------------------------------------------------------
    def pipeline_context(self, type_id: int, name: str, properties: Mapping[str, Any]) -> pb.Context:
        context = pb.Context(type_id=type_id, name=name)
        set_properties(context.custom_properties, {"schema_version": SCHEMA_VERSION, **properties})
        return context

    def run_context(
        self, type_id: int, pipeline_name: str, run_name: str,
        config: Mapping[str, Any], owner: Mapping[str, Any],
    ) -> pb.Context:
        context = pb.Context(type_id=type_id, name=run_name)
        set_properties(context.custom_properties, {
            "pipeline_name": pipeline_name,
            "schema_version": SCHEMA_VERSION,
            "config": dict(config),
            "owner": dict(owner),
        })
        return context

    def ended_run_context(self, context: pb.Context, status: str, end_ms: int) -> pb.Context:
        ended = pb.Context()
        ended.CopyFrom(context)
        # A double: milliseconds overflow MLMD's 32-bit int column on MySQL/PostgreSQL.
        set_properties(ended.custom_properties, {"status": status, "end_time": float(end_ms)})
        return ended

    def node_context(self, type_id: int, pipeline_name: str, step_name: str) -> pb.Context:
        context = pb.Context(type_id=type_id, name=f"{pipeline_name}.{step_name}")
        set_properties(context.custom_properties, {"pipeline_name": pipeline_name, "node_id": step_name})
        return context

    def step_execution(
        self, type_id: int, pipeline_name: str, run_name: str,
        step: records.StepStart, state: str,
    ) -> pb.Execution:
        execution = pb.Execution(
            type_id=type_id,
            name=f"{run_name}.{step.name}",
            last_known_state=pb.Execution.State.Value(state),
        )
        props = execution.custom_properties
        # Only what no other field holds: the run and pipeline names are in the
        # execution name and the contexts, the fingerprint in the key's parts.
        fingerprint = step.code_fingerprint
        if fingerprint and step.cache_key_parts.get("code") == fingerprint:
            fingerprint = ""
        set_properties(props, {
            "display_name": step.name,
            "code_fingerprint": fingerprint or None,
            "cache_key": step.cache_key or None,
            "cache_key_parts": dict(step.cache_key_parts) or None,
            **step.properties,
        })
        set_properties(props, step.parameters, prefix=PARAM_PREFIX, keep_none=True)
        all_ids = [i for ids in step.inputs.values() for i in ids]
        if len(all_ids) != len(set(all_ids)):
            # one INPUT event per artifact (MLMD's rule): keep the full mapping here
            set_properties(props, {INPUTS_PROPERTY: {k: list(v) for k, v in step.inputs.items()}})
        return execution

    def run_step_execution(self, type_id: int, run, step: records.StepStart, state: str) -> pb.Execution:
        return self.step_execution(type_id, run.pipeline_name, run.run_name, step, state)

    def ended_execution(self, execution: pb.Execution, state: str, **properties: Any) -> pb.Execution:
        ended = pb.Execution()
        ended.CopyFrom(execution)
        ended.last_known_state = pb.Execution.State.Value(state)
        set_properties(ended.custom_properties, properties)
        return ended

    def output_artifact(
        self, type_id: int, run_name: str, step_name: str, output_name: str,
        index: int, output: records.OutputArtifact, producer_execution_id: int,
    ) -> pb.Artifact:
        suffix = f".{index}" if index else ""
        artifact = pb.Artifact(
            type_id=type_id,
            uri=output.uri,
            name=f"{run_name}.{step_name}.{output_name}{suffix}",
            state=pb.Artifact.LIVE,
        )
        # the output name and index are in the artifact name and the OUTPUT event
        extra = {k: v for k, v in output.properties.items() if k not in OUTPUT_FACTS}
        facts = struct_pb2.ListValue()
        for fact in (output.materializer, output.data_type, output.content_hash):
            if fact:
                facts.values.add().string_value = fact
            else:
                facts.values.add().null_value = 0
        for fact in (output.size_bytes, producer_execution_id):
            if fact is None:
                facts.values.add().null_value = 0
            else:
                facts.values.add().number_value = fact
        artifact.custom_properties[OUTPUT_FACTS_PROPERTY].proto_value.Pack(facts)
        set_properties(artifact.custom_properties, extra)
        return artifact

    def event(self, event_type: int, key: str, index: int, artifact_id: int | None = None) -> pb.Event:
        event = pb.Event(type=event_type)
        if artifact_id is not None:
            event.artifact_id = artifact_id
        event.path.steps.add().key = key
        event.path.steps.add().index = index
        return event

    # -- reading -----------------------------------------------------------------
    def decode_artifact(self, artifact: pb.Artifact, artifact_type: pb.ArtifactType | None) -> records.ArtifactRecord:
        record = super().decode_artifact(artifact, artifact_type)
        props = dict(record.properties)
        text_facts = {}
        if OUTPUT_FACTS_PROPERTY in props:  # schemas 4 and 5: readers see the facts as before
            facts = _parsed_facts(props.pop(OUTPUT_FACTS_PROPERTY))
            text_facts = {k: facts.pop(k) for k in _TEXT_FACTS if k in facts}
            props.update(facts)
        if "display_name" not in props or "output_index" not in props:
            # schema 2 keeps them only in the artifact name: readers see them as before
            props["display_name"], props["output_index"] = artifact_output(artifact)
        return dataclasses.replace(record, **text_facts, properties=props)

    def decode_pipeline(self, context: pb.Context) -> records.PipelineRecord:
        return records.PipelineRecord(
            id=context.id, name=context.name,
            created_ms=context.create_time_since_epoch,
            properties=properties_of(context), convention=self.name,
        )

    def decode_run(self, context: pb.Context, pipeline_name: str) -> records.RunRecord:
        props = properties_of(context)
        version = props.get("schema_version")
        if type(version) is int and version > SCHEMA_VERSION:
            # one warning per version and process (the text names no run)
            warnings.warn(NewerRecordsWarning(
                f"some runs were recorded by a newer zen_mlmd (native convention schema {version}; "
                f"this one reads schemas up to {SCHEMA_VERSION}): what it recorded in a newer form "
                "reads as missing here (an output's materializer, content hash, cache hits). Fix: "
                "upgrade zen_mlmd on this machine to the version that recorded them"), stacklevel=2)
        return records.RunRecord(
            id=context.id,
            name=context.name,
            pipeline_name=pipeline_name or str(props.get("pipeline_name", "")),
            created_ms=context.create_time_since_epoch,
            updated_ms=context.last_update_time_since_epoch,
            recorded_status=str(props.pop("status", "") or ""),
            end_ms=_int_or_none(props.pop("end_time", None)),
            config=props.pop("config", None) or {},
            owner=props.pop("owner", None) or {},
            properties=props,
            convention=self.name,
        )

    def decode_step(
        self, execution: pb.Execution, type_name: str, events: Sequence[pb.Event]
    ) -> records.StepRecord:
        props = properties_of(execution)
        parameters = {  # by name: MLMD keeps properties in a map
            key[len(PARAM_PREFIX):]: props.pop(key)
            for key in sorted(props) if key.startswith(PARAM_PREFIX)
        }
        fields = {key: props.pop(key) for key in list(props) if key in _STEP_FIELDS}
        inputs = group_events(events, self, INPUT_EVENTS)
        mapping = props.pop(INPUTS_PROPERTY, None)
        if isinstance(mapping, dict):
            inputs = {key: tuple(int(i) for i in ids) for key, ids in mapping.items()}
        state = EXECUTION_STATE_NAMES.get(execution.last_known_state, records.UNKNOWN)
        terminal = state in (records.COMPLETE, records.FAILED, records.CACHED, records.CANCELED)
        if "run_name" not in props:  # schema 2 keeps it only in the execution name
            props["run_name"] = execution_run_name(execution)
        parts = props.get("cache_key_parts")
        if "code_fingerprint" not in fields and isinstance(parts, dict) and parts.get("code"):
            fields["code_fingerprint"] = parts["code"]
        return records.StepRecord(
            id=execution.id,
            name=fields.get("step_name") or str(props.get("display_name") or execution.name),
            type_name=type_name,
            state=state,
            created_ms=execution.create_time_since_epoch,
            updated_ms=execution.last_update_time_since_epoch,
            parameters=parameters,
            inputs=inputs,
            outputs=group_events(events, self, OUTPUT_EVENTS),
            code_fingerprint=str(fields.get("code_fingerprint", "")),
            cache_key=str(fields.get("cache_key", "")),
            original_execution_id=fields.get("original_execution_id"),
            error_type=str(fields.get("error_type", "")),
            error_message=str(fields.get("error_message", "")),
            start_ms=execution.create_time_since_epoch,
            end_ms=execution.last_update_time_since_epoch if terminal else None,
            properties=props,
        )


def output_facts(artifact: pb.Artifact) -> dict[str, Any]:
    """What zen_mlmd recorded about an output (keys of `OUTPUT_FACTS`), from any schema."""
    if OUTPUT_FACTS_PROPERTY in artifact.custom_properties:
        return _parsed_facts(from_value(artifact.custom_properties[OUTPUT_FACTS_PROPERTY]))
    values = properties_of(artifact)
    return {k: values[k] for k in OUTPUT_FACTS if values.get(k) not in (None, "")}


def _parsed_facts(found: Any) -> dict[str, Any]:
    """The facts of one decoded `OUTPUT_FACTS_PROPERTY` value; a value of the wrong type is left out.

    `found` is a list (schema 5) or JSON text (schema 4). Anyone who can
    write to the store can write it: it is only read as data, each fact
    checked for its type.
    """
    if isinstance(found, list):
        loaded = dict(zip(OUTPUT_FACTS, found))
    else:
        try:
            loaded = json.loads(found) if isinstance(found, str) else None
        except (ValueError, RecursionError):  # not JSON, or nested past Python's limit
            loaded = None
    if not isinstance(loaded, dict):
        return {}
    facts = {k: loaded[k] for k in _TEXT_FACTS if isinstance(loaded.get(k), str) and loaded[k]}
    # a size or an id MLMD (int64) and the list's doubles (exact below 2**53) both hold
    facts.update({k: loaded[k] for k in _INT_FACTS if type(loaded.get(k)) is int and 0 <= loaded[k] < _EXACT})
    return facts


def _int_or_none(value) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None
