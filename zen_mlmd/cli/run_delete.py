"""`zen-mlmd run delete RUN...`: delete runs, the artifacts only they used, and their files.

Attached to the `run` group (zen_mlmd/cli/run.py). Only click at module level.
"""
from __future__ import annotations

import click

from zen_mlmd.cli import output


def open_store_and_artifacts(store_name: str | None, read_only: bool = False):
    """The metadata store (named, or the active stack's) and every registered artifact store.

    Files are removed only under a registered artifact store's root. A dry
    run opens the store for reading only: it cannot change it.
    """
    from zen_mlmd.stack import StackRegistry

    registry = StackRegistry()
    component = (registry.get_metadata_store(store_name) if store_name
                 else registry.get_active_stack().metadata_store)
    artifact_stores = [a.open() for a in registry.list_artifact_stores()]
    return component.open(read_only=read_only), artifact_stores


def human_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def deletion_dict(report) -> dict:
    return {
        "runs": list(report.runs), "dry_run": report.dry_run, "soft": report.soft,
        "executions": report.executions, "contexts": report.contexts,
        "artifacts": [{"id": a.id, "uri": a.uri, "bytes": a.size_bytes} for a in report.artifacts],
        "kept": [{"id": a.id, "uri": a.uri, "reason": a.note} for a in report.kept],
        "bytes": report.bytes, "files_removed": list(report.files_removed),
        "files_left": dict(report.files_left), "statements": report.statements,
    }


def print_deletion(report) -> None:
    verb = "Would delete" if report.dry_run else "Deleted"
    output.heading(f"{verb} {len(report.runs)} run(s): {', '.join(report.runs)}")
    click.echo(f"  executions: {report.executions}")
    click.echo(f"  artifacts:  {len(report.artifacts)} ({human_bytes(report.bytes)})")
    for artifact in report.artifacts:
        size = human_bytes(artifact.size_bytes) if artifact.size_bytes is not None else "size unknown"
        click.echo(f"    #{artifact.id}  {artifact.uri}  ({size})")
    if report.kept:
        click.echo(f"  kept:       {len(report.kept)} artifact(s) the runs made")
        for artifact in report.kept:
            click.echo(f"    #{artifact.id}  {artifact.uri}  ({artifact.note})")
    for uri, reason in sorted(report.files_left.items()):
        output.note(f"Warning: left {uri}: {reason}")
    if report.soft:
        output.note("Note: this store is reached over gRPC and its service has no delete RPC: the "
                    "runs are marked deleted and their artifacts DELETED, but the rows remain. "
                    "Run the deletion against the database behind the service to remove them.")


@click.command("delete")
@click.argument("run_names", metavar="RUN...", nargs=-1, required=True)
@click.option("--keep-artifacts", is_flag=True,
              help="Delete executions and contexts only; keep every artifact and its files.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--store", "store_name", metavar="NAME", default=None,
              help="Delete from this registered metadata store instead of the active stack's.")
@output.json_option
def delete_command(run_names: tuple[str, ...], keep_artifacts: bool, dry_run: bool, yes: bool,
                   store_name: str | None, as_json: bool) -> None:
    """Delete runs: their executions, contexts, the artifacts only they used, and those files.

    An artifact another run still uses (as an input, or reused through the
    cache) is kept and listed. Records go in one database transaction; files
    are removed after it commits.
    """
    from zen_mlmd.lifecycle import delete_runs

    store, artifact_stores = open_store_and_artifacts(store_name, read_only=dry_run)
    with store:
        if not dry_run and not yes:
            preview = delete_runs(store, list(run_names), artifact_stores=artifact_stores,
                                  keep_artifacts=keep_artifacts, dry_run=True)
            if not as_json:
                print_deletion(preview)
            click.confirm(f"Delete {len(preview.runs)} run(s) and {len(preview.artifacts)} "
                          "artifact(s)?", abort=True, err=True)
        report = delete_runs(store, list(run_names), artifact_stores=artifact_stores,
                             keep_artifacts=keep_artifacts, dry_run=dry_run)
    if as_json:
        output.print_json(deletion_dict(report))
        return
    print_deletion(report)
    if not dry_run:
        output.success(f"Deleted {len(report.runs)} run(s).")
