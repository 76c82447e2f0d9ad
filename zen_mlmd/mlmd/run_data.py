"""Reading one whole run: steps, events, artifacts, producers, cached originals.

A fixed number of MLMD calls however many steps and artifacts the run has
(for conventions that name steps through their contexts, one more call per
further 100 steps, as MLMD caps the starting nodes of a lineage query).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Mapping, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import Convention
from zen_mlmd.mlmd.convention_registry import get_convention
from zen_mlmd.mlmd.record_names import execution_run_name

if TYPE_CHECKING:
    from zen_mlmd.mlmd.reader import StoreReader

PAGE_SIZE = 100


def read_run_data(reader: "StoreReader", run: records.RunRecord) -> records.RunData:
    """Everything recorded about `run` (see the module docstring for the cost)."""
    store = reader.store
    convention = get_convention(run.convention)
    executions = store.get_executions_by_context(run.id)
    exec_types = store.types_by_id("execution", {e.type_id for e in executions})
    # Executions that are not steps (KFP's DAG rows) say where the steps are.
    structure = [e for e in executions if not convention.is_step_type(exec_types[e.type_id].name)]
    executions = [e for e in executions if convention.is_step(e, exec_types[e.type_id].name)]
    events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
    events_by_execution: dict[int, list[pb.Event]] = {}
    for event in events:
        events_by_execution.setdefault(event.execution_id, []).append(event)
    artifact_ids = sorted({event.artifact_id for event in events})
    artifacts = reader.get_artifacts(artifact_ids, convention)
    # An artifact output by a step of this run that was not served from the
    # cache was created by that step: its producer is in the events already
    # read. Only inputs made by other runs and outputs reused by cached steps
    # need the producer query.
    cached = {e.id for e in executions if e.last_known_state == pb.Execution.CACHED}
    producers: dict[int, tuple[int, str]] = {}
    for event in events:
        if (event.type == pb.Event.OUTPUT and event.execution_id not in cached
                and event.artifact_id not in producers):
            producers[event.artifact_id] = (event.execution_id, convention.event_key(event)[0])
    producers.update(reader.producers([a for a in artifact_ids if a not in producers], convention))
    # Cached steps reuse outputs of steps in earlier runs: fetch those steps.
    outside_ids = sorted({eid for eid, _ in producers.values()} - {e.id for e in executions})
    outside = store.get_executions_by_id(outside_ids) if outside_ids else []
    exec_types.update(store.types_by_id("execution", {e.type_id for e in outside}))
    contexts: dict[int, list[pb.Context]] = {}
    if convention.wants_step_contexts:
        contexts = contexts_of_executions(reader, [e.id for e in (*executions, *outside)])
    elif any(not execution_run_name(e) for e in outside):
        # the runs of reused steps recorded by another tool: from their contexts
        contexts = contexts_of_executions(reader, [e.id for e in outside if not execution_run_name(e)])

    def decode(execution: pb.Execution, execution_events) -> records.StepRecord:
        type_name = exec_types[execution.type_id].name
        if convention.wants_step_contexts:
            return convention.decode_step_with_contexts(
                execution, type_name, execution_events, contexts.get(execution.id, ()))
        return convention.decode_step(execution, type_name, execution_events)

    steps = convention.name_steps(store, [
        _with_original(decode(e, events_by_execution.get(e.id, ())), producers)
        for e in sorted(executions, key=lambda e: e.id)], structure=structure)
    # A cached step whose writer recorded outputs of its own (KFP's launcher
    # does, for a task served from zen_mlmd's cache) names its original only
    # by id: one more call for those, when there are any.
    known = {e.id for e in (*executions, *outside)}
    named = sorted({s.original_execution_id for s in steps if s.original_execution_id is not None} - known)
    if named:
        more = store.get_executions_by_id(named)
        exec_types.update(store.types_by_id("execution", {e.type_id for e in more}))
        outside = [*outside, *more]
    original_steps = {s.id: s for s in convention.name_steps(
        store, [decode(e, ()) for e in outside], structure=None)}
    original_runs = {e.id: _run_name_of(e, contexts.get(e.id, ()), convention) for e in outside}
    original_runs = {eid: name for eid, name in original_runs.items() if name}
    artifacts = _with_producers(artifacts, producers, {**original_steps, **{s.id: s for s in steps}},
                                convention)
    return records.RunData(run, steps, artifacts, producers, original_steps, original_runs)


def _with_producers(artifacts: Mapping[int, records.ArtifactRecord], producers: Mapping[int, tuple[int, str]],
                    steps: Mapping[int, records.StepRecord], convention: Convention,
                    ) -> dict[int, records.ArtifactRecord]:
    """Artifacts completed with what their producing steps recorded (`artifact_with_producer`)."""
    out = dict(artifacts)
    for artifact_id, (execution_id, output_name) in producers.items():
        if artifact_id in out and execution_id in steps:
            out[artifact_id] = convention.artifact_with_producer(out[artifact_id], steps[execution_id], output_name)
    return out


def _run_name_of(execution: pb.Execution, contexts: Sequence[pb.Context], convention: Convention) -> str:
    run_context = next((c for c in contexts if c.type == convention.run_context_type), None)
    if run_context is not None:
        return convention.decode_run(run_context, "").name
    return execution_run_name(execution)


def contexts_of_executions(reader: "StoreReader", execution_ids: Sequence[int]) -> dict[int, list[pb.Context]]:
    """The contexts of each execution: one `get_lineage_subgraph` call per 100 executions.

    Zero hops from the executions, with only contexts and associations in the
    field mask: nothing else is read, however long the history. MLMD
    silently drops starting nodes beyond ~100, hence the pages.
    """
    store = reader.store
    by_id: dict[int, pb.Context] = {}
    out: dict[int, list[int]] = {}
    ids = sorted(set(execution_ids))
    for start in range(0, len(ids), PAGE_SIZE):
        query = pb.LineageSubgraphQueryOptions(max_num_hops=0)
        page = ", ".join(str(i) for i in ids[start:start + PAGE_SIZE])
        query.starting_executions.filter_query = f"id IN ({page})"
        graph = store.get_lineage_subgraph(query, ["contexts", "associations"])
        for context in graph.contexts:
            by_id.setdefault(context.id, context)
        for association in graph.associations:
            out.setdefault(association.execution_id, []).append(association.context_id)
    missing_types = {c.type_id for c in by_id.values() if not c.type}
    if missing_types:  # MLMD fills `type` in; older servers may not
        names = {i: t.name for i, t in store.types_by_id("context", missing_types).items()}
        for context in by_id.values():
            if not context.type and context.type_id in names:
                context.type = names[context.type_id]
    return {eid: [by_id[cid] for cid in dict.fromkeys(cids) if cid in by_id] for eid, cids in out.items()}


def _with_original(step: records.StepRecord, producers: Mapping[int, tuple[int, str]]) -> records.StepRecord:
    """A CACHED step linked to the execution that first produced its outputs.

    zen_mlmd records the original execution id; TFX records a cache hit only
    as OUTPUT events to the reused artifacts.
    """
    if step.state != records.CACHED or step.original_execution_id is not None:
        return step
    for ids in step.outputs.values():
        for artifact_id in ids:
            producer = producers.get(artifact_id)
            if producer is not None and producer[0] != step.id:
                return dataclasses.replace(step, original_execution_id=producer[0])
    return step
