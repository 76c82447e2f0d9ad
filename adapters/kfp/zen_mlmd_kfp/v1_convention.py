"""Kubeflow Pipelines v1 runs, as its metadata writer recorded them: read-only.

KFP v1's metadata writer (kubeflow/pipelines `backend/metadata_writer/src/metadata_writer.py`
and `metadata_helpers.py`) watched the Argo pods of each run and wrote:

* one `KfpRun` context per run, named by the Argo workflow, typed
  properties `pipeline_name` and `run_id` (both the workflow name: v1
  records no pipeline of its own, so the run is its own pipeline here);
* one execution per pod, type `components.<component>@sha256=<spec digest>`,
  typed properties `pipeline_name`, `run_id`, `component_id` (the
  component's name), custom `kfp_pod_name` and `input:<name>` per parameter
  argument, and NO state;
* INPUT events to the upstream artifacts (found by URI) and, once the pod
  has outputs, one artifact per output (type: the component's output type,
  else `NoType`; custom `name`, `pipeline_name`, `run_id`, `argo_artifact`)
  with an OUTPUT event; event paths are one step, the input/output name.

Reading: a step is named by its component; repeated components of a run
are `name[k]` in the order their pods started (read alone, as an
artifact's producer, such a step keeps its component's name). The writer records outputs
only once a pod has them, so a step with outputs reads COMPLETE; any other
step's state is UNKNOWN ("unknown"), as the writer never recorded one.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import (
    EXECUTION_STATE_NAMES,
    INPUT_EVENTS,
    OUTPUT_EVENTS,
    Convention,
    properties_of,
    quote,
)

RUN_CONTEXT = "KfpRun"
PARAMETER_PREFIX = "input:"
#: Output types of v1 components -> artifact kinds (case-insensitive; others are data).
_BASE_TYPES = {"model": "MODEL", "dataset": "DATASET", "metrics": "METRICS", "statistics": "STATISTICS"}


class KfpV1Convention(Convention):
    """Kubeflow Pipelines v1's metadata writer (see the module docstring)."""

    name = "kfp_v1"
    writer_label = "Kubeflow Pipelines v1"
    pipeline_context_type = RUN_CONTEXT
    run_context_type = RUN_CONTEXT

    def runs_filter(self, pipeline_name: str | None) -> str:
        query = f"type = {quote(RUN_CONTEXT)}"
        if pipeline_name is not None:
            query += f" AND properties.pipeline_name.string_value = {quote(pipeline_name)}"
        return query

    def decode_pipeline(self, context: pb.Context) -> records.PipelineRecord:
        props = properties_of(context)
        return records.PipelineRecord(id=context.id, name=str(props.get("pipeline_name") or context.name),
                                      created_ms=context.create_time_since_epoch, properties=props,
                                      convention=self.name)

    def decode_run(self, context: pb.Context, pipeline_name: str) -> records.RunRecord:
        props = properties_of(context)
        return records.RunRecord(
            id=context.id, name=context.name,
            pipeline_name=pipeline_name or str(props.get("pipeline_name") or context.name),
            created_ms=context.create_time_since_epoch, updated_ms=context.last_update_time_since_epoch,
            properties=props, convention=self.name, run_id=str(props.get("run_id") or ""),
        )

    def decode_step(self, execution: pb.Execution, type_name: str,
                    events: Sequence[pb.Event]) -> records.StepRecord:
        props = properties_of(execution)
        parameters = {k[len(PARAMETER_PREFIX):]: props.pop(k) for k in sorted(props)
                      if k.startswith(PARAMETER_PREFIX)}
        outputs = _by_key(events, OUTPUT_EVENTS)
        state = EXECUTION_STATE_NAMES.get(execution.last_known_state, records.UNKNOWN)
        if state == records.UNKNOWN and outputs:
            state = records.COMPLETE  # outputs are written once the pod has them
        return records.StepRecord(
            id=execution.id, name=str(props.get("component_id") or execution.name or execution.id),
            type_name=type_name, state=state,
            created_ms=execution.create_time_since_epoch, updated_ms=execution.last_update_time_since_epoch,
            parameters=parameters, inputs=_by_key(events, INPUT_EVENTS), outputs=outputs,
            start_ms=execution.create_time_since_epoch,
            end_ms=execution.last_update_time_since_epoch if state == records.COMPLETE else None,
            properties=props,
        )

    def name_steps(self, store: Any, steps: Sequence[records.StepRecord], *,
                   structure: Sequence[pb.Execution] | None) -> tuple[records.StepRecord, ...]:
        """A component run by several pods: `name[k]`, k in the order the pods started.

        Read alone (`structure` None, an artifact's producer), a step keeps its component's name.
        """
        if structure is None:
            return tuple(steps)
        counts: dict[str, int] = {}
        for step in steps:
            counts[step.name] = counts.get(step.name, 0) + 1
        seen: dict[str, int] = {}
        placed = []
        for step in sorted(steps, key=lambda s: s.id):
            if counts[step.name] > 1:
                index = seen.get(step.name, 0)
                seen[step.name] = index + 1
                step = dataclasses.replace(step, name=f"{step.name}[{index}]")
            placed.append(step)
        return tuple(placed)

    def decode_artifact(self, artifact: pb.Artifact, artifact_type: pb.ArtifactType | None) -> records.ArtifactRecord:
        record = super().decode_artifact(artifact, artifact_type)
        name = str(record.properties.get("name") or record.name)
        base = record.base_type or _BASE_TYPES.get(record.type_name.lower())
        return dataclasses.replace(record, name=name, base_type=base,
                                   properties={"display_name": name, **record.properties})


def _by_key(events: Sequence[pb.Event], kinds: set[int]) -> dict[str, tuple[int, ...]]:
    grouped: dict[str, list[int]] = {}
    for event in events:
        if event.type in kinds:
            grouped.setdefault(event.path.steps[0].key if event.path.steps else "", []).append(event.artifact_id)
    return {key: tuple(dict.fromkeys(ids)) for key, ids in sorted(grouped.items())}

