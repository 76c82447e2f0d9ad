"""Batched reads of runs, steps and artifacts, in any registered convention.

Every read here costs a bounded number of MLMD calls, independent of how
many steps or artifacts a run has: ids are collected first and fetched in
one call per kind. Listings page at most 100 rows per call (MLMD's cap).
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb
from ml_metadata.proto import metadata_store_service_pb2 as spb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import Convention
from zen_mlmd.mlmd.convention_registry import all_conventions, get_convention
from zen_mlmd.mlmd.convention import quote as _quote
from zen_mlmd.mlmd.run_activity import read_run_activity
from zen_mlmd.mlmd.run_data import read_run_data
from zen_mlmd.mlmd.soft_delete import DELETED_PROPERTY
from zen_mlmd.mlmd.store import MetadataStore

PAGE_SIZE = 100  # MLMD caps pages at 100; asking for more silently truncates


@dataclass(frozen=True)
class RunCursor:
    """Where a listing of runs stopped: the listing (one per run filter) and the last run's place in it."""

    listing: int
    created_ms: int
    id: int


@dataclass(frozen=True)
class ArtifactContext:
    """One artifact with the step execution that produced it."""

    artifact: records.ArtifactRecord
    #: The execution that first output the artifact (None for an imported one).
    producer: records.StepRecord | None
    #: Run name of the producer ("" when unknown).
    producer_run: str
    #: The producer's input and output artifacts by id, this artifact included.
    artifacts: Mapping[int, records.ArtifactRecord]
    #: The convention the producer was decoded in ("" for an imported artifact).
    producer_convention: str = ""


class StoreReader:
    """Reads what any known convention recorded in one store."""

    def __init__(self, store: MetadataStore):
        self.store = store

    # -- conventions ---------------------------------------------------------------
    def conventions_present(self) -> list[Convention]:
        """Conventions whose run context type exists in this store (see `_conventions_present`)."""
        return self._conventions_present()

    def _conventions_present(self) -> list[Convention]:
        """Conventions whose run context type exists in this store, by `claim_priority`.

        Conventions sharing a context type (native and TFX both use
        `pipeline_run`) are asked in that order whether they wrote a context.
        One call, however many conventions are installed.
        """
        types = {t.name for t in self.store.get_context_types()}
        present = [c for c in all_conventions() if c.run_context_type in types]
        return sorted(present, key=lambda c: -c.claim_priority)

    @staticmethod
    def _claimer(context: pb.Context, candidates: Sequence[Convention]) -> Convention | None:
        """The first convention that claims `context`."""
        return next((c for c in candidates if c.claims_context(context)), None)

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
    def list_pipelines(self, limit: int | None = None) -> list[records.PipelineRecord]:
        """Pipelines, oldest first; with `limit`, at most that many (listing stops there)."""
        present = self._conventions_present()
        found = []
        for context_type in dict.fromkeys(c.pipeline_context_type for c in present):
            sharing = [c for c in present if c.pipeline_context_type == context_type]
            for ctx in self._paged_contexts(f"type = {_quote(context_type)}", newest_first=False):
                if limit is not None and len(found) >= limit:
                    return found
                owner = self._claimer(ctx, sharing)
                if owner is not None:
                    found.append(owner.decode_pipeline(ctx))
        return found

    def get_pipeline(self, name: str) -> records.PipelineRecord | None:
        """The pipeline called `name` (or whose context a convention names after it)."""
        present = self._conventions_present()
        lookups = dict.fromkeys((c.pipeline_context_type, n) for c in present
                                for n in (name, c.pipeline_context_name(name)))
        for context_type, context_name in lookups:
            context = self.store.get_context_by_type_and_name(context_type, context_name)
            owner = context is not None and self._claimer(
                context, [c for c in present if c.pipeline_context_type == context_type])
            if owner:
                return owner.decode_pipeline(context)
        return None

    # -- runs ----------------------------------------------------------------------
    def iter_runs(self, pipeline_name: str | None = None) -> Iterator[records.RunRecord]:
        """Runs newest first, fetched lazily a page (100) at a time, each run once."""
        for page in self.iter_run_pages(pipeline_name):
            yield from page

    def iter_run_listing(
        self, pipeline_name: str | None = None, *, name_contains: str = "",
        after: RunCursor | None = None,
    ) -> Iterator[tuple[RunCursor, records.RunRecord]]:
        """Runs as `iter_runs` lists them, each with the cursor that resumes the listing after it.

        Args:
            name_contains: only runs whose context name contains this text
                (MLMD's `LIKE`: case-insensitive on SQLite and MySQL; `%` and
                `_` are wildcards, and so is a backslash here: callers that
                want the text as written filter again, as `list_runs` does).
            after: continue after the run this cursor came with: the first
                page is one MLMD call however deep into the store it starts.
        """
        for listing, page in self._listing_pages(pipeline_name, name_contains, after):
            for run in page:
                yield RunCursor(listing, run.created_ms, run.id), run

    def iter_run_pages(self, pipeline_name: str | None = None) -> Iterator[list[records.RunRecord]]:
        """Runs newest first, one list per MLMD page of contexts (one call, at most 100 runs).

        All runs come from ONE listing, the conventions' filters joined by
        OR, so a convention costs no query of its own; a page may then hold
        contexts that are not runs (pipelines), and fewer runs. One
        pipeline's runs need one listing per distinct filter (they join
        parent contexts, and an OR across MLMD's inner joins matches
        nothing); a convention whose runs are pipeline contexts
        (`Convention.runs_are_pipelines`) is listed last, and only when no
        run context of that pipeline was found.
        """
        for _, page in self._listing_pages(pipeline_name):
            yield page

    def _listing_pages(self, pipeline_name: str | None, name_contains: str = "",
                       after: RunCursor | None = None) -> Iterator[tuple[int, list[records.RunRecord]]]:
        """(listing index, page of runs) as `iter_run_pages` describes, narrowed by name and cursor."""
        present = self._conventions_present()
        listings: dict[str, list[Convention]] = {}
        if pipeline_name is None:
            filters = list(dict.fromkeys(c.runs_filter(None) for c in present))
            if filters:
                listings[filters[0] if len(filters) == 1 else " OR ".join(f"({q})" for q in filters)] = present
        else:
            for c in sorted(present, key=lambda c: c.runs_are_pipelines):
                listings.setdefault(c.runs_filter(pipeline_name), []).append(c)
        # pipeline context types of which a run context was found
        with_run_contexts: set[str] = set()
        for listing, (query, listed) in enumerate(listings.items()):
            if after is not None and listing < after.listing:
                continue
            if pipeline_name is not None and all(
                    c.runs_are_pipelines and c.pipeline_context_type in with_run_contexts for c in listed):
                continue
            if name_contains or (after is not None and listing == after.listing):
                query = f"({query})"
            if name_contains:
                # a backslash escapes in some databases' LIKE and not in others: `_`
                # (any one character) keeps every run whose name holds the text
                query += f" AND name LIKE {_quote('%' + name_contains.replace(chr(92), '_') + '%')}"
            if after is not None and listing == after.listing:
                # MLMD orders by create time, then id, both descending
                query += (f" AND (create_time_since_epoch < {after.created_ms} OR "
                          f"(create_time_since_epoch = {after.created_ms} AND id < {after.id}))")
            contexts = self._paged_contexts(query)
            while True:
                page = list(itertools.islice(contexts, PAGE_SIZE))
                if not page:
                    break
                with_run_contexts.update(c.pipeline_context_type for c in listed if not c.runs_are_pipelines)
                runs = []
                for context in page:
                    # every convention sharing the context type is asked, but a
                    # run is yielded only by the listing of the one that wrote it
                    sharing = [o for o in present if o.run_context_type == context.type]
                    owner = self._claimer(context, sharing)
                    if DELETED_PROPERTY in context.custom_properties:
                        continue  # soft-deleted over gRPC: its rows remain, hidden
                    if owner is not None and owner in listed:
                        runs.append(owner.decode_run(context, pipeline_name or ""))
                yield listing, self._with_pipeline_names(self._screened(runs, pipeline_name))

    def get_run(self, name: str) -> records.RunRecord | None:
        present = self._conventions_present()
        for run_type in dict.fromkeys(c.run_context_type for c in present):
            context = self.store.get_context_by_type_and_name(run_type, name)
            owner = context is not None and self._claimer(
                context, [c for c in present if c.run_context_type == run_type])
            if owner:
                runs = self._screened([_decoded(owner, context)], None)
                if runs:
                    return self._with_pipeline_names(runs)[0]
        return self._run_known_by(name, present)

    def _run_known_by(self, name: str, present: Sequence[Convention]) -> records.RunRecord | None:
        """A run whose context has another name than the run (`Convention.find_run_context`)."""
        for convention in present:
            context = convention.find_run_context(self.store, name)
            if context is not None:
                runs = self._screened([_decoded(convention, context)], None)
                if runs:
                    return self._with_pipeline_names(runs)[0]
        return None

    def unrecognised_contexts(self) -> dict[str, int]:
        """Contexts of types no installed convention reads: count by type name.

        Two calls, plus one per 100 such contexts: meant for telling a user
        why a store shows no runs, not for listings.
        """
        known = {t for c in all_conventions() for t in c.context_types()}
        unknown = sorted(t.name for t in self.store.get_context_types() if t.name not in known)
        counts: dict[str, int] = {}
        if unknown:
            listed = ", ".join(_quote(name) for name in unknown)
            for context in self._paged_contexts(f"type IN ({listed})"):
                counts[context.type] = counts.get(context.type, 0) + 1
        return counts

    def _screened(self, runs: list[records.RunRecord], pipeline_name: str | None) -> list[records.RunRecord]:
        """`runs` as each one's convention screens them (`Convention.screen_runs`), in order."""
        kept: set[int] = set()
        replaced: dict[int, records.RunRecord] = {}
        for convention_name in dict.fromkeys(r.convention for r in runs):
            group = [r for r in runs if r.convention == convention_name]
            for run in get_convention(convention_name).screen_runs(self.store, group, pipeline_name):
                kept.add(run.id)
                replaced[run.id] = run
        return [replaced[r.id] for r in runs if r.id in kept]

    def _with_pipeline_names(self, runs: list[records.RunRecord]) -> list[records.RunRecord]:
        """Pipeline names from parent contexts for runs that do not carry one.

        One call per page of runs (plus one per parent when the page holds
        runs of several pipelines); zen_mlmd's own runs carry the name.
        """
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

    def run_step_states(self, runs: Sequence[records.RunRecord]) -> dict[int, tuple[str, ...]]:
        """Step states of several runs, by run id, for statuses in listings (see `run_activity`)."""
        return self.run_activity(runs)[0]

    def run_activity(self, runs: Sequence[records.RunRecord],
                     ) -> tuple[dict[int, tuple[str, ...]], dict[int, int]]:
        """Step states of several runs, and when each was last seen (ms), by run id.

        "Last seen" is the newest update time of the run's context and
        executions: every step write moves it, heartbeats included
        (`zen_mlmd.tracking.heartbeat`).

        A bounded number of calls for all the runs (`zen_mlmd.mlmd.run_activity`).
        """
        return read_run_activity(self, runs)

    def read_run_steps(self, run: records.RunRecord) -> tuple[records.StepRecord, ...]:
        """The steps of one run without their events (two calls, types cached)."""
        convention = get_convention(run.convention)
        executions = self.store.get_executions_by_context(run.id)
        exec_types = self.store.types_by_id("execution", {e.type_id for e in executions})
        return tuple(
            convention.decode_step(e, exec_types[e.type_id].name, ())
            for e in sorted(executions, key=lambda e: e.id)
            if convention.is_step(e, exec_types[e.type_id].name)
        )

    # -- whole runs ----------------------------------------------------------------
    def read_run(self, run: records.RunRecord) -> records.RunData:
        """Steps, events, artifacts and producers of a run in a bounded number of calls."""
        return read_run_data(self, run)

    def get_artifacts(self, ids: Sequence[int], convention: Convention | None = None) -> dict[int, records.ArtifactRecord]:
        if not ids:
            return {}
        convention = convention or get_convention("native")
        artifacts = self.store.get_artifacts_by_id(list(ids))
        types = self.store.types_by_id("artifact", {a.type_id for a in artifacts})
        return {a.id: convention.decode_artifact(a, types.get(a.type_id)) for a in artifacts}

    def producers(self, artifact_ids: Sequence[int], convention: Convention) -> dict[int, tuple[int, str]]:
        """The first OUTPUT event of each artifact: (execution id, output name)."""
        if not artifact_ids:
            return {}
        producers: dict[int, tuple[int, str]] = {}
        for event in sorted(self.store.get_events_by_artifact_ids(list(artifact_ids)),
                            key=lambda e: (e.milliseconds_since_epoch, e.execution_id)):
            if event.type == pb.Event.OUTPUT and event.artifact_id not in producers:
                producers[event.artifact_id] = (event.execution_id, convention.event_key(event)[0])
        return producers

    # -- single artifacts ----------------------------------------------------------
    def artifact_context(self, artifact_id: int) -> "ArtifactContext | None":
        """One artifact, the step that produced it and that step's artifacts.

        The producer is decoded by the convention that wrote its run (TFX,
        Kubeflow Pipelines, native), so its step and run are named as
        `get_run` names them. A bounded number of calls (about eight, see
        `zen_mlmd.mlmd.step_owners`). Returns None when no artifact has this id.
        """
        found = self.store.get_artifacts_by_id([artifact_id])
        if not found:
            return None
        native = get_convention("native")
        producers = self.producers([artifact_id], native)
        owned = self.steps_with_owners([producers[artifact_id][0]] if artifact_id in producers else [])
        convention = next(iter(owned.conventions.values()), native)
        if not owned.steps:
            artifacts = self._decode_artifacts(found, convention)
            return ArtifactContext(artifacts[artifact_id], None, "", artifacts)
        [(execution_id, step)] = owned.steps.items()
        wanted = {aid for ids in (*step.inputs.values(), *step.outputs.values()) for aid in ids}
        others = self.store.get_artifacts_by_id(sorted(wanted - {artifact_id})) if wanted - {artifact_id} else []
        artifacts = self._decode_artifacts([*found, *others], convention)
        for name, ids in step.outputs.items():  # what the producer recorded about its outputs
            for output_id in ids:
                if output_id in artifacts:
                    artifacts[output_id] = convention.artifact_with_producer(artifacts[output_id], step, name)
        return ArtifactContext(artifacts[artifact_id], step, owned.runs[execution_id], artifacts,
                               owned.conventions[execution_id].name)

    def _decode_artifacts(self, artifacts, convention: Convention) -> dict[int, records.ArtifactRecord]:
        types = self.store.types_by_id("artifact", {a.type_id for a in artifacts})
        return {a.id: convention.decode_artifact(a, types.get(a.type_id)) for a in artifacts}

    # -- single steps --------------------------------------------------------------
    def steps_by_id(self, execution_ids: Iterable[int]) -> dict[int, records.StepRecord]:
        """Steps with their events, by execution id, each in its run's convention."""
        return dict(self.steps_with_owners(execution_ids).steps)

    def steps_with_owners(self, execution_ids: Iterable[int]):
        """Steps with their events, their run names and conventions (`step_owners.OwnedSteps`)."""
        from zen_mlmd.mlmd.step_owners import OwnedSteps, decode_owned_steps

        ids = sorted(set(execution_ids))
        if not ids:
            return OwnedSteps({}, {}, {})
        executions = self.store.get_executions_by_id(ids)
        events = self.store.get_events_by_execution_ids(ids) if executions else []
        return decode_owned_steps(self, executions, events)


def _decoded(convention: Convention, context) -> records.RunRecord:
    """A run found by name, soft-deleted or not (listings skip soft-deleted ones)."""
    record = convention.decode_run(context, "")
    if DELETED_PROPERTY in context.custom_properties:
        deleted_at = context.custom_properties[DELETED_PROPERTY].string_value
        record = dataclasses.replace(record, deleted_at=deleted_at or "unknown time")
    return record
