"""The steps of a Kubeflow Pipelines run named by their place in its DAG.

KFP's driver records every DAG of a run as a `system.DAGExecution`
(kubeflow/pipelines `backend/src/v2/driver/root_dag.go` `RootDAG`,
`driver/dag.go` `DAG`, `metadata/client.go` `CreateExecution`):

* the root DAG, named `run/<run id>`, with `task_name` "" and no `parent_dag_id`;
* a sub-pipeline (or a condition branch): `task_name` = its task key,
  `parent_dag_id` = the DAG that holds it;
* a ParallelFor loop: a DAG with `iteration_count`, and under it one DAG
  per iteration with the loop's `task_name` and its `iteration_index`;
* a task: `task_name` = its key in the DAG that holds it, `parent_dag_id`
  that DAG.

A step is named by its path from the root, `/`-joined: each enclosing DAG's
`task_name`, an iteration as `<loop>[i]` (the loop DAG itself adds nothing,
its iterations carry the name), then the step's own name:
`for-loop-2[1]/train`, `evaluate-pipeline/report`. The UI walks the same
links (`frontend/src/lib/v2/DynamicFlow.ts`, `getExecutionLayers`). The
group zen_mlmd puts a cluster run's steps in (an exit handler displayed as
`zen-mlmd-run`, see `compiler`) adds nothing either.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records

TASK_NAME = "task_name"
PARENT_DAG_ID = "parent_dag_id"
ITERATION_INDEX = "iteration_index"
ITERATION_COUNT = "iteration_count"
#: The display name of zen_mlmd's exit-handler group (`compiler.RUN_GROUP`).
RUN_GROUP = "zen-mlmd-run"


@dataclass(frozen=True)
class DagRow:
    """What naming needs of one DAG execution."""

    task_name: str
    parent_id: int | None
    iteration_index: int | None
    is_loop: bool
    #: zen_mlmd's group of a cluster run's steps: not part of their names
    is_run_group: bool = False


def dag_rows(executions: Iterable[pb.Execution]) -> dict[int, DagRow]:
    """DAG executions by id."""
    rows = {}
    for execution in executions:
        props = execution.custom_properties
        rows[execution.id] = DagRow(
            task_name=props[TASK_NAME].string_value if TASK_NAME in props else "",
            parent_id=_int(props.get(PARENT_DAG_ID)),
            iteration_index=_int(props.get(ITERATION_INDEX)),
            is_loop=ITERATION_COUNT in props,
            # KFP 2.5 names a DAG's task by its display name, later versions by its key
            is_run_group=RUN_GROUP in (_string(props, "display_name"), _string(props, TASK_NAME)),
        )
    return rows


def path(name: str, parent_id: int | None, dags: Mapping[int, DagRow]) -> str:
    """`name` prefixed with the path of its enclosing DAGs (as far as `dags` knows them)."""
    segments = [name]
    seen: set[int] = set()
    current = parent_id
    while current is not None and current in dags and current not in seen:
        seen.add(current)
        dag = dags[current]
        if dag.parent_id is None:  # the root DAG
            break
        if not dag.is_loop and not dag.is_run_group:
            segments.append(with_index(dag.task_name, dag.iteration_index))
        current = dag.parent_id
    return "/".join(reversed(segments))


def with_index(name: str, index: int | None) -> str:
    return f"{name}[{index}]" if index is not None else name


def parent_of(step: records.StepRecord) -> int | None:
    return _int(step.properties.get(PARENT_DAG_ID))


def place(steps: Sequence[records.StepRecord], dags: Mapping[int, DagRow],
          recorded_twice: Any = None) -> tuple[records.StepRecord, ...]:
    """Steps renamed by their path; steps `recorded_twice(step, group)` says so dropped.

    `recorded_twice` gets each step and the steps sharing its parent DAG and
    task name: on a cluster, KFP's launcher and zen_mlmd both record a task
    zen_mlmd runs, and one of the two records is kept.
    """
    groups: dict[tuple[int | None, str], list[records.StepRecord]] = {}
    for step in steps:
        groups.setdefault((parent_of(step), str(step.properties.get(TASK_NAME, step.name))), []).append(step)
    placed = []
    for step in steps:
        group = groups[(parent_of(step), str(step.properties.get(TASK_NAME, step.name)))]
        if recorded_twice is not None and len(group) > 1 and recorded_twice(step, group):
            continue
        name = with_index(step.name, _int(step.properties.get(ITERATION_INDEX)))
        placed.append(dataclasses.replace(step, name=path(name, parent_of(step), dags)))
    return tuple(placed)


def fetch_ancestors(store: Any, parent_ids: Iterable[int | None]) -> dict[int, pb.Execution]:
    """The DAG executions above some steps: one call per level of nesting."""
    found: dict[int, pb.Execution] = {}
    wanted = {i for i in parent_ids if i is not None}
    while wanted:
        for execution in store.get_executions_by_id(sorted(wanted)):
            found[execution.id] = execution
        missing = wanted - set(found)
        parents = {_int(e.custom_properties.get(PARENT_DAG_ID)) for e in found.values()}
        wanted = {i for i in parents if i is not None and i not in found and i not in missing}
    return found


def _string(props, key: str) -> str:
    return props[key].string_value if key in props else ""


def _int(value: Any) -> int | None:
    """An int property (a proto Value, a decoded value or None) as an int."""
    if value is None:
        return None
    if isinstance(value, pb.Value):
        kind = value.WhichOneof("value")
        value = getattr(value, kind) if kind else None
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
