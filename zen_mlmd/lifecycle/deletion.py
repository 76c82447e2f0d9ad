"""Delete runs: their records in one transaction, then their artifacts' files.

    from zen_mlmd.lifecycle import delete_runs
    report = delete_runs(store, ["run-1"], artifact_stores=[artifacts])

Runs are found by name through the reader (any convention: native, Kubeflow
Pipelines, TFX). On a database store the records go in one SQL transaction
(`zen_mlmd.mlmd.deletion`); over gRPC the server's delete extension is used
when it has one (`zen-mlmd metadata-store serve`), else a soft delete marks
the runs deleted and their artifacts DELETED, and the rows remain.
Files go after the commit, journalled first (see `zen_mlmd.lifecycle.files`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

from zen_mlmd.errors import ConfigError, UnknownNameError
from zen_mlmd.lifecycle.files import ArtifactFile, ArtifactFiles

if TYPE_CHECKING:
    from zen_mlmd.artifacts import ArtifactStore
    from zen_mlmd.mlmd.deletion import DeletionPlan
    from zen_mlmd.mlmd.records import RunRecord
    from zen_mlmd.mlmd.store import MetadataStore


@dataclass(frozen=True)
class DeletionReport:
    """What a deletion removed (or, in a dry run, would remove).

    Attributes:
        runs: the run names.
        artifacts: artifacts that go, with the size of their files.
        kept: artifacts the runs made that stay (used by a kept run, or
            `keep_artifacts`), with the reason.
        files_left: URIs whose files were not removed, with the reason
            (outside the registered artifact stores, a removal error).
        soft: True when rows remain (a soft delete over gRPC).
        statements: SQL statements the deletion ran (0 over gRPC).
    """

    runs: tuple[str, ...]
    artifacts: tuple[ArtifactFile, ...]
    kept: tuple[ArtifactFile, ...]
    dry_run: bool = False
    soft: bool = False
    executions: int = 0
    contexts: int = 0
    files_removed: tuple[str, ...] = ()
    files_left: dict = field(default_factory=dict)
    statements: int = 0

    @property
    def bytes(self) -> int:
        """Bytes of the artifacts' files (those that could be measured)."""
        return sum(a.size_bytes or 0 for a in self.artifacts)


def resolve_runs(store: "MetadataStore", names: Iterable[str]) -> list["RunRecord"]:
    """Run records by name (unique in a store), in the order given, each once.

    Raises:
        UnknownNameError: a name is no run of the store; close names are suggested.
    """
    from zen_mlmd.mlmd.reader import StoreReader

    reader = StoreReader(store)
    found = []
    for name in dict.fromkeys(names):
        record = reader.get_run(name)
        if record is None:
            known = [r.name for _, r in zip(range(500), reader.iter_runs())]
            raise UnknownNameError("run", name, known, fix="list runs with `zen-mlmd run list`")
        found.append(record)
    return found


def refuse_running(store: "MetadataStore", records: Sequence["RunRecord"]) -> None:
    """A run still being recorded cannot be deleted under its writer.

    Raises:
        ConfigError: naming the first running run.
    """
    from zen_mlmd.post_execution.runs import Run
    from zen_mlmd.post_execution.session import ReadSession

    session = ReadSession(store, artifact_store=None)
    for record in records:
        if Run(session, record).status == "running":
            raise ConfigError("run", record.name, "is still running: deleting it would leave its "
                              "writer recording into a run that no longer exists",
                              "wait for it to end (or stop it), then delete it")


def delete_runs(store: "MetadataStore", names: Sequence[str], *,
                artifact_stores: Iterable["ArtifactStore"] = (), keep_artifacts: bool = False,
                dry_run: bool = False, planned=None) -> DeletionReport:
    """Delete runs by name: records, then the files of the artifacts only they used.

    Args:
        store: the open metadata store.
        artifact_stores: where files may be removed; files of artifacts
            elsewhere are left (and listed in `files_left`).
        keep_artifacts: delete executions and contexts only; every artifact
            (record and file) stays.
        dry_run: report what would go; change nothing.
        planned: a `zen_mlmd.mlmd.deletion.Planned` that successive dry runs
            share, so that each counts what the earlier ones remove as gone.

    Raises:
        UnknownNameError: an unknown run.
        ConfigError: a run is still running.
        ReadOnlyStoreError: `store` was opened for reading (and this is no dry
            run), or its gRPC server is read-only.
        SchemaVersionError: the database has a schema zen_mlmd's SQL does not know.
    """
    records = resolve_runs(store, names)
    refuse_running(store, records)
    return delete_records(store, records, artifact_stores=artifact_stores,
                          keep_artifacts=keep_artifacts, dry_run=dry_run, planned=planned)


def delete_records(store: "MetadataStore", records: Sequence["RunRecord"], *,
                   artifact_stores: Iterable["ArtifactStore"] = (), keep_artifacts: bool = False,
                   dry_run: bool = False, planned=None) -> DeletionReport:
    """`delete_runs` for runs already read (none of them running): no MLMD read per run."""
    if store.read_only and not dry_run:
        from zen_mlmd.errors import ReadOnlyStoreError

        raise ReadOnlyStoreError(f"{store.store_name}: deleting runs refused: the store was opened "
                                 "for reading only. Fix: open it for writing "
                                 "(`MetadataStoreComponent.open()`), or add dry_run=True")
    files = ArtifactFiles(artifact_stores)
    run_ids = [r.id for r in records]
    run_names = tuple(r.name for r in records)
    if not store.has_database:
        return _delete_over_grpc(store, records, files, keep_artifacts, dry_run)
    from zen_mlmd.mlmd.deletion import delete_runs_sql, plan_deletion, run_types

    types = run_types(store)
    journals: list = []
    with store.database() as db:
        if dry_run:
            plan = plan_deletion(db, run_ids, types, keep_artifacts, planned)
            if planned is not None:
                planned.add(plan)
            return _report(run_names, plan, files, dry_run=True, statements=db.statement_count,
                           keep_artifacts=keep_artifacts)
        sizes: dict[int, int | None] = {}

        def before_commit(plan: "DeletionPlan") -> None:
            # measured while the records still say where the files are
            sizes.update({i: files.size(uri) for i, uri in plan.artifacts.items() if uri})
            journals.extend(files.write_journal(store.identity, list(plan.artifacts.values()), run_names))

        plan = delete_runs_sql(db, run_ids, types, keep_artifacts, before_commit=before_commit)
        statements = db.statement_count
    removal = files.remove(plan.artifacts.values())
    if not removal.left:
        files.clear_journals(journals)
    return _report(run_names, plan, files, sizes=sizes, statements=statements,
                   removed=removal.removed, left=removal.left, keep_artifacts=keep_artifacts)


def _delete_over_grpc(store, records, files: ArtifactFiles, keep_artifacts: bool,
                      dry_run: bool) -> DeletionReport:
    from zen_mlmd.mlmd.remote_deletion import remote_delete
    from zen_mlmd.mlmd.deletion import plan_soft_deletion, soft_delete_runs

    names = tuple(r.name for r in records)
    run_ids = [r.id for r in records]
    # the plan first (the server's, else the soft one): files are journalled before any record changes
    plan = remote_delete(store, names, keep_artifacts=keep_artifacts, dry_run=True)
    remote = plan is not None
    if plan is None:
        plan = plan_soft_deletion(store, run_ids, keep_artifacts)
    if dry_run:
        return _report(names, plan, files, dry_run=True, keep_artifacts=keep_artifacts)
    sizes = {i: files.size(uri) for i, uri in plan.artifacts.items() if uri}
    journals = files.write_journal(store.identity, list(plan.artifacts.values()), names)
    if remote:
        plan = remote_delete(store, names, keep_artifacts=keep_artifacts) or plan
    else:
        plan = soft_delete_runs(store, run_ids, keep_artifacts)
    removal = files.remove(plan.artifacts.values())
    if not removal.left:
        files.clear_journals(journals)
    return _report(names, plan, files, sizes=sizes, removed=removal.removed, left=removal.left,
                   keep_artifacts=keep_artifacts)


def _report(names, plan: "DeletionPlan", files: ArtifactFiles, *, dry_run: bool = False,
            sizes=None, statements: int = 0, removed=(), left=None,
            keep_artifacts: bool = False) -> DeletionReport:
    if sizes is None:
        artifacts = files.measured(plan.artifacts, "deleted")
    else:
        artifacts = tuple(ArtifactFile(i, uri, sizes.get(i), "deleted")
                          for i, uri in sorted(plan.artifacts.items()))
    why = "--keep-artifacts" if keep_artifacts else "used by a run that stays"
    kept = tuple(ArtifactFile(i, uri, None, why) for i, uri in sorted(plan.kept_artifacts.items()))
    return DeletionReport(
        runs=tuple(names), artifacts=artifacts, kept=kept, dry_run=dry_run, soft=plan.soft,
        executions=len(plan.executions), contexts=len(plan.contexts),
        files_removed=tuple(removed), files_left=dict(left or {}), statements=statements)
