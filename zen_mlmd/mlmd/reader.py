"""Batched reads of runs, steps and artifacts, in any registered convention.

Every read here costs a bounded number of MLMD calls, independent of how
many steps or artifacts a run has: ids are collected first and fetched in
one call per kind. Listings page at most 100 rows per call (MLMD's cap).
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb
from ml_metadata.proto import metadata_store_service_pb2 as spb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import Convention, all_conventions, get_convention
from zen_mlmd.mlmd.store import MetadataStore

PAGE_SIZE = 100  # MLMD caps pages at 100; asking for more silently truncates


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class StoreReader:
    """Reads what any known convention recorded in one store."""

    def __init__(self, store: MetadataStore):
        self.store = store

    # -- conventions ---------------------------------------------------------------
    def _conventions_present(self) -> list[Convention]:
        """Conventions whose run context type exists in this store (cached types)."""
        return [
            c for c in all_conventions()
            if self.store.cached_type_id("context", c.run_context_type) is not None
        ]

    def _convention_of_type(self, context_type_name: str) -> Convention:
        for c in all_conventions():
            if context_type_name in (c.run_context_type, c.pipeline_context_type):
                return c
        return get_convention("native")

    # -- pages ---------------------------------------------------------------------
    def _paged_contexts(self, filter_query: str, newest_first: bool = True) -> Iterator[pb.Context]:
        request = spb.GetContextsRequest()
        request.options.max_result_size = PAGE_SIZE
        request.options.order_by_field.field = pb.ListOperationOptions.OrderByField.CREATE_TIME
        request.options.order_by_field.is_asc = not newest_first
        request.options.filter_query = filter_query
        while True:
            response = spb.GetContextsResponse()
            self.store.raw._call("GetContexts", request, response)
            yield from response.contexts
            if not response.next_page_token:
                return
            request.options.next_page_token = response.next_page_token

    # -- pipelines -----------------------------------------------------------------
    def list_pipelines(self) -> list[records.PipelineRecord]:
        found = []
        for c in self._conventions_present():
            query = f"type = {_quote(c.pipeline_context_type)}"
            found.extend(c.decode_pipeline(ctx) for ctx in self._paged_contexts(query, newest_first=False))
        return found

    def get_pipeline(self, name: str) -> records.PipelineRecord | None:
        for c in self._conventions_present():
            context = self.store.get_context_by_type_and_name(c.pipeline_context_type, name)
            if context is not None:
                return c.decode_pipeline(context)
        return None

    # -- runs ----------------------------------------------------------------------
    def iter_runs(self, pipeline_name: str | None = None) -> Iterator[records.RunRecord]:
        """Runs newest first, fetched lazily a page (100) at a time."""
        for c in self._conventions_present():
            query = f"type = {_quote(c.run_context_type)}"
            if pipeline_name is not None:
                query += (f" AND parent_contexts_a.type = {_quote(c.pipeline_context_type)}"
                          f" AND parent_contexts_a.name = {_quote(pipeline_name)}")
            for context in self._paged_contexts(query):
                yield c.decode_run(context, pipeline_name or "")

    def get_run(self, name: str) -> records.RunRecord | None:
        for c in self._conventions_present():
            context = self.store.get_context_by_type_and_name(c.run_context_type, name)
            if context is not None:
                return c.decode_run(context, "")
        return None

    def run_step_states(self, run_ids: Sequence[int]) -> dict[int, list[str]]:
        """Step states of several runs in ONE call (for statuses in listings)."""
        if not run_ids:
            return {}
        ids = ", ".join(str(i) for i in run_ids)
        query = f"contexts_a.id IN ({ids})"
        executions = self.store.get_executions(list_options=_all_matching(query))
        # An execution's contexts are not returned with it: map via run_name.
        by_name = {}
        for execution in executions:
            run_name = execution.custom_properties.get("run_name")
            by_name.setdefault(run_name.string_value if run_name else "", []).append(execution)
        return by_name  # keyed by run name; see RunReader.statuses

    # -- whole runs ----------------------------------------------------------------
    def read_run(self, run: records.RunRecord) -> records.RunData:
        """Steps, events, artifacts and producers of a run in a bounded number of calls."""
        convention = get_convention(run.convention)
        executions = self.store.get_executions_by_context(run.id)
        exec_types = self.store.types_by_id("execution", {e.type_id for e in executions})
        executions = [e for e in executions
                      if convention.is_step_type(exec_types[e.type_id].name)]
        events = self.store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
        events_by_execution: dict[int, list[pb.Event]] = {}
        for event in events:
            events_by_execution.setdefault(event.execution_id, []).append(event)
        steps = tuple(
            convention.decode_step(e, exec_types[e.type_id].name, events_by_execution.get(e.id, ()))
            for e in sorted(executions, key=lambda e: e.id)
        )
        artifact_ids = sorted({event.artifact_id for event in events})
        artifacts = self.get_artifacts(artifact_ids, convention)
        producers = self._producers(artifact_ids, convention)
        # Cached steps reuse outputs of steps in earlier runs: fetch those steps.
        outside = sorted({eid for eid, _ in producers.values()} - {s.id for s in steps})
        original_steps, original_runs = self._steps_by_id(outside, convention)
        return records.RunData(run, steps, artifacts, producers, original_steps, original_runs)

    def get_artifacts(self, ids: Sequence[int], convention: Convention | None = None) -> dict[int, records.ArtifactRecord]:
        if not ids:
            return {}
        convention = convention or get_convention("native")
        artifacts = self.store.get_artifacts_by_id(list(ids))
        types = self.store.types_by_id("artifact", {a.type_id for a in artifacts})
        return {a.id: convention.decode_artifact(a, types.get(a.type_id)) for a in artifacts}

    def _producers(self, artifact_ids: Sequence[int], convention: Convention) -> dict[int, tuple[int, str]]:
        """The first OUTPUT event of each artifact: (execution id, output name)."""
        if not artifact_ids:
            return {}
        producers: dict[int, tuple[int, str]] = {}
        for event in sorted(self.store.get_events_by_artifact_ids(list(artifact_ids)),
                            key=lambda e: (e.milliseconds_since_epoch, e.execution_id)):
            if event.type == pb.Event.OUTPUT and event.artifact_id not in producers:
                producers[event.artifact_id] = (event.execution_id, convention.event_key(event)[0])
        return producers

    def _steps_by_id(self, execution_ids: Sequence[int], convention: Convention):
        if not execution_ids:
            return {}, {}
        executions = self.store.get_executions_by_id(list(execution_ids))
        types = self.store.types_by_id("execution", {e.type_id for e in executions})
        steps = {e.id: convention.decode_step(e, types[e.type_id].name, ()) for e in executions}
        runs = {e.id: e.custom_properties["run_name"].string_value
                for e in executions if "run_name" in e.custom_properties}
        return steps, runs

    # -- single steps --------------------------------------------------------------
    def steps_by_id(self, execution_ids: Iterable[int]) -> dict[int, records.StepRecord]:
        """Steps with their events, by execution id (two calls)."""
        ids = sorted(set(execution_ids))
        if not ids:
            return {}
        executions = self.store.get_executions_by_id(ids)
        types = self.store.types_by_id("execution", {e.type_id for e in executions})
        events: dict[int, list[pb.Event]] = {}
        for event in self.store.get_events_by_execution_ids(ids):
            events.setdefault(event.execution_id, []).append(event)
        convention = get_convention("native")
        return {e.id: convention.decode_step(e, types[e.type_id].name, events.get(e.id, ()))
                for e in executions}

    def find_executions(self, filter_query: str, limit: int = 1, newest_first: bool = True) -> list[pb.Execution]:
        """Executions matching an MLMD filter query (one call for `limit` <= 100)."""
        from ml_metadata.metadata_store.metadata_store import ListOptions, OrderByField

        options = ListOptions(limit=min(limit, PAGE_SIZE), order_by=OrderByField.ID,
                              is_asc=not newest_first, filter_query=filter_query)
        return self.store.get_executions(list_options=options)


def _all_matching(filter_query: str):
    from ml_metadata.metadata_store.metadata_store import ListOptions

    return ListOptions(filter_query=filter_query)
