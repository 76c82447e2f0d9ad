"""A run as the Kubeflow Pipelines v2 UI finds and shows it, rule by rule from the UI's source.

kubeflow/pipelines `frontend/src`:

* `mlmd/MlmdUtils.ts` `getKfpV2RunContext(runID)`: the run is the
  `system.PipelineRun` context NAMED BY THE RUN ID (GetContextByTypeAndName);
  `getExecutionsFromContext`: its executions (GetExecutionsByContext);
* `lib/v2/DynamicFlow.ts` `getExecutionLayers`: the root execution is the
  first with `task_name` ""; without it the graph shows no states;
  `getExecutionsUnderDAG`: a graph node (a task key of the compiled
  pipeline) is joined to the executions whose `task_name` is the key and
  whose `parent_dag_id` is the DAG shown; the node's state is the
  execution's `last_known_state`, its label `ExecutionHelpers.getName`
  (`display_name`, else `task_name`, else the name);
  `getArtifactNodeKeyToArtifact`: an artifact node is found from the OUTPUT
  events of the run's executions, by task name and the event path's first key;
* `components/viewers/MetricsVisualizations.tsx`: the `system.Metrics`
  artifacts with a `display_name`; `ScalarMetricsSection` shows every custom
  property except `display_name` and the reserved `store_session_info`
  (`lib/ReservedArtifactProperties.ts`) as a scalar metric.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd.values import from_value

RESERVED = {"store_session_info"}


@dataclass
class UiTask:
    key: str
    label: str
    state: str
    execution_id: int
    #: output name -> artifact id (`getArtifactNodeKeyToArtifact`)
    outputs: dict[str, int] = field(default_factory=dict)
    #: output name -> the scalar metrics table (`ScalarMetricsSection`)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class UiRun:
    run_id: str
    root_id: int
    #: task key -> node, for the DAG shown (the root by default)
    tasks: dict[str, UiTask]


class NotShown(AssertionError):
    """The UI would not show this run (or this part of it)."""


def view_run(store, run_id: str, dag_id: int | None = None) -> UiRun:
    """The run's graph as the UI draws the DAG `dag_id` (the root DAG by default).

    `store` is a plain `ml_metadata.MetadataStore`.

    Raises:
        NotShown: no run context named `run_id`, or no root execution.
    """
    context = store.get_context_by_type_and_name("system.PipelineRun", run_id)
    if context is None:
        raise NotShown(f"no system.PipelineRun context is named {run_id!r}: the run-details page finds nothing")
    executions = store.get_executions_by_context(context.id)
    roots = [e for e in executions if _string(e, "task_name") == ""
             and "task_name" in e.custom_properties]
    if not roots:
        raise NotShown("no execution has task_name '': the graph shows no states")
    root = roots[0]
    shown = dag_id or root.id
    events = store.get_events_by_execution_ids([e.id for e in executions])
    artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))}
    types = {t.id: t.name for t in store.get_artifact_types()}
    tasks: dict[str, UiTask] = {}
    for execution in executions:
        props = execution.custom_properties
        if "parent_dag_id" not in props or props["parent_dag_id"].int_value != shown:
            continue
        key = _string(execution, "task_name")
        if not key or key in tasks:  # the UI takes the first execution of a task name
            continue
        tasks[key] = UiTask(
            key=key,
            label=_string(execution, "display_name") or key or execution.name or "(No name)",
            state=pb.Execution.State.Name(execution.last_known_state),
            execution_id=execution.id,
        )
    by_id = {t.execution_id: t for t in tasks.values()}
    for event in events:
        task = by_id.get(event.execution_id)
        if task is None or event.type != pb.Event.OUTPUT or not event.path.steps:
            continue
        name = event.path.steps[0].key
        task.outputs[name] = event.artifact_id
        artifact = artifacts[event.artifact_id]
        if types.get(artifact.type_id) == "system.Metrics" and _string(artifact, "display_name"):
            task.metrics[name] = {k: from_value(v) for k, v in artifact.custom_properties.items()
                                  if k != "display_name" and k not in RESERVED}
    return UiRun(run_id, root.id, tasks)


def _string(node, key: str) -> str:
    value = node.custom_properties.get(key)
    return value.string_value if value is not None and value.WhichOneof("value") == "string_value" else ""
