"""`zen-mlmd run ...`: list, describe, compare, rerun and delete recorded runs.

`run delete` lives in `zen_mlmd/cli/run_delete.py` and is attached below.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

import click

from zen_mlmd.cli import output

RUN_STATUSES = ("running", "completed", "failed", "interrupted", "cached")


def store_option(func):
    """Add `--store NAME` (parameter `store_name`): read another registered metadata store."""
    return click.option("--store", "store_name", metavar="NAME", default=None,
                        help="Read this registered metadata store instead of the active stack's.")(func)


def read_session(store_name: str | None):
    from zen_mlmd.post_execution.session import open_named_session

    return open_named_session(store_name)


def listing_session(store_name: str | None):
    """`read_session` for listings: None when the store has no records yet.

    A store whose file zen_mlmd places itself (the default store before its
    first run) lists nothing instead of failing; a store the user pointed
    at a missing place is still an error.
    """
    from zen_mlmd.errors import StoreNotStartedError

    try:
        return read_session(store_name)
    except StoreNotStartedError:
        return None


def format_time(value: _dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def format_duration(value: _dt.timedelta | None) -> str:
    if value is None:
        return "-"
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def iso(value: _dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def artifact_summary(artifact) -> dict[str, Any]:
    return {"id": artifact.id, "name": artifact.name, "type": artifact.type, "uri": artifact.uri}


def _artifacts_dict(mapping) -> dict[str, Any]:
    return {name: ([artifact_summary(a) for a in value] if isinstance(value, tuple)
                   else artifact_summary(value)) for name, value in mapping.items()}


def step_dict(step) -> dict[str, Any]:
    original = step.original
    return {
        "name": step.name, "id": step.id, "status": step.status, "type": step.type_name,
        "start_time": iso(step.start_time), "end_time": iso(step.end_time),
        "duration_seconds": step.duration.total_seconds() if step.duration is not None else None,
        "parameters": dict(step.parameters),
        "inputs": _artifacts_dict(step.inputs), "outputs": _artifacts_dict(step.outputs),
        "cached_from": ({"run": original.run_name, "step": original.name, "execution_id": original.id}
                        if original is not None else None),
        "error": str(step.error) if step.error is not None else None,
        "traceback": step.error.traceback if step.error is not None else None,
    }


#: Lines of a failed step's traceback `run describe` shows (`--json` has all of it).
TRACEBACK_LINES = 12


def run_dict(run, with_steps: bool = False) -> dict[str, Any]:
    data = {
        "name": run.name, "run_id": run.run_id or None, "pipeline": run.pipeline_name, "status": run.status,
        "start_time": iso(run.start_time), "end_time": iso(run.end_time),
        "duration_seconds": run.duration.total_seconds() if run.duration is not None else None,
    }
    if data["status"] == "interrupted":
        data["last_seen"] = iso(run.last_seen)  # when it stopped giving signs of life
    if run.soft_deleted:
        data["deleted_at"] = iso(run.deleted_at) or "unknown"
    if with_steps:
        data["steps"] = [step_dict(step) for step in run.steps]
    return data


@click.group("run")
def run() -> None:
    """List, describe and compare recorded runs; rerun or delete them."""


@run.command("list")
@click.option("--pipeline", "pipeline_name", metavar="PIPELINE", help="Only runs of this pipeline.")
@click.option("--status", type=click.Choice(RUN_STATUSES), help="Only runs with this status.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Show at most this many runs (newest first).")
@store_option
@output.json_option
def list_runs(pipeline_name: str | None, status: str | None, limit: int,
              store_name: str | None, as_json: bool) -> None:
    """List runs, newest first."""
    from zen_mlmd.post_execution import get_runs

    runs = []
    session = listing_session(store_name)
    for item in (get_runs(pipeline_name, session) if session is not None else ()):
        if status is None or item.status == status:
            runs.append(item)
            if len(runs) >= limit:
                break
    if as_json:
        output.print_json([run_dict(r) for r in runs])
        return
    empty = f"No {status} runs."
    if status is None:
        empty = ("No runs recorded yet." if runs or pipeline_name or session is None
                 else no_runs_message(session))
    output.print_table(
        ["RUN", "PIPELINE", "STATUS", "STARTED (UTC)", "DURATION"],
        [[r.name, r.pipeline_name, r.status, format_time(r.start_time), format_duration(r.duration)]
         for r in runs],
        empty=empty,
    )
    for r in runs:
        if r.status == "interrupted":
            click.echo(f"{r.name}: interrupted, last seen {format_time(r.last_seen)} UTC")


def no_runs_message(session) -> str:
    """Why a store lists no runs: none recorded, or recorded by writers no installed convention reads."""
    unknown = session.reader.unrecognised_contexts()
    if not unknown:
        return "No runs recorded yet."
    count = sum(unknown.values())
    return (f"No runs in a form zen_mlmd reads: {count} context{'s' if count != 1 else ''} of "
            f"type{'s' if len(unknown) != 1 else ''} {', '.join(sorted(unknown))} "
            f"{'are' if count != 1 else 'is'} not recognised. Fix: install the zen_mlmd adapter of the "
            "tool that wrote them (zen-mlmd-kfp reads Kubeflow Pipelines v1 and v2, zen-mlmd-tfx reads TFX)")


@run.command("describe")
@click.argument("run_name", metavar="RUN")
@store_option
@output.json_option
def describe(run_name: str, store_name: str | None, as_json: bool) -> None:
    """Describe RUN: its steps in DAG order with parameters, inputs and outputs."""
    from zen_mlmd.post_execution import get_run

    found = get_run(run_name, read_session(store_name))
    if as_json:
        output.print_json(run_dict(found, with_steps=True))
        return
    output.heading(f"Run {found.name!r} of pipeline {found.pipeline_name!r}")
    if found.soft_deleted:
        # listings hide it; named, it is shown, but never as a live run
        when = f"{format_time(found.deleted_at)} UTC" if found.deleted_at else "an unknown time"
        click.echo(f"  deleted at {when} (soft delete; rows remain)")
    output.print_mapping({
        **({"run id": found.run_id} if found.run_id and found.run_id != found.name else {}),
        "status": found.status, "started (UTC)": format_time(found.start_time),
        "ended (UTC)": format_time(found.end_time), "duration": format_duration(found.duration),
        **({"last seen (UTC)": format_time(found.last_seen)} if found.status == "interrupted" else {}),
    }, indent=2)
    output.heading(f"Steps ({len(found.steps)}, in DAG order)")
    for step in found.steps:
        _print_step(step)


def _print_step(step) -> None:
    line = f"  {step.name} [{step.status}] {format_duration(step.duration)}"
    original = step.original
    if original is not None:
        line += f"  cached from run {original.run_name!r} (execution #{original.id})"
    click.echo(line)
    if step.error is not None:
        click.echo(f"    error: {step.error}")
        if step.error.traceback:
            click.echo("    traceback (innermost last):")
            for line in step.error.traceback.rstrip().splitlines()[-TRACEBACK_LINES:]:
                click.echo(f"      {line}")
    if step.parameters:
        click.echo("    parameters: " + ", ".join(f"{k}={v!r}" for k, v in step.parameters.items()))
    for label, artifacts in (("inputs", step.inputs), ("outputs", step.outputs)):
        if not artifacts:
            continue
        click.echo(f"    {label}:")
        for name, value in artifacts.items():
            for artifact in (value if isinstance(value, tuple) else (value,)):
                click.echo(f"      {name}: {artifact.type} #{artifact.id}  {artifact.uri}")


@run.command("compare")
@click.argument("run_names", metavar="RUN...", nargs=-1, required=True)
@click.option("--param", "params", multiple=True, metavar="STEP.NAME",
              help="A parameter column (repeatable). Default: every parameter that differs.")
@click.option("--metric", "metrics", multiple=True, metavar="STEP.OUTPUT.KEY",
              help="A metric column (repeatable). Default: every metric found.")
@click.option("--trust", is_flag=True,
              help="Also read pickled metrics from artifact stores not marked trusted "
                   "(loading a pickle runs code: only if you trust who writes there).")
@store_option
@output.json_option
def compare(run_names: tuple[str, ...], params: tuple[str, ...], metrics: tuple[str, ...],
            trust: bool, store_name: str | None, as_json: bool) -> None:
    """Compare runs side by side: status, parameters and metrics."""
    from zen_mlmd.post_execution import compare_runs

    session = read_session(store_name)
    table = compare_runs(list(run_names), parameters=list(params) or None,
                         metrics=list(metrics) or None, store=session, trusted=trust)
    if as_json:
        output.print_json(table.to_records())
        return
    click.echo(table.to_text(), nl=False)


@run.command("rerun")
@click.argument("run_name", metavar="RUN")
@click.option("--name", "new_name", metavar="NAME", help="Name of the new run (default: generated).")
@click.option("--no-cache", is_flag=True, help="Run every step, even where the cache has its outputs.")
@click.option("--source", metavar="FILE_OR_MODULE:PIPELINE", default=None,
              help="Import the pipeline from here instead of the recorded source "
                   "(e.g. path/to/file.py:name); allowed outside the current project.")
def rerun_command(run_name: str, new_name: str | None, no_cache: bool, source: str | None) -> None:
    """Run RUN again: same pipeline, same parameters, on the active stack.

    The pipeline is imported from the source recorded with the run; the file
    is named before it is imported, and one outside the current directory is
    refused (anyone who can write the metadata store could have recorded it)
    unless given with --source. Steps whose code changed since are named in a
    warning before the run starts.
    """
    from zen_mlmd.tracking.reproduce import rerun as rerun_run

    new = rerun_run(run_name, run_name_new=new_name, enable_cache=False if no_cache else None,
                    source=source)
    output.success(f"Run {new.name!r} finished: {new.status}.")


def _attach_delete() -> None:
    # its own module (zen_mlmd/cli/run_delete.py): only click is imported there
    from zen_mlmd.cli.run_delete import delete_command

    run.add_command(delete_command)


_attach_delete()
