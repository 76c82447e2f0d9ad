"""TFX async pipelines: no run contexts, so the pipeline is the run.

An ASYNC pipeline's nodes are compiled without a ``pipeline_run`` context
(tfx ``dsl/compiler/node_contexts_compiler.compile_node_contexts`` adds it in
SYNC mode only): each node runs whenever new inputs arrive, and its
executions belong to the ``pipeline`` and ``node`` contexts alone. zen_mlmd
lists such a pipeline as ONE run named like the pipeline, holding every
execution of its nodes; the executions of node N are the steps ``N[0]``,
``N[1]``, ... in the order TFX started them (as loop iterations are named),
so names never change as the pipeline keeps running.

A ``pipeline`` context that is the parent of any ``pipeline_run`` context
(a sync pipeline, or a sub-pipeline) is not an async run.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import properties_of, quote
from zen_mlmd_tfx.convention import NODE_CONTEXT, PIPELINE_CONTEXT, RUN_CONTEXT, TfxConvention


class TfxAsyncConvention(TfxConvention):
    """Async TFX pipelines, each read as one run (see the module docstring)."""

    name = "tfx_async"
    run_context_type = PIPELINE_CONTEXT
    #: Below `tfx`: a TFX pipeline context is decoded as a pipeline by `tfx`.
    claim_priority = 5

    def claims_context(self, context: pb.Context) -> bool:
        """A TFX pipeline context (not native, not legacy TFX's, which has a typed `pipeline_name`)."""
        return super().claims_context(context) and "pipeline_name" not in context.properties

    def runs_filter(self, pipeline_name: str | None) -> str:
        query = f"type = {quote(PIPELINE_CONTEXT)}"
        if pipeline_name is not None:
            query += f" AND name = {quote(pipeline_name)}"
        return query

    def decode_run(self, context: pb.Context, pipeline_name: str) -> records.RunRecord:
        return records.RunRecord(
            id=context.id, name=context.name, pipeline_name=context.name,
            created_ms=context.create_time_since_epoch,
            updated_ms=context.last_update_time_since_epoch,
            properties={**properties_of(context), "execution_mode": "ASYNC"}, convention=self.name,
        )

    def screen_runs(self, store: Any, runs: Sequence[records.RunRecord],
                    pipeline_name: str | None) -> list[records.RunRecord]:
        """Pipelines with run contexts are sync pipelines, not async runs.

        One call per page; none when listing one pipeline's runs, which the
        reader asks for only when that pipeline has no run contexts
        (`Convention.runs_are_pipelines`).
        """
        if pipeline_name is not None:
            return [r for r in runs if r.pipeline_name == pipeline_name]
        if not runs:
            return []
        ids = ", ".join(str(r.id) for r in runs)
        sync = {c.id for c in _contexts(
            store, f"type = {quote(PIPELINE_CONTEXT)} AND id IN ({ids}) "
                   f"AND child_contexts_a.type = {quote(RUN_CONTEXT)}")}
        return [r for r in runs if r.id not in sync]

    def name_steps(self, store: Any, steps: Sequence[records.StepRecord], *,
                   structure: Sequence[pb.Execution] | None) -> tuple[records.StepRecord, ...]:
        """Each execution of a node named ``node[k]``, k its rank among the node's executions.

        A whole run holds every execution: no call. For some steps only (an
        artifact's producer), the node's earlier executions are read: one
        query per node, paged at 100.
        """
        rank: dict[int, int] = {}
        for node_steps in _by_node(steps).values():
            node_context = node_steps[0].properties.get("__node_context_id__")
            if structure is not None or node_context is None:
                ids = sorted(s.id for s in node_steps)
            else:
                last = max(s.id for s in node_steps)
                ids = sorted(e.id for e in _executions(
                    store, f"contexts_a.id = {int(node_context)} AND id <= {last}"))
            rank.update({eid: k for k, eid in enumerate(ids)})
        return tuple(
            dataclasses.replace(step, name=f"{step.name}[{rank[step.id]}]",
                                properties={k: v for k, v in step.properties.items()
                                            if k != "__node_context_id__"})
            if step.id in rank else step
            for step in steps)

    def decode_step_with_contexts(self, execution, type_name, events, contexts) -> records.StepRecord:
        step = super().decode_step_with_contexts(execution, type_name, events, contexts)
        node = next((c for c in contexts if c.type == NODE_CONTEXT), None)
        if node is None:
            return step
        # carried to name_steps, which ranks the node's executions
        return dataclasses.replace(step, properties={**step.properties, "__node_context_id__": node.id})


def _by_node(steps: Sequence[records.StepRecord]) -> dict[str, list[records.StepRecord]]:
    grouped: dict[str, list[records.StepRecord]] = {}
    for step in steps:
        grouped.setdefault(step.name, []).append(step)
    return grouped


def _contexts(store: Any, filter_query: str) -> list[pb.Context]:
    from ml_metadata.metadata_store.metadata_store import ListOptions

    return store.get_contexts(list_options=ListOptions(filter_query=filter_query))


def _executions(store: Any, filter_query: str) -> list[pb.Execution]:
    from ml_metadata.metadata_store.metadata_store import ListOptions

    return store.get_executions(list_options=ListOptions(filter_query=filter_query))
