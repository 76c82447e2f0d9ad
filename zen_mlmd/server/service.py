"""MLMD's `MetadataStoreService`, answered by forwarding raw bytes to the C++ store.

The ml-metadata wheel ships one C++ function per RPC that takes the serialized
request and returns the serialized response, so the server never parses a
message: bytes in, bytes out. This keeps it wire-compatible with Kubeflow's
`metadata-grpc-service` (same service, same status codes) and cheap.

This module imports grpc and ml_metadata at module level; import it only where
a server is started.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

import grpc
from ml_metadata.metadata_store.pywrap.metadata_store_extension import (
    metadata_store as cc_store,
)
from ml_metadata.proto import metadata_store_pb2, metadata_store_service_pb2

from zen_mlmd.errors import ConfigError, StoreUnavailableError
from zen_mlmd.mlmd.journal import DEFAULT_JOURNAL_MODE, set_journal_mode
from zen_mlmd.mlmd.store_errors import schema_error

logger = logging.getLogger(__name__)

#: The full gRPC name of the service, as clients and health checks name it.
SERVICE_NAME = "ml_metadata.MetadataStoreService"

SERVICE_DESCRIPTOR = metadata_store_service_pb2.DESCRIPTOR.services_by_name[
    "MetadataStoreService"
]

#: RPCs of the service that the C++ library of ml-metadata does not provide,
#: with what a client can call instead.
UNSUPPORTED_ALTERNATIVES = {
    "GetLineageGraph": "use GetLineageSubgraph (MetadataStore.get_lineage_subgraph)",
    "GetParentContextsByContexts": "call GetParentContextsByContext once per context",
    "GetChildrenContextsByContexts": "call GetChildrenContextsByContext once per context",
}

# MLMD returns absl status codes, which are the canonical gRPC codes by number.
_GRPC_CODES = {code.value[0]: code for code in grpc.StatusCode}


Handler = Callable[[bytes, grpc.ServicerContext], bytes]


def check_connection_config(config) -> None:
    """Reject configs that MLMD cannot use, before MLMD sees them.

    Some of them abort the whole process inside ml-metadata's C++ code instead
    of raising, so they must be caught here.

    Args:
        config: the `ConnectionConfig` the server will open.

    Raises:
        ConfigError: naming the field, its value and the fix.
    """
    if not isinstance(config, metadata_store_pb2.ConnectionConfig):
        raise ConfigError(
            "connection_config", type(config).__name__,
            "the server needs a database ConnectionConfig",
            "pass the ConnectionConfig of a sqlite, mysql or postgresql store "
            "(a MetadataStoreClientConfig points at a server, it cannot back one)",
        )
    kind = config.WhichOneof("config")
    if kind is None:
        raise ConfigError(
            "connection_config", "<empty>", "no database is set",
            "set one of sqlite, mysql, postgresql or fake_database",
        )
    if kind == "mysql":
        mysql = config.mysql
        if bool(mysql.host) == bool(mysql.socket):
            raise ConfigError(
                "mysql.host/mysql.socket", mysql.host or mysql.socket or "<unset>",
                "exactly one of host and socket must be set",
                "set host (with port) for TCP, or socket for a Unix socket",
            )
        if not mysql.database:
            raise ConfigError("mysql.database", "", "the database name is empty",
                              "set the name of the MLMD database")
    elif kind == "postgresql":
        postgresql = config.postgresql
        if not postgresql.dbname:
            raise ConfigError("postgresql.dbname", "", "the database name is empty",
                              "set the name of the MLMD database")
        if not (postgresql.host or postgresql.hostaddr):
            raise ConfigError("postgresql.host", "", "neither host nor hostaddr is set",
                              "set host (a name) or hostaddr (an IP address)")
    elif kind == "sqlite" and not config.sqlite.filename_uri:
        raise ConfigError("sqlite.filename_uri", "", "the database file is not set",
                          "set the path of the SQLite file")


def open_store_handle(config, *, allow_upgrade: bool = False, store_name: str = "",
                      sqlite_journal: str = DEFAULT_JOURNAL_MODE):
    """Open the C++ MLMD store that the server forwards to.

    Args:
        config: a database `ConnectionConfig`.
        allow_upgrade: migrate an older schema; off by default so that a
            server never changes a shared database on its own.
        store_name: how error messages name the store.
        sqlite_journal: the journal mode of a SQLite file (see
            `zen_mlmd.mlmd.journal`): ``wal`` (default) or ``delete``.

    Returns:
        The opaque store handle the C++ RPC functions take.

    Raises:
        ConfigError: the config cannot be used.
        SchemaVersionError: the schema is older (and `allow_upgrade` is off)
            or newer than this ml-metadata library.
        StoreUnavailableError: the database could not be opened.
    """
    check_connection_config(config)
    set_journal_mode(config, sqlite_journal)
    migration = metadata_store_pb2.MigrationOptions(enable_upgrade_migration=allow_upgrade)
    try:
        return cc_store.CreateMetadataStore(
            config.SerializeToString(), migration.SerializeToString()
        )
    except Exception as exc:  # the extension raises RuntimeError with MLMD's reason
        raise _open_error(store_name or "metadata store", str(exc)) from None


def _open_error(store_name: str, text: str) -> Exception:
    schema = schema_error(
        store_name, text, newer_fix="serve it with the zen-mlmd / ml-metadata version that wrote it",
        not_migrating="the server does not migrate", upgrade="start the server once with --allow-upgrade")
    if schema is not None:
        return schema
    return StoreUnavailableError(
        f"{store_name}: could not open the database: {text or 'no reason given'}. "
        "Fix: check the connection config (host, port, file path, credentials)"
    )


class StoreForwarder:
    """Answers every RPC of `MetadataStoreService` from one C++ store handle.

    Args:
        store_handle: what `open_store_handle` returned.
    """

    def __init__(self, store_handle):
        self._store = store_handle
        # The C++ store holds one database connection. Its calls never release
        # the GIL, so they cannot overlap today; the lock keeps that true if a
        # later ml-metadata release starts releasing it.
        self._lock = threading.Lock()

    def forwarded_methods(self) -> list[str]:
        """Names of the RPCs answered by the C++ store."""
        return [m.name for m in SERVICE_DESCRIPTOR.methods if hasattr(cc_store, m.name)]

    def unsupported_methods(self) -> list[str]:
        """Names of the RPCs answered with UNIMPLEMENTED."""
        return [m.name for m in SERVICE_DESCRIPTOR.methods if not hasattr(cc_store, m.name)]

    def generic_handler(self) -> grpc.GenericRpcHandler:
        """A handler for every method of the service, requests and responses as bytes."""
        handlers = {}
        for method in SERVICE_DESCRIPTOR.methods:
            cc_function = getattr(cc_store, method.name, None)
            if cc_function is None:
                behaviour = _unimplemented(method.name)
            else:
                behaviour = self._forward(method.name, cc_function)
            # No (de)serializers: grpc hands us the request bytes and sends ours.
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(behaviour)
        return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)

    def close(self) -> None:
        """Drop the store handle; the C++ store closes its database connection."""
        with self._lock:
            self._store = None

    def _forward(self, method_name: str, cc_function) -> Handler:
        # (the status message travels in gRPC trailing metadata: see _bounded)
        def forward(request: bytes, context: grpc.ServicerContext) -> bytes:
            with self._lock:
                if self._store is None:
                    context.abort(grpc.StatusCode.UNAVAILABLE,
                                  f"{method_name}: the metadata server is shutting down")
                try:
                    response, error_message, status_code = cc_function(self._store, request)
                except Exception as exc:  # a bug or a broken build, not an MLMD status
                    logger.exception("%s raised inside ml-metadata", method_name)
                    context.abort(grpc.StatusCode.INTERNAL,
                                  f"{method_name} failed inside ml-metadata: {exc}")
            if status_code != 0:
                context.abort(
                    _GRPC_CODES.get(status_code, grpc.StatusCode.UNKNOWN),
                    _bounded(_text(error_message) or f"{method_name} failed (code {status_code})"),
                )
            return response

        forward.__name__ = method_name
        return forward


def _unimplemented(method_name: str) -> Handler:
    message = (
        f"{SERVICE_NAME}/{method_name} is not implemented by this server (ml-metadata's "
        f"C++ library has no {method_name}). Fix: "
        f"{UNSUPPORTED_ALTERNATIVES.get(method_name, 'use another RPC')}"
    )

    def unimplemented(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, message)

    unimplemented.__name__ = method_name
    return unimplemented


def _text(message) -> str:
    if isinstance(message, bytes):
        return message.decode("utf-8", errors="replace")
    return str(message or "")


#: gRPC clients refuse trailing metadata over 16 KiB and then report only
#: "Stream removed", losing the status code. MLMD's messages can quote whole
#: protos (AlreadyExists on a large context), so they are cut to fit.
MAX_STATUS_MESSAGE = 4096


def _bounded(message: str) -> str:
    if len(message) <= MAX_STATUS_MESSAGE:
        return message
    return message[:MAX_STATUS_MESSAGE] + f" ... [{len(message) - MAX_STATUS_MESSAGE} more characters]"
