"""`zen-mlmd export` and `zen-mlmd import`: a store as a JSONL archive or OpenLineage events."""
from __future__ import annotations

import contextlib
import datetime as _dt

import click

from zen_mlmd.cli import output


def _since(value: str | None) -> _dt.datetime | None:
    if value is None:
        return None
    from zen_mlmd.errors import ConfigError

    try:
        moment = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError("--since", value, "is not a date",
                          "write it as YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC unless an offset is given)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.timezone.utc)


def _open(store_name: str | None, read_only: bool):
    from zen_mlmd.stack import StackRegistry

    registry = StackRegistry()
    component = (registry.get_metadata_store(store_name) if store_name
                 else registry.get_active_stack().metadata_store)
    return component.open(read_only=read_only)


def _progress(label: str, length: int = 0):
    return click.progressbar(length=length, label=label, show_pos=True, file=click.get_text_stream("stderr"))


#: The batches a records bar counts: nodes, whose number is known up front for a run selection.
NODE_BATCHES = ("contexts", "artifacts", "executions")


@contextlib.contextmanager
def records_progress(label: str, length: int | None = None):
    """A bar over the contexts, artifacts and executions written: (set_total, advance).

    With a total (`length`, or `set_total(n)` before the first batch) it shows
    how far it is; without one (the whole store: MLMD has no count RPC) it counts.
    """
    with _progress(label, length or 0) as bar:
        known = [length is not None]

        def set_total(total: int | None) -> None:
            if total is not None:
                bar.length, known[0] = total, True

        def advance(what: str, count: int) -> None:
            if what not in NODE_BATCHES:
                return
            if not known[0]:
                bar.length = (bar.length or 0) + count
            bar.update(count)

        yield set_total, advance


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "openlineage"]), required=True,
              help="jsonl: a versioned archive that `zen-mlmd import` reads back; openlineage: "
                   "one START and one COMPLETE/FAIL RunEvent per step execution.")
@click.option("--output", "output_path", type=click.Path(dir_okay=False, writable=True),
              help="The file to write (one JSON object per line).")
@click.option("--url", metavar="URL", help="openlineage: POST the events to this OpenLineage "
              "endpoint (e.g. http://localhost:5000) instead of writing a file.")
@click.option("--namespace", default="zen-mlmd", show_default=True,
              help="openlineage: the namespace of the jobs.")
@click.option("--pipeline", "pipeline_name", metavar="PIPELINE", help="Only this pipeline's runs.")
@click.option("--since", metavar="DATE", help="Only runs started at or after DATE (YYYY-MM-DD).")
@click.option("--store", "store_name", metavar="NAME", default=None,
              help="Export this registered metadata store instead of the active stack's.")
def export_command(fmt: str, output_path: str | None, url: str | None, namespace: str,
                   pipeline_name: str | None, since: str | None, store_name: str | None) -> None:
    """Export the store (or some runs) as a JSONL archive or as OpenLineage events."""
    if fmt == "jsonl" and (url or not output_path):
        raise click.UsageError("--format jsonl writes a file: give --output FILE (and no --url)")
    if fmt == "openlineage" and not (output_path or url):
        raise click.UsageError("--format openlineage needs --output FILE or --url URL")
    since_time = _since(since)
    with _open(store_name, read_only=True) as store:
        if fmt == "jsonl":
            from zen_mlmd.lifecycle.archive import export_archive
            from zen_mlmd.mlmd.store_reading import select_runs

            since_ms = int(since_time.timestamp() * 1000) if since_time else None
            selection = select_runs(store, pipeline_name, since_ms)
            with records_progress("Exporting records") as (set_total, advance):
                counts = export_archive(store, output_path, selection, progress=advance, total=set_total)
            output.success(f"Wrote {output_path}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
            return
        from zen_mlmd.lifecycle.openlineage import export_events

        with _progress("Exporting runs' events") as bar:
            def run_done(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            sent = export_events(store, output_path=output_path, url=url, namespace=namespace,
                                 pipeline=pipeline_name, since=since_time, progress=run_done)
    where = " and ".join(p for p in (output_path, url) if p)
    output.success(f"Exported {sent} OpenLineage events to {where}.")


@click.command("import")
@click.argument("archive_path", metavar="FILE")
@click.option("--store", "store_name", metavar="NAME", default=None,
              help="Import into this registered metadata store instead of the active stack's.")
def import_command(archive_path: str, store_name: str | None) -> None:
    """Import a JSONL archive (from `zen-mlmd export --format jsonl`) into an empty store.

    Records keep their ids and times. The file is checked whole before
    anything is written; an interrupted import resumes when run again.
    """
    from zen_mlmd.lifecycle.archive import check_archive, import_archive

    _, expected, _ = check_archive(archive_path)  # a bad file is refused before the store is opened
    nodes = sum(expected.get(kind, 0) for kind in ("context", "artifact", "execution"))
    with _open(store_name, read_only=False) as store:
        with records_progress("Importing records", nodes) as (_, advance):
            counts = import_archive(archive_path, store, progress=advance)
    output.success(f"Imported {archive_path}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
