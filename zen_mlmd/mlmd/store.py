"""A connected MLMD store: open, never migrate silently, count calls, retry.

`MetadataStore` wraps `ml_metadata.MetadataStore`. Every RPC it makes (one
per page for paginated reads) is counted by name in `calls`, so tests can
hold the rules that keep zen_mlmd fast. Transient failures (Aborted,
Unavailable) are retried a bounded number of times with backoff; everything
else is translated into zen_mlmd's error tree with MLMD's reason kept (see
`zen_mlmd.mlmd.calls`).
"""
from __future__ import annotations

import functools
import time
from typing import Any, Callable

from ml_metadata.metadata_store import metadata_store as mlmd
from ml_metadata.proto import metadata_store_pb2

from zen_mlmd.errors import StoreError
from zen_mlmd.mlmd.calls import RETRY_DELAYS, CallPolicy
from zen_mlmd.mlmd.journal import DEFAULT_JOURNAL_MODE, set_journal_mode
from zen_mlmd.mlmd.store_errors import CREATED_CONCURRENTLY, is_not_found, open_error


class MetadataStore:
    """A connection to one MLMD store.

    Args:
        connection_config: a `ConnectionConfig` (database) or
            `MetadataStoreClientConfig` (gRPC endpoint), as a flavor builds it.
        store_name: the registered name, used in error messages.
        allow_upgrade: migrate an older schema. Only `zen-mlmd metadata-store
            upgrade` sets it; opening a store never migrates on its own.
        call_metadata: gRPC metadata sent with every call to a gRPC endpoint
            (``authorization: Bearer ...``, from the flavor's `call_metadata`).
        read_only: refuse every write call (Put*) with `ReadOnlyStoreError`
            before it reaches MLMD. What the connection itself allows is the
            caller's to set (`MetadataStoreComponent.open(read_only=True)`
            opens SQLite in READONLY mode and never lets MLMD create a schema).
        sqlite_journal: for a SQLite file opened read-write, its journal
            mode: ``wal`` (write-ahead log, the default) or ``delete`` (the
            rollback journal, for network file systems); see
            `zen_mlmd.mlmd.journal`.

    Raises:
        SchemaVersionError: the schema is older (upgrade explicitly) or newer
            (upgrade zen_mlmd / ml-metadata) than this library.
        StoreUnavailableError: the store could not be opened.
    """

    def __init__(self, connection_config, *, store_name: str = "", allow_upgrade: bool = False,
                 read_only: bool = False, call_metadata=(),
                 sqlite_journal: str = DEFAULT_JOURNAL_MODE):
        if read_only and allow_upgrade:
            raise ValueError("a store opened read-only cannot be upgraded")
        self.store_name = store_name or "metadata store"
        self.connection_config = connection_config
        self._policy = CallPolicy(self.store_name, read_only)
        #: calls made, by RPC name; `retried`: retries, by RPC name (see `CallPolicy`)
        self.calls, self.retried = self._policy.calls, self._policy.retried
        self._type_ids: dict[tuple[str, str], int] = {}
        self._types_by_id: dict[tuple[str, int], Any] = {}
        self._close_callbacks: list[Callable[[], Any]] = []
        set_journal_mode(connection_config, sqlite_journal)
        for delay in (*RETRY_DELAYS, None):
            try:
                self.raw = mlmd.MetadataStore(connection_config, enable_upgrade_migration=allow_upgrade)
                break
            except Exception as exc:  # MLMD raises RuntimeError or a StatusError here
                error = open_error(self.store_name, exc)
                # another process creating the same new schema: the next try finds it made
                if delay is None or CREATED_CONCURRENTLY not in str(error):
                    raise error from None
                time.sleep(delay)
        # kept (never shown) for zen-mlmd's own services beside MLMD's (the delete extension)
        self._call_metadata = tuple(call_metadata)
        if call_metadata and connection_config.DESCRIPTOR.name == "MetadataStoreClientConfig":
            from zen_mlmd.mlmd import call_metadata as metadata

            metadata.attach(self.raw, connection_config, call_metadata)
        # MLMD's PostgreSQL schema has no unique index on type names: processes
        # registering a type at the same time can create it twice. Every
        # process then uses the id MLMD resolves the name to.
        self._resolve_type_names = (
            connection_config.DESCRIPTOR.name == "ConnectionConfig"
            and connection_config.WhichOneof("config") == "postgresql")
        self._policy.install(self.raw)

    # -- lifetime ------------------------------------------------------------
    def on_close(self, callback: Callable[[], Any]) -> None:
        """Run `callback` (no arguments) when the store is closed; last registered runs first.

        Whatever the connection depends on (a port-forward, a tunnel) is tied
        to the store this way.
        """
        self._close_callbacks.append(callback)

    def close(self) -> None:
        """Close the connection, then release what it depends on (the `on_close`
        callbacks). Safe to call again; a call made afterwards raises `StoreError`.

        The connection closes now, not when a garbage collection finds the
        store (a database server counts its connections). All callbacks run
        even if one raises; the first error is raised after.
        """
        if self._policy.closed:
            return
        self._policy.closed = True
        # ml-metadata's handle: the C++ store closes its database connection when
        # freed; a gRPC channel goes with its stub
        for handle in ("_metadata_store", "_metadata_store_stub"):
            if getattr(self.raw, handle, None) is not None:
                setattr(self.raw, handle, None)
        callbacks, self._close_callbacks = self._close_callbacks[::-1], []
        first_error: BaseException | None = None
        for callback in callbacks:
            try:
                callback()
            except BaseException as exc:  # noqa: BLE001 - run the others first
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    def close_if_forwarded(self) -> None:
        """Close the store if its connection goes through something `on_close`
        releases (a port-forward), which must not outlive its user; else keep it
        open for what was read through it (it closes with its last reference)."""
        if self._close_callbacks:
            self.close()

    @property
    def closed(self) -> bool:
        return self._policy.closed

    @property
    def read_only(self) -> bool:
        """True when every write call (Put*) is refused."""
        return self._policy.read_only

    def __enter__(self) -> "MetadataStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- calls ---------------------------------------------------------------
    @property
    def write_calls(self) -> int:
        """How many write RPCs (Put*) this connection made."""
        return sum(n for name, n in self.calls.items() if name.startswith("Put"))

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def reset_counts(self) -> None:
        with self._policy.lock:
            self.calls.clear()

    def __getattr__(self, name: str):
        # The MLMD API itself (get_*, put_*), counted through `_call`. The method
        # holds the store: `component.open().get_contexts()` keeps it open for the call.
        if name.startswith(("get_", "put_")):
            return functools.partial(_held_call, self, getattr(self.raw, name))
        raise AttributeError(name)

    # -- types, registered once per connection ---------------------------------
    def type_id(self, kind: str, type_proto) -> int:
        """Id of an artifact/execution/context type, registering it if missing.

        `kind` is "artifact", "execution" or "context". Registration is
        idempotent (`can_add_fields`) and cached for the life of the connection.
        """
        key = (kind, type_proto.name)
        cached = self._type_ids.get(key)
        if cached is not None:
            return cached
        put = getattr(self.raw, f"put_{kind}_type")
        type_id = put(type_proto, can_add_fields=True, can_omit_fields=True)
        if self._resolve_type_names:
            type_id = getattr(self.raw, f"get_{kind}_type")(type_proto.name).id
        self._type_ids[key] = type_id
        return type_id

    def types_by_id(self, kind: str, ids) -> dict[int, Any]:
        """Type protos by id, fetched once per connection (one call for all misses)."""
        missing = sorted({i for i in ids if (kind, i) not in self._types_by_id})
        if missing:
            getter = getattr(self.raw, f"get_{kind}_types_by_id")
            for type_proto in getter(missing):
                self._types_by_id[(kind, type_proto.id)] = type_proto
                self._type_ids.setdefault((kind, type_proto.name), type_proto.id)
        return {i: self._types_by_id[(kind, i)] for i in ids if (kind, i) in self._types_by_id}

    def cached_type_id(self, kind: str, name: str) -> int | None:
        """Id of an existing type by name (cached); None if it does not exist."""
        key = (kind, name)
        if key in self._type_ids:
            return self._type_ids[key]
        getter = getattr(self.raw, f"get_{kind}_type")
        try:
            type_proto = getter(name)
        except StoreError as error:
            if is_not_found(error):
                return None
            raise  # an outage must not read as an empty store
        self._type_ids[key] = type_proto.id
        self._types_by_id[(kind, type_proto.id)] = type_proto
        return type_proto.id

    # -- the database behind the store -----------------------------------------------
    @property
    def has_database(self) -> bool:
        """True when zen_mlmd can reach the store's tables with SQL (sqlite, mysql, postgresql)."""
        config = self.connection_config
        return (config.DESCRIPTOR.name == "ConnectionConfig"
                and config.WhichOneof("config") in ("sqlite", "mysql", "postgresql"))

    @property
    def identity(self) -> str:
        """Where the store is, stable and without secrets: ``sqlite:/path``,
        ``mysql://host:port/db``, ``postgresql://host:port/db``, ``grpc://host:port``."""
        config = self.connection_config
        if config.DESCRIPTOR.name != "ConnectionConfig":
            return f"grpc://{config.host}:{config.port}"
        kind = config.WhichOneof("config")
        if kind == "sqlite":
            return f"sqlite:{config.sqlite.filename_uri}"
        if kind == "mysql":
            where = config.mysql.socket or f"{config.mysql.host}:{config.mysql.port}"
            return f"mysql://{where}/{config.mysql.database}"
        if kind == "postgresql":
            pg = config.postgresql
            return f"postgresql://{pg.hostaddr or pg.host}:{pg.port}/{pg.dbname}"
        return f"{kind}:{self.store_name}"

    def database(self):
        """A `zen_mlmd.mlmd.database.SchemaDatabase` on the same database (close it after use).

        For what MLMD's API cannot do: delete records, write them with their
        original ids and times. Its schema version is checked on open.

        Raises:
            StoreError: the store is a gRPC endpoint (see `has_database`).
            SchemaVersionError: a schema version zen_mlmd's SQL was not written for.
        """
        from zen_mlmd.mlmd.database import SchemaDatabase

        return SchemaDatabase(self.connection_config, store_name=self.store_name)


def _held_call(store: MetadataStore, method: Callable, *args, **kwargs):
    """`method(*args, **kwargs)`, with `store` held until it returns."""
    return method(*args, **kwargs)


def library_schema_version() -> int:
    """The MLMD schema version this ml-metadata library writes."""
    return _LIBRARY_SCHEMA_VERSION


# ml-metadata 1.17.1 writes schema version 10 (the version MLMD 1.14 servers use).
_LIBRARY_SCHEMA_VERSION = 10


def in_memory_connection_config() -> metadata_store_pb2.ConnectionConfig:
    """An MLMD fake (in-memory) database: for tests and benchmarks."""
    config = metadata_store_pb2.ConnectionConfig()
    config.fake_database.SetInParent()
    return config
