"""`zen-mlmd metadata-store copy SRC DST`: copy every record of one store into another.

Attached to the `metadata-store` group (zen_mlmd/cli/metadata_store.py).
Only click at module level.
"""
from __future__ import annotations

import click

from zen_mlmd.cli import output


@click.command("copy")
@click.argument("source_name", metavar="SRC")
@click.argument("destination_name", metavar="DST")
@click.option("--pipeline", "pipeline_name", metavar="PIPELINE",
              help="Copy only this pipeline's runs (and what they used).")
@output.json_option
def copy_command(source_name: str, destination_name: str, pipeline_name: str | None,
                 as_json: bool) -> None:
    """Copy registered store SRC into registered store DST (empty, a database).

    Every type, context, execution, artifact, event, attribution, association
    and parent link is copied with its times; artifact URIs are kept as they
    are (the files are not copied). Records keep their ids, so DST must hold
    no records yet: a new SQLite file or an empty MySQL/PostgreSQL database.
    An interrupted copy resumes when run again; counts are verified at the end.
    """
    from zen_mlmd.cli.archive import records_progress
    from zen_mlmd.mlmd.copying import copy_store
    from zen_mlmd.mlmd.store_reading import select_runs
    from zen_mlmd.stack import StackRegistry

    if source_name == destination_name:
        raise click.UsageError("SRC and DST are the same store")
    registry = StackRegistry()
    source_component = registry.get_metadata_store(source_name)
    destination_component = registry.get_metadata_store(destination_name)
    if not destination_component.flavor.is_database:
        from zen_mlmd.errors import ConfigError

        raise ConfigError(
            "DST", destination_name,
            f"is a {destination_component.flavor_name} store, a gRPC endpoint: a copy keeps every "
            "record's id and time, which only SQL into a database can write (MLMD's API assigns "
            "new ones)",
            "copy into the database behind that service, registered as a sqlite, mysql or "
            "postgresql store, or into a new SQLite file (`zen-mlmd metadata-store register NAME "
            "-f sqlite --path FILE`)")
    with source_component.open(read_only=True) as source, destination_component.open() as destination:
        selection = select_runs(source, pipeline_name) if pipeline_name else None
        with records_progress("Copying records") as (set_total, advance):
            counts = copy_store(source, destination, selection, progress=advance, total=set_total)
    if as_json:
        output.print_json({"source": source_name, "destination": destination_name, "counts": counts})
        return
    output.success(f"Copied {source_name!r} into {destination_name!r}; counts verified:")
    output.print_mapping(counts, indent=2)
