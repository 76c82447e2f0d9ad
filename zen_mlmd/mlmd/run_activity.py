"""Step states and last-seen times of several runs at once (`StoreReader.run_activity`).

One filter query (`contexts_a.id IN (...)`) for all the runs, paged at 100
executions per call. MLMD does not return an execution's contexts:
executions are matched to runs by their run name (`execution_run_name`),
and those of conventions without it (TFX) by their contexts, fetched in one
lineage query per 100 executions, never one call per run.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import EXECUTION_STATE_NAMES
from zen_mlmd.mlmd.convention_registry import get_convention
from zen_mlmd.mlmd.record_names import execution_run_name
from zen_mlmd.mlmd.run_data import contexts_of_executions

if TYPE_CHECKING:
    from zen_mlmd.mlmd.reader import StoreReader


def read_run_activity(reader: "StoreReader", runs: Sequence[records.RunRecord],
                      ) -> tuple[dict[int, tuple[str, ...]], dict[int, int]]:
    """Step states of `runs`, and when each was last seen (ms), by run id."""
    from ml_metadata.metadata_store.metadata_store import ListOptions

    if not runs:
        return {}, {}
    ids = ", ".join(str(run.id) for run in runs)
    executions = reader.store.get_executions(
        list_options=ListOptions(filter_query=f"contexts_a.id IN ({ids})"))
    exec_types = reader.store.types_by_id("execution", {e.type_id for e in executions})
    id_by_name = {run.name: run.id for run in runs}
    convention_of = {run.id: get_convention(run.convention) for run in runs}
    run_of: dict[int, int] = {}
    unmatched = []
    for execution in executions:
        run_id = id_by_name.get(execution_run_name(execution))
        if run_id is None:
            unmatched.append(execution.id)
        else:
            run_of[execution.id] = run_id
    if unmatched:
        for execution_id, contexts in contexts_of_executions(reader, unmatched).items():
            run_id = next((c.id for c in contexts if c.id in convention_of), None)
            if run_id is not None:
                run_of[execution_id] = run_id
    states: dict[int, list[str]] = {run.id: [] for run in runs}
    last_seen = {run.id: run.updated_ms for run in runs}
    for execution in executions:
        run_id = run_of.get(execution.id)
        if run_id is None:
            continue
        last_seen[run_id] = max(last_seen[run_id], execution.last_update_time_since_epoch)
        if convention_of[run_id].is_step(execution, exec_types[execution.type_id].name):
            states[run_id].append(EXECUTION_STATE_NAMES.get(execution.last_known_state, records.UNKNOWN))
    return {run_id: tuple(found) for run_id, found in states.items()}, last_seen
