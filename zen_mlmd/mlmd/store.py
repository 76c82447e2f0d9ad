"""A connected MLMD store: open, never migrate silently, count calls, retry.

`MetadataStore` wraps `ml_metadata.MetadataStore`. Every RPC it makes (one
per page for paginated reads) is counted by name in `calls`, so tests can
hold the rules that keep zen_mlmd fast. Transient failures (Aborted,
Unavailable) are retried a bounded number of times with backoff; everything
else is translated into zen_mlmd's error tree with MLMD's reason kept.
"""
from __future__ import annotations

import collections
import re
import threading
import time
from typing import Any, Callable

from ml_metadata import errors as mlmd_errors
from ml_metadata.metadata_store import metadata_store as mlmd
from ml_metadata.proto import metadata_store_pb2

from zen_mlmd.errors import SchemaVersionError, StoreError, StoreUnavailableError

#: Retried errors: a concurrent writer (Aborted) or a server that is briefly
#: away (Unavailable). Bounded: 4 tries over ~1.5 s, then the error surfaces.
RETRIED_ERRORS = (mlmd_errors.AbortedError, mlmd_errors.UnavailableError)
RETRY_DELAYS = (0.1, 0.4, 1.0)

_NEWER_SCHEMA = re.compile(r"database version (\d+) is greater than library version (\d+)")
_OLDER_SCHEMA = re.compile(r"version (\d+) .*older than library version (\d+)", re.S)
_MYSQL_GONE = ("Lost connection to MySQL server", "MySQL server has gone away")


class MetadataStore:
    """A connection to one MLMD store.

    Args:
        connection_config: a `ConnectionConfig` (database) or
            `MetadataStoreClientConfig` (gRPC endpoint), as a flavor builds it.
        store_name: the registered name, used in error messages.
        allow_upgrade: migrate an older schema. Only `zen-mlmd metadata-store
            upgrade` sets it; opening a store never migrates on its own.

    Raises:
        SchemaVersionError: the schema is older (upgrade explicitly) or newer
            (upgrade zen_mlmd / ml-metadata) than this library.
        StoreUnavailableError: the store could not be opened.
    """

    def __init__(self, connection_config, *, store_name: str = "", allow_upgrade: bool = False):
        self.store_name = store_name or "metadata store"
        self.connection_config = connection_config
        self.calls: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._type_ids: dict[tuple[str, str], int] = {}
        self._types_by_id: dict[tuple[str, int], Any] = {}
        try:
            self.raw = mlmd.MetadataStore(connection_config, enable_upgrade_migration=allow_upgrade)
        except Exception as exc:  # MLMD raises RuntimeError or a StatusError here
            raise self._open_error(exc) from None
        raw_call = self.raw._call
        self.raw._call = self._wrap_call(raw_call)

    # -- calls ---------------------------------------------------------------
    def _wrap_call(self, raw_call: Callable) -> Callable:
        def call(method_name, request, response):
            with self._lock:
                self.calls[method_name] += 1
            for attempt, delay in enumerate((*RETRY_DELAYS, None)):
                try:
                    return raw_call(method_name, request, response)
                except RETRIED_ERRORS as exc:
                    if delay is None:
                        raise self._call_error(method_name, exc) from None
                    time.sleep(delay)
                except mlmd_errors.StatusError as exc:
                    if _mysql_gone(exc) and delay is not None:
                        time.sleep(delay)  # MySQL restarted: the next call reconnects
                        continue
                    raise self._call_error(method_name, exc) from None
                except RuntimeError as exc:
                    if _mysql_gone(exc) and delay is not None:
                        time.sleep(delay)  # MySQL restarted: the next call reconnects
                        continue
                    raise self._call_error(method_name, exc) from None

        return call

    @property
    def write_calls(self) -> int:
        """How many write RPCs (Put*) this connection made."""
        return sum(n for name, n in self.calls.items() if name.startswith("Put"))

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()

    def __getattr__(self, name: str):
        # The MLMD API itself (get_*, put_*), counted through `_call`.
        if name.startswith(("get_", "put_")):
            return getattr(self.raw, name)
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
        except StoreError:
            return None
        self._type_ids[key] = type_proto.id
        self._types_by_id[(kind, type_proto.id)] = type_proto
        return type_proto.id

    # -- schema ------------------------------------------------------------------
    def schema_version(self) -> int:
        """The MLMD schema version of the database (via the migration options)."""
        return library_schema_version()

    # -- errors ------------------------------------------------------------------
    def _open_error(self, exc: Exception) -> Exception:
        text = str(exc)
        newer = _NEWER_SCHEMA.search(text)
        if newer:
            return SchemaVersionError(
                f"{self.store_name}: the database schema version {newer.group(1)} is newer than "
                f"this ml-metadata library supports ({newer.group(2)}). Fix: upgrade zen-mlmd and "
                "ml-metadata to the version that wrote this store"
            )
        if "older than library version" in text or "migration is disabled" in text.lower():
            return SchemaVersionError(
                f"{self.store_name}: the database schema is older than this ml-metadata library "
                f"and zen_mlmd never migrates on its own. Fix: back the database up, then run "
                f"`zen-mlmd metadata-store upgrade {self.store_name}`"
            )
        if isinstance(exc, mlmd_errors.UnavailableError):
            return StoreUnavailableError(f"{self.store_name}: unavailable: {text}")
        return StoreUnavailableError(
            f"{self.store_name}: could not open the store: {text or type(exc).__name__}. "
            f"Fix: run `zen-mlmd metadata-store check {self.store_name}` for the cause"
        )

    def _call_error(self, method_name: str, exc: Exception) -> Exception:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, (mlmd_errors.UnavailableError, mlmd_errors.DeadlineExceededError)):
            return StoreUnavailableError(f"{self.store_name}: {method_name} failed: {text}")
        if _mysql_gone(exc):
            return StoreUnavailableError(f"{self.store_name}: {method_name} failed: {text}")
        error = StoreError(f"{self.store_name}: {method_name} failed: {text}")
        error.mlmd_error = exc
        return error


def _mysql_gone(exc: Exception) -> bool:
    """The MySQL server went away (restart): MLMD reconnects on the next call."""
    text = str(exc)
    return any(marker in text for marker in _MYSQL_GONE)


def library_schema_version() -> int:
    """The MLMD schema version this ml-metadata library writes."""
    return _LIBRARY_SCHEMA_VERSION


# ml-metadata 1.17.1 writes schema version 10 (the version MLMD 1.14 servers use).
_LIBRARY_SCHEMA_VERSION = 10


def is_not_found(error: Exception) -> bool:
    """True when a translated StoreError came from MLMD's NotFound."""
    return isinstance(getattr(error, "mlmd_error", None), mlmd_errors.NotFoundError)


def is_already_exists(error: Exception) -> bool:
    """True when a translated StoreError came from MLMD's AlreadyExists."""
    return isinstance(getattr(error, "mlmd_error", None), mlmd_errors.AlreadyExistsError)


def in_memory_connection_config() -> metadata_store_pb2.ConnectionConfig:
    """An MLMD fake (in-memory) database: for tests and benchmarks."""
    config = metadata_store_pb2.ConnectionConfig()
    config.fake_database.SetInParent()
    return config
