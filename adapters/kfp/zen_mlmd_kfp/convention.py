"""The Kubeflow Pipelines v2 convention: read what KFP's driver and launcher write, and write it.

KFP v2 records a run in MLMD as (kubeflow/pipelines `backend/src/v2/metadata/client.go`,
`backend/src/v2/driver/*.go`, `backend/src/v2/component/launcher_v2.go`):

* contexts `system.Pipeline` (named `pipelineInfo.name`) and
  `system.PipelineRun` (named by the KFP run ID; `namespace`,
  `resource_name`, `pipeline_root`, `store_session_info`), the run a child
  of the pipeline; every execution is in both;
* `system.DAGExecution`s: the root DAG `run/<run id>` (`task_name` "", never
  updated), sub-pipelines, ParallelFor loops (`iteration_count`) and their
  iterations (`iteration_index`), each with `parent_dag_id`;
* one `system.ContainerExecution` per task (`system.ImporterExecution` for an
  importer): `display_name`, `task_name` (the task key), `parent_dag_id`,
  `pod_name`, `pod_uid`, `namespace`, `image`, `cache_fingerprint`,
  `cached_execution_id` (a cached task), `inputs` / `outputs` (structs);
  RUNNING, then COMPLETE / FAILED / CACHED; CANCELED when not triggered;
* unnamed artifacts typed by schema title (`system.Dataset`, ...), with
  `display_name`, `store_session_info` and the artifact's metadata (metric
  values of a `system.Metrics` artifact, numbers as doubles);
* events whose path is ONE step: the input or output name.

Reading: each task is a step named by its path from the root DAG
(`dag_paths`): `train`, `evaluate-pipeline/report`, `for-loop-2[1]/train`.
Writing: see `zen_mlmd_kfp.writing`.
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
    WritableConvention,
    properties_of,
    quote,
)
from zen_mlmd_kfp import dag_paths
from zen_mlmd_kfp.end_run import END_RUN_TASK
from zen_mlmd_kfp.step_facts import PARAMETERS_PROPERTY, STEP_NAME, facts_of
from zen_mlmd_kfp.writing import (
    BOOKKEEPING,
    CONTAINER_EXECUTION,
    DAG_EXECUTION,
    INPUTS_PROPERTY,
    OUTPUTS_PROPERTY,
    PIPELINE_CONTEXT,
    RECORDED_IN,
    ROOT_DAG_PREFIX,
    RUN_CONTEXT,
    RUN_NAME,
    STEP_TYPE,
    KfpWriting,
)

__all__ = ["BOOKKEEPING", "CONTAINER_EXECUTION", "DAG_EXECUTION", "IMPORTER_EXECUTION",
           "KfpConvention", "PIPELINE_CONTEXT", "ROOT_DAG_PREFIX", "RUN_CONTEXT", "metric_values"]

IMPORTER_EXECUTION = "system.ImporterExecution"
#: Artifact properties the UI does not show as metrics (`ReservedArtifactProperties.ts`).
UI_HIDDEN = frozenset({"display_name", "store_session_info"})
_TERMINAL = frozenset({records.COMPLETE, records.FAILED, records.CACHED, records.CANCELED})


class KfpConvention(KfpWriting, WritableConvention):
    """Kubeflow Pipelines v2 (see the module docstring)."""

    name = "kfp"
    writer_label = "Kubeflow Pipelines"
    pipeline_context_type = PIPELINE_CONTEXT
    run_context_type = RUN_CONTEXT
    root_execution_type = DAG_EXECUTION

    # -- runs ---------------------------------------------------------------------
    def runs_filter(self, pipeline_name: str | None) -> str:
        return super().runs_filter(None if pipeline_name is None else self.pipeline_context_name(pipeline_name))

    def decode_pipeline(self, context: pb.Context) -> records.PipelineRecord:
        return records.PipelineRecord(
            id=context.id, name=context.name, created_ms=context.create_time_since_epoch,
            properties=properties_of(context), convention=self.name,
        )

    def decode_run(self, context: pb.Context, pipeline_name: str) -> records.RunRecord:
        """A run as its context tells it: named by its KFP run ID (see `screen_runs`)."""
        return records.RunRecord(
            id=context.id,
            name=context.name,
            pipeline_name=self.pipeline_context_name(pipeline_name) if pipeline_name else "",
            created_ms=context.create_time_since_epoch,
            updated_ms=context.last_update_time_since_epoch,
            properties=properties_of(context),
            convention=self.name,
            run_id=context.name,
        )

    def screen_runs(self, store: Any, runs: Sequence[records.RunRecord],
                    pipeline_name: str | None) -> list[records.RunRecord]:
        """Runs zen_mlmd recorded given their run name, config, owner and status from their root DAGs.

        One call per page of runs (their root DAGs `run/<run id>`). A KFP run
        whose tasks zen_mlmd recorded in another convention (native, on a
        cluster) is left out: it is listed once, as that convention's run.
        """
        if not runs:
            return []
        listed = ", ".join(quote(ROOT_DAG_PREFIX + r.run_id) for r in runs)
        roots = {e.name[len(ROOT_DAG_PREFIX):]: e for e in _executions(
            store, f"type = {quote(DAG_EXECUTION)} AND name IN ({listed})")}
        # a run zen_mlmd recorded natively on a cluster is listed (once) as its native run
        return [_with_root(run, roots.get(run.run_id), self) for run in runs
                if RECORDED_IN not in getattr(roots.get(run.run_id), "custom_properties", {})]

    def find_run_context(self, store: Any, name: str) -> pb.Context | None:
        """The run context of the run zen_mlmd named `name`: its root DAG keeps the name (two calls)."""
        root = next(iter(_executions(store, f"type = {quote(DAG_EXECUTION)} AND external_id = {quote(name)}")),
                    None)
        if root is None or not root.name.startswith(ROOT_DAG_PREFIX):
            return None
        return store.get_context_by_type_and_name(RUN_CONTEXT, root.name[len(ROOT_DAG_PREFIX):])

    # -- steps --------------------------------------------------------------------
    def is_step_type(self, execution_type_name: str) -> bool:
        return execution_type_name != DAG_EXECUTION

    def is_step(self, execution: pb.Execution, execution_type_name: str) -> bool:
        """Not a DAG, nor the end task zen_mlmd adds to a cluster run (`end_run`)."""
        task = execution.custom_properties.get("task_name")
        return self.is_step_type(execution_type_name) and (task is None or task.string_value != END_RUN_TASK)

    def decode_step(self, execution: pb.Execution, type_name: str,
                    events: Sequence[pb.Event]) -> records.StepRecord:
        props = properties_of(execution)
        # on a cluster, what a task handed KFP's launcher until the run's end task writes it back
        props.update(facts_of(props))
        state = EXECUTION_STATE_NAMES.get(execution.last_known_state, records.UNKNOWN)
        ours = STEP_TYPE in props
        parameters = props.pop(PARAMETERS_PROPERTY, None) if PARAMETERS_PROPERTY in props \
            else props.pop("inputs", None)
        if ours and state == records.COMPLETE and props.get("cached_execution_id"):
            state = records.CACHED  # served from zen_mlmd's cache; KFP's launcher said COMPLETE
        # zen_mlmd names its steps itself; KFP's UI joins tasks on `task_name`
        name = (props.get(STEP_NAME) or props.get("display_name")) if ours else props.get("task_name")
        mapping = props.pop(INPUTS_PROPERTY, None)
        inputs = ({k: tuple(int(i) for i in v) for k, v in mapping.items()} if isinstance(mapping, dict)
                  else _events_by_key(events, INPUT_EVENTS))
        return records.StepRecord(
            id=execution.id,
            name=str(name or props.get("display_name") or execution.name or execution.id),
            type_name=str(props[STEP_TYPE]) if ours else type_name,
            state=state,
            created_ms=execution.create_time_since_epoch,
            updated_ms=execution.last_update_time_since_epoch,
            parameters=parameters if isinstance(parameters, dict) else {},
            inputs=inputs,
            outputs=_events_by_key(events, OUTPUT_EVENTS),
            code_fingerprint=str(props.pop("code_fingerprint", "") or ""),
            cache_key=str(props.pop("cache_fingerprint", "") or ""),
            original_execution_id=_as_int(props.pop("cached_execution_id", None)),
            error_type=str(props.pop("error_type", "") or ""),
            error_message=str(props.pop("error_message", "") or ""),
            start_ms=execution.create_time_since_epoch,
            end_ms=execution.last_update_time_since_epoch if state in _TERMINAL else None,
            properties=props,
        )

    def name_steps(self, store: Any, steps: Sequence[records.StepRecord], *,
                   structure: Sequence[pb.Execution] | None) -> tuple[records.StepRecord, ...]:
        """Steps named by their path in the run's DAGs; a task KFP and zen_mlmd both recorded kept once.

        Steps read without their run (an artifact's producer): the DAGs above
        them are read, one call per level of DAG nesting; none for zen_mlmd's
        own steps, which are never nested.
        """
        if structure is not None:
            return dag_paths.place(steps, dag_paths.dag_rows(structure), _recorded_by_zen_mlmd_too)
        nested = [s for s in steps if STEP_TYPE not in s.properties]
        dags = dag_paths.fetch_ancestors(store, {dag_paths.parent_of(s) for s in nested}) if nested else {}
        return dag_paths.place(steps, dag_paths.dag_rows(dags.values()))

    # -- artifacts ----------------------------------------------------------------
    def decode_artifact(self, artifact: pb.Artifact, artifact_type: pb.ArtifactType | None) -> records.ArtifactRecord:
        record = super().decode_artifact(artifact, artifact_type)
        if record.base_type is not None:
            return record
        from zen_mlmd_kfp.artifact_types import kind_for_schema_title

        # KFP's types carry no base type: the schema title (or the kind
        # zen_mlmd recorded) says what the artifact is.
        kind = str(record.properties.get("kind") or kind_for_schema_title(record.type_name).value)
        return dataclasses.replace(record, base_type=None if kind == "DATA" else kind)

    def artifact_with_producer(self, artifact: records.ArtifactRecord, producer: records.StepRecord,
                               output_name: str) -> records.ArtifactRecord:
        """The materializer, data type, content hash and kind zen_mlmd recorded on the producer."""
        facts = producer.properties.get(OUTPUTS_PROPERTY)
        described = facts.get(output_name) if isinstance(facts, dict) else None
        ids = producer.outputs.get(output_name, ())
        if not isinstance(described, list) or artifact.id not in ids or ids.index(artifact.id) >= len(described):
            return artifact
        fact = described[ids.index(artifact.id)]
        kind = str(fact.get("kind") or "")
        return dataclasses.replace(
            # where the contents are, when KFP's launcher recorded another place (`step_facts`)
            artifact, uri=str(fact.get("uri") or artifact.uri),
            materializer=str(fact.get("materializer") or ""),
            data_type=str(fact.get("data_type") or ""), content_hash=str(fact.get("content_hash") or ""),
            base_type=(None if kind == "DATA" else kind) if kind else artifact.base_type)

    def find_cached_executions(self, store: Any, cache_key: str) -> list:
        from zen_mlmd_kfp.cached_outputs import find_cached_outputs

        newest = find_cached_outputs(store, cache_key)
        return [newest] if newest is not None else []


def _with_root(run: records.RunRecord, root: pb.Execution | None, convention: KfpConvention) -> records.RunRecord:
    """`run` with what zen_mlmd keeps on its root DAG (unchanged for KFP's own runs)."""
    if root is None or RUN_NAME not in root.custom_properties:
        return run
    props = properties_of(root)
    end = props.get("end_time")
    return dataclasses.replace(
        run, name=str(props[RUN_NAME]),
        pipeline_name=run.pipeline_name or convention.pipeline_context_name(str(props.get("pipeline_name") or "")),
        recorded_status=str(props.get("status") or ""),
        end_ms=int(end) if isinstance(end, (int, float)) else None,
        config=props.get("config") or {}, owner=props.get("owner") or {})


def _executions(store: Any, filter_query: str) -> list[pb.Execution]:
    from ml_metadata.metadata_store.metadata_store import ListOptions

    return store.get_executions(list_options=ListOptions(filter_query=filter_query))


def metric_values(artifact: records.ArtifactRecord) -> dict[str, Any]:
    """The metadata of a KFP artifact: what the UI shows as scalar metrics of a `system.Metrics` one."""
    return {k: v for k, v in artifact.properties.items() if k not in UI_HIDDEN | BOOKKEEPING}


def _recorded_by_zen_mlmd_too(step: records.StepRecord, group: Sequence[records.StepRecord]) -> bool:
    """A task KFP's launcher recorded that zen_mlmd recorded as well (on a cluster): zen_mlmd's record is kept."""
    return STEP_TYPE not in step.properties and any(STEP_TYPE in other.properties for other in group)


def _events_by_key(events: Sequence[pb.Event], kinds: set[int]) -> dict[str, tuple[int, ...]]:
    """Artifact ids by the event's one path step, in the order MLMD returns them (the order written)."""
    grouped: dict[str, list[int]] = {}
    for event in events:
        if event.type in kinds:
            key = event.path.steps[0].key if event.path.steps else ""
            grouped.setdefault(key, []).append(event.artifact_id)
    return {key: tuple(dict.fromkeys(grouped[key])) for key in sorted(grouped)}


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None

