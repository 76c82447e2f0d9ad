"""`zen-mlmd pipeline ...`: run a pipeline, list the recorded ones."""
from __future__ import annotations

import click

from zen_mlmd.cli import output
from zen_mlmd.cli.run import format_time, iso, listing_session, store_option


@click.group("pipeline")
def pipeline() -> None:
    """Run a pipeline on the active stack; list recorded pipelines."""


@pipeline.command("list")
@store_option
@output.json_option
def list_pipelines(store_name: str | None, as_json: bool) -> None:
    """List recorded pipelines, oldest first (reads only)."""
    from zen_mlmd.post_execution import get_pipelines

    session = listing_session(store_name)
    found = get_pipelines(session) if session is not None else []
    if as_json:
        output.print_json([{"name": p.name, "id": p.id, "created": iso(p.created_time),
                            "source": p.properties.get("source")} for p in found])
        return
    output.print_table(
        ["PIPELINE", "CREATED (UTC)", "SOURCE"],
        [[p.name, format_time(p.created_time), p.properties.get("source") or "-"] for p in found],
        empty="No pipelines recorded yet. Run a pipeline to record one.",
    )


@pipeline.command("run")
@click.argument("source", metavar="FILE_OR_MODULE:PIPELINE")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A pipeline parameter, read as its annotated type (int, float, bool, str, "
                   "list as JSON: [1,2]); unannotated ones as JSON when VALUE parses, else as text.")
@click.option("--name", "run_name", metavar="NAME", help="The run name (default: generated).")
@click.option("--no-cache", is_flag=True, help="Run every step, even where the cache has its outputs.")
def run_pipeline(source: str, params: tuple[str, ...], run_name: str | None, no_cache: bool) -> None:
    """Run a pipeline on the active stack and record it.

    SOURCE is `path/to/file.py:pipeline_name` or `package.module:pipeline_name`.
    Parameters are checked against their annotations before anything runs or
    is recorded. Prints the run's name and status; a failed step exits 1 and
    is named (`zen-mlmd run describe RUN` shows every step).
    """
    from zen_mlmd.pipelines.parameters import annotations_of, from_text
    from zen_mlmd.tracking.reproduce import load_pipeline_source

    texts = {}
    for item in params:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--param")
        texts[key] = raw
    found = load_pipeline_source(source)
    annotations = annotations_of(found.func)
    parameters = {key: from_text(found.name, key, raw, annotations.get(key))
                  for key, raw in texts.items()}
    result = found.run(run_name=run_name, enable_cache=False if no_cache else None, **parameters)
    if result.status == "submitted":
        output.success(f"Run {result.name!r} submitted: {result}.")
    else:
        output.success(f"Run {result.name!r} finished: {result.status}.")
