"""`zen-mlmd ui`: a read-only web view of a metadata store."""
from __future__ import annotations

import click

from zen_mlmd.cli import output


@click.command()
@click.option("--store", "store_name", metavar="NAME", default=None,
              help="Show this registered metadata store instead of the active stack's.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes the store's records (a warning is printed).")
@click.option("--port", default=8237, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
def ui(store_name: str | None, host: str, port: int) -> None:
    """Serve a read-only web view of a metadata store: runs, graphs, artifacts, lineage, comparisons.

    Runs recorded by zen_mlmd, Kubeflow Pipelines and TFX are shown alike.
    The store is opened read-only; nothing is written. Stop with Ctrl-C.
    """
    from zen_mlmd.ui import server

    choice = server.choose_store(store_name)
    warning = server.exposure_warning(host, port, choice.label)
    sock = server.bind(host, port)
    if warning:
        output.note(f"Warning: {warning}")

    def started(url: str) -> None:
        click.echo(f"Serving {choice.label}, read-only, at {url} (Ctrl-C stops)", nl=True)

    try:
        server.serve(choice, sock, on_started=started)
    finally:
        sock.close()
