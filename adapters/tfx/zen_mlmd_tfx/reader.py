"""A store reader that tells TFX runs from zen_mlmd's own when they share context types.

zen_mlmd's native convention and TFX's portable launcher both name their
contexts ``pipeline``, ``pipeline_run`` and ``node``, and TFX's legacy driver
also uses ``pipeline``. `zen_mlmd.mlmd.reader.StoreReader` picks a convention
per context *type*, so in a store that holds runs of both it lists every run
once per convention. `ConventionAwareReader` decides per *context*:

* the conventions sharing a context type are asked in descending
  `claim_priority`; the first whose `claims_context(context)` is true decodes
  it (a convention without these hooks claims everything at priority 0, which
  is what the native convention does today);
* run listings use each convention's `runs_filter` (legacy TFX runs have no
  parent link to their pipeline), and a run whose context does not name its
  pipeline gets it from its parent, in one call per page of runs;
* a convention with `wants_step_contexts` receives each execution's contexts
  (TFX names steps only through their ``node`` context), fetched with one
  ``get_lineage_subgraph`` call per 100 executions;
* a CACHED step without a recorded original gets the execution that first
  produced its outputs (TFX records a cache hit only as OUTPUT events to the
  reused artifacts).

Every read stays bounded: no MLMD call per step or per artifact. The same
logic is proposed for `StoreReader` itself (see the adapter's README); this
class exists so that TFX stores read correctly until core adopts it.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Iterator, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import Convention, get_convention
from zen_mlmd.mlmd.reader import PAGE_SIZE, StoreReader, _quote


def claim_priority(convention: Convention) -> int:
    """A convention's `claim_priority`; 0 for conventions without the hook."""
    return int(getattr(convention, "claim_priority", 0))


def claims(convention: Convention, context: pb.Context) -> bool:
    """Whether `convention` wrote `context`; conventions without the hook claim all."""
    hook = getattr(convention, "claims_context", None)
    return True if hook is None else bool(hook(context))


def runs_filter(convention: Convention, pipeline_name: str | None) -> str:
    """The run-listing filter of `convention` (the parent-link query by default)."""
    hook = getattr(convention, "runs_filter", None)
    if hook is not None:
        return hook(pipeline_name)
    query = f"type = {_quote(convention.run_context_type)}"
    if pipeline_name is not None:
        query += (f" AND parent_contexts_a.type = {_quote(convention.pipeline_context_type)}"
                  f" AND parent_contexts_a.name = {_quote(pipeline_name)}")
    return query


class ConventionAwareReader(StoreReader):
    """`StoreReader` deciding each pipeline and run's convention per context."""

    # -- conventions -----------------------------------------------------------------
    def _ordered_conventions(self) -> list[Convention]:
        return sorted(self._conventions_present(), key=lambda c: -claim_priority(c))

    def _claimer(self, context: pb.Context, candidates: Sequence[Convention]) -> Convention | None:
        return next((c for c in candidates if claims(c, context)), None)

    # -- pipelines -------------------------------------------------------------------
    def list_pipelines(self) -> list[records.PipelineRecord]:
        present = self._ordered_conventions()
        found = []
        for context_type in dict.fromkeys(c.pipeline_context_type for c in present):
            sharing = [c for c in present if c.pipeline_context_type == context_type]
            for context in self._paged_contexts(f"type = {_quote(context_type)}", newest_first=False):
                owner = self._claimer(context, sharing)
                if owner is not None:
                    found.append(owner.decode_pipeline(context))
        return found

    def get_pipeline(self, name: str) -> records.PipelineRecord | None:
        present = self._ordered_conventions()
        for context_type in dict.fromkeys(c.pipeline_context_type for c in present):
            context = self.store.get_context_by_type_and_name(context_type, name)
            if context is None:
                continue
            owner = self._claimer(context, [c for c in present if c.pipeline_context_type == context_type])
            if owner is not None:
                return owner.decode_pipeline(context)
        return None

    # -- runs ------------------------------------------------------------------------
    def iter_runs(self, pipeline_name: str | None = None) -> Iterator[records.RunRecord]:
        """Runs newest first per convention, a page (100) at a time, each run once."""
        present = self._ordered_conventions()
        queried: set[str] = set()
        for convention in present:
            query = runs_filter(convention, pipeline_name)
            if query in queried:  # conventions sharing a run type share its listing
                continue
            queried.add(query)
            sharing = [c for c in present if c.run_context_type == convention.run_context_type]
            contexts = self._paged_contexts(query)
            while True:
                page = list(itertools.islice(contexts, PAGE_SIZE))
                if not page:
                    break
                runs = []
                for context in page:
                    owner = self._claimer(context, sharing)
                    if owner is not None:
                        runs.append(owner.decode_run(context, pipeline_name or ""))
                yield from self._with_pipeline_names(runs)

    def get_run(self, name: str) -> records.RunRecord | None:
        looked_up: dict[str, pb.Context | None] = {}
        for convention in self._ordered_conventions():
            run_type = convention.run_context_type
            if run_type not in looked_up:
                looked_up[run_type] = self.store.get_context_by_type_and_name(run_type, name)
            context = looked_up[run_type]
            if context is not None and claims(convention, context):
                return self._with_pipeline_names([convention.decode_run(context, "")])[0]
        return None

    def _with_pipeline_names(self, runs: list[records.RunRecord]) -> list[records.RunRecord]:
        """Fill in pipeline names from parent contexts: 1 call, plus 1 per parent if several."""
        missing = [r for r in runs if not r.pipeline_name]
        if not missing:
            return runs
        names: dict[int, str] = {}
        for convention_name, group in itertools.groupby(
                sorted(missing, key=lambda r: r.convention), key=lambda r: r.convention):
            pipeline_type = get_convention(convention_name).pipeline_context_type
            ids = ", ".join(str(r.id) for r in group)
            parents = list(self._paged_contexts(
                f"type = {_quote(pipeline_type)} AND child_contexts_a.id IN ({ids})"))
            if len(parents) == 1:
                names.update({int(i): parents[0].name for i in ids.split(", ")})
                continue
            for parent in parents:
                for child in self._paged_contexts(f"id IN ({ids}) AND parent_contexts_a.id = {parent.id}"):
                    names[child.id] = parent.name
        return [dataclasses.replace(r, pipeline_name=names[r.id]) if r.id in names and not r.pipeline_name
                else r for r in runs]

    # -- whole runs ------------------------------------------------------------------
    def read_run(self, run: records.RunRecord) -> records.RunData:
        """Steps, events, artifacts, producers and cached originals.

        A fixed number of calls for runs of up to 100 steps, one more call per
        further 100 (the contexts are paged as MLMD caps starting nodes).
        """
        convention = get_convention(run.convention)
        executions = self.store.get_executions_by_context(run.id)
        exec_types = self.store.types_by_id("execution", {e.type_id for e in executions})
        executions = [e for e in executions if convention.is_step_type(exec_types[e.type_id].name)]
        events = self.store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
        events_by_execution: dict[int, list[pb.Event]] = {}
        for event in events:
            events_by_execution.setdefault(event.execution_id, []).append(event)
        artifact_ids = sorted({event.artifact_id for event in events})
        artifacts = self.get_artifacts(artifact_ids, convention)
        producers = self._producers(artifact_ids, convention)
        # Cached steps reuse outputs of steps in earlier runs: fetch those steps.
        outside_ids = sorted({eid for eid, _ in producers.values()} - {e.id for e in executions})
        outside = self.store.get_executions_by_id(outside_ids) if outside_ids else []
        exec_types.update(self.store.types_by_id("execution", {e.type_id for e in outside}))
        contexts = {}
        if getattr(convention, "wants_step_contexts", False):
            contexts = self._contexts_of_executions([e.id for e in (*executions, *outside)])

        def decode(execution: pb.Execution, execution_events) -> records.StepRecord:
            type_name = exec_types[execution.type_id].name
            if contexts:
                return convention.decode_step_with_contexts(
                    execution, type_name, execution_events, contexts.get(execution.id, ()))
            return convention.decode_step(execution, type_name, execution_events)

        steps = tuple(_with_original(decode(e, events_by_execution.get(e.id, ())), producers)
                      for e in sorted(executions, key=lambda e: e.id))
        original_steps = {e.id: decode(e, ()) for e in outside}
        original_runs = {}
        for execution in outside:
            run_context = next((c for c in contexts.get(execution.id, ())
                                if c.type == convention.run_context_type), None)
            if run_context is not None:
                original_runs[execution.id] = run_context.name
            elif "run_name" in execution.custom_properties:
                original_runs[execution.id] = execution.custom_properties["run_name"].string_value
        return records.RunData(run, steps, artifacts, producers, original_steps, original_runs)

    def _contexts_of_executions(self, execution_ids: Sequence[int]) -> dict[int, list[pb.Context]]:
        """The contexts of each execution: one `get_lineage_subgraph` call per 100 executions.

        Zero hops from the executions with only contexts and associations in
        the field mask: nothing else is read, however long the history. MLMD
        silently drops starting nodes beyond ~100, hence the pages.
        """
        by_id: dict[int, pb.Context] = {}
        out: dict[int, list[pb.Context]] = {}
        ids = sorted(set(execution_ids))
        for start in range(0, len(ids), PAGE_SIZE):
            query = pb.LineageSubgraphQueryOptions(max_num_hops=0)
            page = ", ".join(str(i) for i in ids[start:start + PAGE_SIZE])
            query.starting_executions.filter_query = f"id IN ({page})"
            graph = self.store.get_lineage_subgraph(query, ["contexts", "associations"])
            for context in graph.contexts:
                by_id.setdefault(context.id, context)
            for association in graph.associations:
                out.setdefault(association.execution_id, []).append(association.context_id)
        missing_types = {c.type_id for c in by_id.values() if not c.type}
        if missing_types:  # MLMD fills `type` in; older servers may not
            type_names = {i: t.name for i, t in self.store.types_by_id("context", missing_types).items()}
            for context in by_id.values():
                if not context.type and context.type_id in type_names:
                    context.type = type_names[context.type_id]
        return {eid: [by_id[cid] for cid in dict.fromkeys(cids) if cid in by_id] for eid, cids in out.items()}


def _with_original(step: records.StepRecord, producers: dict[int, tuple[int, str]]) -> records.StepRecord:
    """A CACHED step linked to the execution that first produced its outputs."""
    if step.state != records.CACHED or step.original_execution_id is not None:
        return step
    for ids in step.outputs.values():
        for artifact_id in ids:
            producer = producers.get(artifact_id)
            if producer is not None and producer[0] != step.id:
                return dataclasses.replace(step, original_execution_id=producer[0])
    return step
