"""`zen-mlmd gc`: delete the runs a retention policy lets go, and sweep orphan files."""
from __future__ import annotations

import click

from zen_mlmd.cli import output

STATUSES = ("completed", "failed", "interrupted", "cached", "unknown")


@click.command("gc")
@click.option("--older-than", metavar="AGE", help="Runs started longer ago than AGE (30d, 12h, 2w).")
@click.option("--keep-last", type=click.IntRange(min=0), metavar="N",
              help="Always keep the newest N runs of each pipeline.")
@click.option("--pipeline", "pipeline_name", metavar="PIPELINE", help="Only runs of this pipeline.")
@click.option("--status", type=click.Choice(STATUSES), help="Only runs with this status.")
@click.option("--dry-run", is_flag=True, help="Print what would go; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--store", "store_name", metavar="NAME", default=None,
              help="Collect in this registered metadata store instead of the active stack's.")
@output.json_option
def gc(older_than: str | None, keep_last: int | None, pipeline_name: str | None, status: str | None,
       dry_run: bool, yes: bool, store_name: str | None, as_json: bool) -> None:
    """Delete old runs and the artifacts only they used; sweep files no record names.

    Every given condition must hold for a run to go; a running run never
    goes. Runs are deleted 100 per transaction. The sweep removes files of
    deletions that were interrupted, and step outputs of ended runs that no
    record names, only inside the store's own run folders. Without any
    condition every ended run goes: give at least one, or --keep-last 0.
    """
    from zen_mlmd.cli.run_delete import human_bytes, open_store_and_artifacts
    from zen_mlmd.lifecycle.retention import RetentionPolicy, collect_garbage, parse_age

    if older_than is None and keep_last is None and pipeline_name is None and status is None:
        raise click.UsageError("give a condition (--older-than, --keep-last, --pipeline, --status); "
                               "--keep-last 0 selects every ended run")
    policy = RetentionPolicy(older_than=parse_age(older_than) if older_than else None,
                             keep_last=keep_last, pipeline=pipeline_name, status=status)
    store, artifact_stores = open_store_and_artifacts(store_name, read_only=dry_run)
    with store:
        if not dry_run and not yes:
            preview = collect_garbage(store, policy, artifact_stores=artifact_stores, dry_run=True)
            _print(preview, human_bytes)
            if not preview.runs and not preview.orphan_files:
                return
            click.confirm("Go ahead?", abort=True, err=True)
        with click.progressbar(length=1, label="Deleting runs", file=click.get_text_stream("stderr"),
                               show_pos=True) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            report = collect_garbage(store, policy, artifact_stores=artifact_stores,
                                     dry_run=dry_run, progress=progress)
    if as_json:
        output.print_json({
            "dry_run": report.dry_run, "runs": report.runs, "pages": report.pages,
            "artifacts": [{"id": a.id, "uri": a.uri, "bytes": a.size_bytes} for a in report.artifacts],
            "bytes": report.bytes, "soft": report.soft,
            "orphan_files": [{"uri": f.uri, "bytes": f.size_bytes} for f in report.orphan_files],
            "files_left": report.files_left})
        return
    _print(report, human_bytes)


def _print(report, human_bytes) -> None:
    verb = "Would delete" if report.dry_run else "Deleted"
    output.heading(f"{verb} {len(report.runs)} run(s), {len(report.artifacts)} artifact(s), "
                   f"{human_bytes(report.bytes)}")
    for name in report.runs:
        click.echo(f"  run {name}")
    for artifact in report.artifacts:
        size = human_bytes(artifact.size_bytes) if artifact.size_bytes is not None else "size unknown"
        click.echo(f"  artifact #{artifact.id}  {artifact.uri}  ({size})")
    orphans = report.orphan_files
    if orphans:
        total = human_bytes(sum(f.size_bytes or 0 for f in orphans))
        verb = "Would sweep" if report.dry_run else "Swept"
        output.heading(f"{verb} {len(orphans)} orphan file(s) no record names, {total}")
        for item in orphans:
            click.echo(f"  {item.uri}")
    for uri, reason in sorted(report.files_left.items()):
        output.note(f"Warning: left {uri}: {reason}")
    if report.soft:
        output.note("Note: the store is reached over gRPC without a delete RPC: runs were marked "
                    "deleted and their artifacts DELETED; the rows remain.")
