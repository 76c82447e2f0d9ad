"""The history of one step across runs, through its `node` context.

Every execution of a step is associated with the node context
`<pipeline>.<step>`, so the earlier executions of a step are one indexed
lookup away: the context by name, then its executions, newest first.
"""
from __future__ import annotations

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.native import NativeConvention
from zen_mlmd.mlmd.store import MetadataStore


def step_history(
    store: MetadataStore, pipeline_name: str, step_name: str,
    before_execution_id: int | None = None, limit: int = 20,
) -> list[records.StepRecord]:
    """Executions of `pipeline.step`, newest first (two MLMD calls).

    Args:
        before_execution_id: only executions older than this one.
        limit: at most this many (capped at 100, MLMD's page size).
    """
    from ml_metadata.metadata_store.metadata_store import ListOptions, OrderByField

    convention = NativeConvention()
    node = store.get_context_by_type_and_name(
        convention.node_context_type, f"{pipeline_name}.{step_name}")
    if node is None:
        return []
    query = f"id < {int(before_execution_id)}" if before_execution_id else None
    executions = store.get_executions_by_context(node.id, list_options=ListOptions(
        limit=min(limit, 100), order_by=OrderByField.ID, is_asc=False, filter_query=query))
    types = store.types_by_id("execution", {e.type_id for e in executions})
    return [convention.decode_step(e, types[e.type_id].name, ()) for e in executions]
