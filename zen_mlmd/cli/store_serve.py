"""`zen-mlmd metadata-store serve NAME`: serve a registered database store over MLMD's gRPC API.

Attached to the `metadata-store` group (zen_mlmd/cli/metadata_store.py).
Only click at module level.
"""
from __future__ import annotations

import click

from zen_mlmd.cli import output


@click.command("serve")
@click.argument("name")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any but loopback needs --token or mutual TLS.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--token", metavar="REF", default=None,
              help="Require `authorization: Bearer <token>` on every call; REF is a "
                   "${ENV_VAR} or file:/path reference to the token.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False),
              help="Server certificate (PEM); enables TLS.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False),
              help="Server private key (PEM).")
@click.option("--tls-client-ca", type=click.Path(exists=True, dir_okay=False),
              help="CA that client certificates must chain to (mutual TLS).")
@click.option("--read-only", is_flag=True,
              help="Answer reads only: every write (Put*, ...) gets PERMISSION_DENIED.")
@click.option("--reflection", is_flag=True, help="Serve gRPC server reflection.")
@click.option("--max-message-mb", default=100, show_default=True, type=click.IntRange(1, 2047),
              help="Largest gRPC message accepted or sent.")
@click.option("--max-request-mb", default=16, show_default=True, type=click.IntRange(1, 2047),
              help="Largest request accepted (at most --max-message-mb).")
@click.option("--max-concurrent-rpcs", default=32, show_default=True, type=click.IntRange(min=1),
              help="Calls held at once; more get RESOURCE_EXHAUSTED.")
@click.option("--ready-file", type=click.Path(dir_okay=False),
              help="Write the bound port to this file once serving (for scripts using --port 0).")
def serve_command(name: str, host: str, port: int, token: str | None, tls_cert: str | None,
          tls_key: str | None, tls_client_ca: str | None, read_only: bool, reflection: bool,
          max_message_mb: int, max_request_mb: int, max_concurrent_rpcs: int,
          ready_file: str | None) -> None:
    """Serve a store over MLMD's gRPC API (like Kubeflow).

    Speaks what Kubeflow's metadata-grpc-service speaks. Clients use the
    `kubeflow` flavor with this host and port (and its `token` option). Stops
    on Ctrl+C or SIGTERM, letting calls in flight finish. Refused calls are
    logged on stderr (never with the token).
    """
    if bool(tls_cert) != bool(tls_key) or (tls_client_ca and not tls_cert):
        raise click.UsageError("--tls-cert and --tls-key go together (and --tls-client-ca needs both)")
    from zen_mlmd.secrets import resolve_reference

    from zen_mlmd.stack import StackRegistry

    secret = resolve_reference(token, "--token")
    component = StackRegistry().get_metadata_store(name)
    if not component.flavor.is_database:
        output.fail(f"metadata store {name!r} ({component.flavor_name}) is itself a gRPC endpoint. "
                    "Fix: serve a database store (sqlite, mysql, postgresql)", code=2)
    report = component.preflight()
    if not report.ok:
        output.fail(f"metadata store {name!r} ({report.target}): {report.problem}. Fix: {report.fix}")
    from zen_mlmd.server import ServerTLS, serve_forever
    from zen_mlmd.server.runner import log_to_stderr

    tls = ServerTLS(server_cert=tls_cert, server_key=tls_key, client_ca=tls_client_ca) \
        if tls_cert else None
    log_to_stderr()
    click.echo(f"Metadata store {name!r} ({report.target}); press Ctrl+C to stop.")
    serve_forever(component.connection_config(), host=host, port=port,
                  max_message_mb=max_message_mb, tls=tls, store_name=name, ready_file=ready_file,
                  token=secret, read_only=read_only, reflection=reflection,
                  max_concurrent_rpcs=max_concurrent_rpcs, max_request_mb=max_request_mb,
                  **component.flavor.store_options(component.config))
    click.echo("Stopped.")
