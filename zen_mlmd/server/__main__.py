"""`python -m zen_mlmd.server`: serve one MLMD store from a text-format ConnectionConfig.

The low-level entry point (the `zen-mlmd metadata-store serve` command builds
the config from a registered store instead). Example:

    python -m zen_mlmd.server --connection-config store.pbtxt --port 8080

where store.pbtxt holds e.g. `sqlite { filename_uri: "/data/mlmd.sqlite" }`.
With `--ready-file`, the bound port is written there once the server accepts
calls, which lets scripts and tests start it on port 0 and wait for it.
Exit status: 0 after a clean stop (SIGTERM/SIGINT), 2 on a bad argument or
config, 1 when the store cannot be opened or served.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zen_mlmd.errors import ConfigError, ZenMLMDError
from zen_mlmd.server.runner import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_HOST,
    DEFAULT_MAX_CONCURRENT_RPCS,
    DEFAULT_MAX_MESSAGE_MB,
    DEFAULT_MAX_REQUEST_MB,
    DEFAULT_MAX_WORKERS,
    ServerTLS,
    log_to_stderr,
    serve_forever,
)


def read_connection_config(path: str | Path):
    """Parse a text-format `ml_metadata.ConnectionConfig` file.

    Raises:
        ConfigError: the file is missing or not a valid ConnectionConfig. The
            message gives the line and column but never the text, which may
            hold a password.
    """
    from google.protobuf import text_format
    from ml_metadata.proto import metadata_store_pb2

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError("--connection-config", str(path), f"cannot be read ({exc.strerror})",
                          "give the path of a text-format ConnectionConfig file") from None
    config = metadata_store_pb2.ConnectionConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        message = str(exc)
        # Unknown field names are safe to show; other messages quote the line.
        if "has no field named" in message:
            problem = message.split(" : ", 1)[-1].rstrip(".")
        else:
            problem = "syntax error (the text is not shown: it may hold a password)"
        raise ConfigError(
            "--connection-config", str(path),
            f"not a text-format ConnectionConfig at line {exc.GetLine()}, "
            f"column {exc.GetColumn()}: {problem}",
            'write e.g. sqlite { filename_uri: "/path/mlmd.sqlite" }',
        ) from None
    return config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m zen_mlmd.server",
        description="Serve ml_metadata.MetadataStoreService over a database-backed MLMD store.",
    )
    parser.add_argument("--connection-config", required=True, metavar="FILE",
                        help="text-format ml_metadata.ConnectionConfig of the database")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to bind (default {DEFAULT_HOST}; 0.0.0.0 for all, which "
                             "needs --token or mutual TLS)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--ready-file", metavar="FILE",
                        help="write the bound port here once serving")
    parser.add_argument("--tls-cert", metavar="PEM", help="server certificate chain")
    parser.add_argument("--tls-key", metavar="PEM", help="server private key")
    parser.add_argument("--tls-client-ca", metavar="PEM",
                        help="require client certificates signed by this CA (mutual TLS)")
    parser.add_argument("--token", metavar="REF",
                        help="require `authorization: Bearer <token>`; REF is ${ENV_VAR} or file:/path")
    parser.add_argument("--read-only", action="store_true",
                        help="refuse every call but reads (Get*) with PERMISSION_DENIED")
    parser.add_argument("--reflection", action="store_true", help="serve gRPC server reflection")
    parser.add_argument("--max-message-mb", type=float, default=DEFAULT_MAX_MESSAGE_MB,
                        help=f"largest message in MB (default {DEFAULT_MAX_MESSAGE_MB})")
    parser.add_argument("--max-request-mb", type=float, default=DEFAULT_MAX_REQUEST_MB,
                        help=f"largest request in MB (default {DEFAULT_MAX_REQUEST_MB})")
    parser.add_argument("--max-concurrent-rpcs", type=int, default=DEFAULT_MAX_CONCURRENT_RPCS,
                        help=f"calls held at once (default {DEFAULT_MAX_CONCURRENT_RPCS})")
    parser.add_argument("--max-workers", type=int, default=DEFAULT_MAX_WORKERS,
                        help="threads answering calls")
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE_SECONDS,
                        help="seconds in-flight calls get to finish on SIGTERM")
    parser.add_argument("--allow-upgrade", action="store_true",
                        help="migrate an older database schema (back it up first)")
    parser.add_argument("--sqlite-journal", choices=("wal", "delete"), default="wal",
                        help="journal mode of a SQLite database: wal (default) or delete "
                             "(keep it on network file systems, where WAL is unsafe)")
    return parser


def _tls(args: argparse.Namespace) -> ServerTLS | None:
    if not (args.tls_cert or args.tls_key or args.tls_client_ca):
        return None
    if not (args.tls_cert and args.tls_key):
        missing = "--tls-key" if args.tls_cert else "--tls-cert"
        raise ConfigError(missing, "<missing>", "TLS needs both a certificate and its key",
                          "give --tls-cert and --tls-key together")
    return ServerTLS(args.tls_cert, args.tls_key, args.tls_client_ca)


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        from zen_mlmd.secrets import resolve_reference

        token = resolve_reference(args.token, "--token")
        config = read_connection_config(args.connection_config)
        log_to_stderr()
        serve_forever(
            config, host=args.host, port=args.port, max_message_mb=args.max_message_mb,
            tls=_tls(args), max_workers=args.max_workers, allow_upgrade=args.allow_upgrade,
            store_name=Path(args.connection_config).name, grace=args.grace,
            ready_file=args.ready_file, token=token, read_only=args.read_only,
            reflection=args.reflection, max_concurrent_rpcs=args.max_concurrent_rpcs,
            max_request_mb=args.max_request_mb,
            sqlite_journal=args.sqlite_journal,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ZenMLMDError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
