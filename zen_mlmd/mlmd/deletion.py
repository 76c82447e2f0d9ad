"""Which records belong to runs, and deleting them: in SQL, or softly over gRPC.

Works through contexts, the same for every convention: a run is a context of
a run context type (native/TFX `pipeline_run`, KFP `system.PipelineRun`,
KFP v1 `KfpRun`, a TFX async pipeline's `pipeline`); its executions are
those associated with it (KFP's root, nested and loop DAG executions
included), and the ended executions a convention says name it (TFX's
orchestrator records, `Convention.run_record_executions`); a run context
holding only executions of the run is a part of it (a TFX sub-pipeline's
inner run contexts) and goes with it; the artifacts it
made are those its executions output or that are attributed to it. An
artifact is kept while an execution of a kept run used it (a consumer, or a
cached step that reused it) or a kept run context holds it. Contexts left
with nothing (a node, cache or pipeline context only the deleted runs used)
go with them.

`delete_runs_sql` does it in ONE transaction with a fixed number of
statements, however large the runs or the store (MLMD's schema, see
`zen_mlmd.mlmd.sql`). `soft_delete_runs` is for a store reached over gRPC,
whose service has no delete RPC: artifacts are marked DELETED (so no cache
lookup finds them) and the run contexts get `DELETED_PROPERTY`; rows remain.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from zen_mlmd.mlmd import sql
from zen_mlmd.mlmd.database import SchemaDatabase
from zen_mlmd.mlmd.soft_delete import DELETED_PROPERTY
from zen_mlmd.mlmd.store import MetadataStore


@dataclass(frozen=True)
class DeletionPlan:
    """What deleting some runs removes, and what it keeps.

    Attributes:
        run_ids: the run contexts.
        executions: ids of the executions that go.
        artifacts: artifacts that go, id -> URI.
        kept_artifacts: artifacts the runs made that stay because a kept run
            uses them, id -> URI (all of them with `keep_artifacts`).
        contexts: contexts that went (known once deleted); in a plan, the run
            contexts and those that are parts of them.
        soft: True when rows remain (a soft delete over gRPC).
    """

    run_ids: tuple[int, ...]
    executions: tuple[int, ...]
    artifacts: Mapping[int, str]
    kept_artifacts: Mapping[int, str]
    contexts: tuple[int, ...] = ()
    soft: bool = False


@dataclass(frozen=True)
class RunTypes:
    """The types that make records a run's, in one store (see `run_types`).

    Attributes:
        contexts: ids of the context types that hold runs: an execution or
            artifact they hold stays.
        records: (execution type ids, property name) of executions that
            belong to the run their property names (`Convention.run_record_executions`).
    """

    contexts: tuple[int, ...]
    records: tuple[tuple[tuple[int, ...], str], ...] = ()


def run_types(store: MetadataStore) -> RunTypes:
    """The store's run types.

    Every convention's run context type, except a type another convention
    groups its runs under: TFX's async pipelines are runs whose context is a
    `pipeline` context, but native and sync TFX runs share theirs with every
    run of the pipeline, so a `pipeline` context keeps nothing alive (it goes
    once it holds nothing).
    """
    from zen_mlmd.mlmd.convention_registry import all_conventions

    by_property: dict[str, list[int]] = {}
    for type_name, name in dict.fromkeys(c.run_record_executions for c in all_conventions()
                                         if c.run_record_executions):
        type_id = store.cached_type_id("execution", type_name)
        if type_id is not None:
            by_property.setdefault(name, []).append(type_id)
    return RunTypes(tuple(_run_context_types(store).values()),
                    tuple((tuple(ids), name) for name, ids in by_property.items()))


def _run_context_types(store: MetadataStore) -> dict[str, int]:
    """The store's run context types (see `run_types`), name -> id."""
    from zen_mlmd.mlmd.convention_registry import all_conventions

    conventions = all_conventions()
    groupings = {c.pipeline_context_type for c in conventions
                 if c.pipeline_context_type != c.run_context_type}
    names = dict.fromkeys(c.run_context_type for c in conventions if c.run_context_type not in groupings)
    found = {name: store.cached_type_id("context", name) for name in names}
    return {name: type_id for name, type_id in found.items() if type_id is not None}


# -- SQL ------------------------------------------------------------------------------------
@dataclass
class Planned:
    """What earlier plans of the same dry run remove: later plans count it as gone."""

    runs: set[int] = field(default_factory=set)
    executions: set[int] = field(default_factory=set)
    artifacts: set[int] = field(default_factory=set)

    def add(self, plan: "DeletionPlan") -> None:
        self.runs.update(plan.contexts)
        self.executions.update(plan.executions)
        self.artifacts.update(plan.artifacts)


def plan_deletion(db: SchemaDatabase, run_ids: Sequence[int], types: RunTypes,
                  keep_artifacts: bool = False, planned: Planned | None = None) -> DeletionPlan:
    """What deleting `run_ids` would remove (reads only: at most eight statements, and
    one per `RunTypes.records` entry).

    A run context holding only executions of the runs is a part of them (a
    TFX sub-pipeline's run context) and goes with them (in `contexts`).

    Args:
        planned: what earlier pages of a dry run remove, treated as gone.
    """
    planned = planned or Planned()
    run_types = types.contexts
    executions = {row[0] for row in db.query("executions_of_contexts", contexts=sql.ids(run_ids))}
    sharing = db.query("run_contexts_sharing", executions=sql.ids(executions | planned.executions),
                       run_types=sql.ids(run_types), contexts=sql.ids({*run_ids, *planned.runs}))
    parts = {context for context, elsewhere in sharing if not elsewhere}
    contexts = {*run_ids, *parts}
    gone_runs = sql.ids(contexts | planned.runs)
    if len(parts) < len(sharing):
        # an execution another (kept) run context also holds stays with that run
        executions -= {row[0] for row in db.query(
            "executions_in_other_runs", executions=sql.ids(executions),
            run_types=sql.ids(run_types), contexts=gone_runs)}
    for type_ids, name in types.records:
        executions |= {row[0] for row in db.query(
            "ended_executions_naming", [name], types=sql.ids(type_ids),
            states=sql.ids(sql.ENDED_EXECUTION_STATES), contexts=sql.ids(contexts))}
    made = {row[0] for row in db.query(
        "output_artifacts", executions=sql.ids(executions), output_types=sql.ids(sql.OUTPUT_EVENT_TYPES))}
    made |= {row[0] for row in db.query("artifacts_of_contexts", contexts=sql.ids(contexts))}
    made -= planned.artifacts
    kept = set(made) if keep_artifacts else set()
    if not keep_artifacts and made:
        made_list = sql.ids(made)
        kept |= {row[0] for row in db.query(
            "artifacts_used_elsewhere", artifacts=made_list,
            executions=sql.ids(executions | planned.executions))}
        kept |= {row[0] for row in db.query(
            "artifacts_in_other_runs", artifacts=made_list, run_types=sql.ids(run_types),
            contexts=gone_runs)}
    uris = dict(db.query("artifact_uris", artifacts=sql.ids(made))) if made else {}
    return DeletionPlan(
        run_ids=tuple(sorted(run_ids)), executions=tuple(sorted(executions)),
        artifacts={i: uris.get(i, "") for i in sorted(made - kept)},
        kept_artifacts={i: uris.get(i, "") for i in sorted(kept)},
        contexts=tuple(sorted(contexts)))


def delete_runs_sql(db: SchemaDatabase, run_ids: Sequence[int], types: RunTypes,
                    keep_artifacts: bool = False,
                    before_commit: Callable[[DeletionPlan], None] | None = None) -> DeletionPlan:
    """Delete runs and what only they used, in one transaction (a fixed number of statements).

    Args:
        before_commit: called with the plan inside the transaction, before it
            commits (the caller records which files to remove: a crash after
            the commit then leaves orphan files, never records without files).

    Returns:
        The plan carried out, with every context that went in `contexts`.
    """
    with db.transaction("delete"):
        plan = plan_deletion(db, run_ids, types, keep_artifacts)
        executions, artifacts, runs = (sql.ids(plan.executions), sql.ids(plan.artifacts),
                                       sql.ids(plan.contexts))
        linked = {row[0] for row in db.query(
            "linked_contexts", executions=executions, artifacts=artifacts, contexts=runs)}
        db.execute("delete_event_paths", executions=executions, artifacts=artifacts)
        db.execute("delete_events", executions=executions, artifacts=artifacts)
        db.execute("delete_associations", executions=executions)
        db.execute("delete_run_associations", contexts=runs)
        db.execute("delete_attributions", artifacts=artifacts, contexts=runs)
        db.execute("delete_parent_links", contexts=runs)
        db.execute("delete_execution_properties", executions=executions)
        db.execute("delete_executions", executions=executions)
        db.execute("delete_artifact_properties", artifacts=artifacts)
        db.execute("delete_artifacts", artifacts=artifacts)
        emptied = {row[0] for row in db.query("empty_contexts",
                                              contexts=sql.ids(linked - set(plan.contexts)))}
        gone = set(plan.contexts) | emptied
        contexts = sql.ids(gone)
        db.execute("delete_parent_links", contexts=contexts)
        db.execute("delete_context_properties", contexts=contexts)
        db.execute("delete_contexts", contexts=contexts)
        done = DeletionPlan(plan.run_ids, plan.executions, plan.artifacts, plan.kept_artifacts,
                            tuple(sorted(gone)))
        if before_commit is not None:
            before_commit(done)
    return done


# -- over gRPC: soft ---------------------------------------------------------------------
def plan_soft_deletion(store: MetadataStore, run_ids: Sequence[int],
                       keep_artifacts: bool = False) -> DeletionPlan:
    """What a soft delete of `run_ids` marks, through MLMD's API.

    An artifact stays LIVE while an execution uses it that belongs to a run
    not (soft-)deleted, or to no run at all; executions of runs soft-deleted
    earlier count as gone (see `soft_deleted_executions`), so an output two
    runs shared (the second reused it through the cache) is retired with the
    last of them. Calls: two per run, two more, plus those of
    `soft_deleted_executions`.
    """
    from ml_metadata.proto import metadata_store_pb2 as pb

    executions: set[int] = set()
    made: set[int] = set()
    for run_id in run_ids:  # one call each: MLMD has no "by contexts" read
        executions |= {e.id for e in store.get_executions_by_context(run_id)}
        made |= {a.id for a in store.get_artifacts_by_context(run_id)}
    if executions:
        made |= {e.artifact_id for e in store.get_events_by_execution_ids(sorted(executions))
                 if e.type in sql.OUTPUT_EVENT_TYPES}
    kept = set(made) if keep_artifacts else set()
    artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted(made))} if made else {}
    if made and not keep_artifacts:
        users = [e for e in store.get_events_by_artifact_ids(sorted(made))
                 if e.execution_id not in executions]
        # executions of runs soft-deleted earlier stay in the store, but use nothing any more
        retired = soft_deleted_executions(store, {e.execution_id for e in users}, run_ids)
        kept |= {e.artifact_id for e in users if e.execution_id not in retired}
    # already marked by an earlier soft delete: nothing more to do for them
    gone = {i for i, a in artifacts.items() if a.state == pb.Artifact.DELETED}
    return DeletionPlan(
        run_ids=tuple(sorted(run_ids)), executions=tuple(sorted(executions)),
        artifacts={i: artifacts[i].uri for i in sorted(made - kept - gone) if i in artifacts},
        kept_artifacts={i: artifacts[i].uri for i in sorted(kept) if i in artifacts},
        contexts=tuple(sorted(run_ids)), soft=True)


def soft_delete_runs(store: MetadataStore, run_ids: Sequence[int],
                     keep_artifacts: bool = False) -> DeletionPlan:
    """Mark the runs deleted and their own artifacts DELETED; no row is removed."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    plan = plan_soft_deletion(store, run_ids, keep_artifacts)
    if plan.artifacts:
        artifacts = store.get_artifacts_by_id(sorted(plan.artifacts))
        for artifact in artifacts:
            artifact.state = pb.Artifact.DELETED
        store.put_artifacts(artifacts)
    contexts = store.get_contexts_by_id(sorted(run_ids))
    # a string: MySQL and PostgreSQL keep int properties in 32 bits
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for context in contexts:
        context.custom_properties[DELETED_PROPERTY].string_value = now
    store.put_contexts(contexts)
    return plan


def soft_deleted_executions(store: MetadataStore, execution_ids: Iterable[int],
                            deleting: Sequence[int] = ()) -> set[int]:
    """Of `execution_ids`, those whose every run is soft-deleted (or in `deleting`).

    An execution held by a soft-deleted run context and by no other run
    context. An execution in no run context at all (TFX's orchestrator
    records) is not among them. Calls: one filtered `get_contexts` for the
    soft-deleted runs (MLMD's client reads it 100 per page), then per 100
    executions at most two filtered `get_executions`; none when no run was
    soft-deleted before.
    """
    from ml_metadata.metadata_store.metadata_store import ListOptions

    from zen_mlmd.mlmd.convention import quote

    wanted = sorted(set(execution_ids))
    if not wanted:
        return set()
    # only a soft delete writes the mark, and only on run contexts (a TFX async run's `pipeline` one too)
    marked = store.get_contexts(list_options=ListOptions(
        filter_query=f"custom_properties.{DELETED_PROPERTY}.string_value != ''"))
    if not marked:
        return set()
    type_names = ", ".join(quote(name) for name in _run_context_types(store)) or "''"
    deleted = ", ".join(str(i) for i in sorted({c.id for c in marked} | set(deleting)))
    retired: set[int] = set()
    for start in range(0, len(wanted), 100):
        page = ", ".join(str(i) for i in wanted[start:start + 100])
        # `contexts_a` is one joined context: both conditions hold for the same one
        held = {e.id for e in store.get_executions(list_options=ListOptions(
            filter_query=f"id IN ({page}) AND contexts_a.id IN ({deleted})"))}
        if not held:
            continue
        held_ids = ", ".join(str(i) for i in sorted(held))
        live = {e.id for e in store.get_executions(list_options=ListOptions(
            filter_query=f"id IN ({held_ids}) AND contexts_a.type IN ({type_names}) "
                         f"AND NOT contexts_a.id IN ({deleted})"))}
        retired |= held - live
    return retired


def is_soft_deleted(context) -> bool:
    """Whether a run context carries the soft-delete mark."""
    return DELETED_PROPERTY in context.custom_properties


def uris_named(store: MetadataStore, uris: Sequence[str]) -> set[str]:
    """The URIs among `uris` that some artifact record still has (one call per 100)."""
    from ml_metadata.metadata_store.metadata_store import ListOptions

    from zen_mlmd.mlmd.convention import quote

    found: set[str] = set()
    wanted = sorted(set(uris))
    for start in range(0, len(wanted), 100):
        page = wanted[start:start + 100]
        query = f"uri IN ({', '.join(quote(u) for u in page)})"
        found |= {a.uri for a in store.get_artifacts(list_options=ListOptions(filter_query=query))}
    return found


def uris_under(store: MetadataStore, prefix: str) -> set[str]:
    """Every artifact URI that starts with `prefix` (MLMD's client pages the listing)."""
    from ml_metadata.metadata_store.metadata_store import ListOptions

    from zen_mlmd.mlmd.convention import quote

    # `_` and `%` in the prefix match more in LIKE: the exact test is below
    options = ListOptions(filter_query=f"uri LIKE {quote(prefix + '%')}")
    return {a.uri for a in store.get_artifacts(list_options=options) if a.uri.startswith(prefix)}
