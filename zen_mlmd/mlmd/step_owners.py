"""Steps read one at a time (an artifact's producer, a lineage graph) in the convention that wrote them.

`read_run_data` knows its run's convention. Artifact-level reads start from
executions instead: `artifact describe`, `get_artifact` and lineage reach
executions of any run, written by zen_mlmd, TFX or Kubeflow Pipelines. Each
execution's contexts say who wrote it: its run context is claimed by a
convention (`Convention.claims_context`), screened as a run listing screens
it (`Convention.screen_runs`: a TFX sub-pipeline's inner run context is not
the run), and the execution is decoded by that convention, named as
`get_run` names it. Executions in no known run are decoded natively.

Cost: one `get_lineage_subgraph` per 100 executions for their contexts, plus
what the conventions' `screen_runs` and `name_steps` need (a few calls per
convention), never a call per execution.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import Convention
from zen_mlmd.mlmd.convention_registry import get_convention
from zen_mlmd.mlmd.record_names import execution_run_name, is_native_step
from zen_mlmd.mlmd.run_data import contexts_of_executions

if TYPE_CHECKING:
    from zen_mlmd.mlmd.reader import StoreReader


@dataclass(frozen=True)
class OwnedSteps:
    """Executions decoded by the conventions that wrote them."""

    steps: Mapping[int, records.StepRecord]
    #: Run name of each step, by execution id ("" when in no known run).
    runs: Mapping[int, str]
    #: Convention of each step's run, by execution id.
    conventions: Mapping[int, Convention]


def decode_owned_steps(reader: "StoreReader", executions: Sequence[pb.Execution],
                       events: Sequence[pb.Event]) -> OwnedSteps:
    """`executions` (with their `events`) decoded as `get_run` decodes them."""
    if not executions:
        return OwnedSteps({}, {}, {})
    store = reader.store
    types = store.types_by_id("execution", {e.type_id for e in executions})
    events_of: dict[int, list[pb.Event]] = {}
    for event in events:
        events_of.setdefault(event.execution_id, []).append(event)
    # zen_mlmd's own steps name themselves and their run (`is_native_step`):
    # only the others need their contexts, so native reads cost no extra call.
    foreign = [e.id for e in executions if not is_native_step(e)]
    contexts = contexts_of_executions(reader, foreign) if foreign else {}
    owners = _owners(reader, contexts) if contexts else {}
    native = get_convention("native")
    decoded: dict[Convention, list[records.StepRecord]] = {}
    run_names: dict[int, str] = {}
    conventions: dict[int, Convention] = {}
    for execution in executions:
        convention, run = owners.get(execution.id, (native, None))
        type_name = types[execution.type_id].name if execution.type_id in types else execution.type
        own_events = events_of.get(execution.id, ())
        if convention.wants_step_contexts:
            step = convention.decode_step_with_contexts(
                execution, type_name, own_events, contexts.get(execution.id, ()))
        else:
            step = convention.decode_step(execution, type_name, own_events)
        decoded.setdefault(convention, []).append(step)
        conventions[execution.id] = convention
        if run is not None:
            run_names[execution.id] = run.name
        else:
            run_names[execution.id] = execution_run_name(execution)
    steps: dict[int, records.StepRecord] = {}
    for convention, group in decoded.items():
        steps.update({s.id: s for s in convention.name_steps(store, group, structure=None)})
    return OwnedSteps(steps, run_names, conventions)


def _owners(reader: "StoreReader", contexts: Mapping[int, Sequence[pb.Context]],
            ) -> dict[int, tuple[Convention, records.RunRecord]]:
    """For each execution, the convention and run that own it (highest claim priority wins)."""
    present = reader.conventions_present()
    by_run_type: dict[str, list[Convention]] = {}
    for convention in present:
        by_run_type.setdefault(convention.run_context_type, []).append(convention)
    candidates: dict[int, list[tuple[Convention, pb.Context]]] = {}
    run_contexts: dict[int, tuple[Convention, pb.Context]] = {}
    for execution_id, found in contexts.items():
        for context in found:
            sharing = by_run_type.get(context.type)
            owner = sharing and next((c for c in sharing if c.claims_context(context)), None)
            if owner:
                candidates.setdefault(execution_id, []).append((owner, context))
                run_contexts[context.id] = (owner, context)
    runs: dict[int, records.RunRecord] = {}
    for convention in present:
        group = [convention.decode_run(ctx, "") for owner, ctx in run_contexts.values() if owner is convention]
        runs.update({r.id: r for r in convention.screen_runs(reader.store, group, None)} if group else {})
    out = {}
    for execution_id, found in candidates.items():
        kept = [(c, runs[ctx.id]) for c, ctx in found if ctx.id in runs]
        if kept:
            out[execution_id] = max(kept, key=lambda pair: pair[0].claim_priority)
    return out
