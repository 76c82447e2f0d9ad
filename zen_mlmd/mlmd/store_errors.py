"""What an MLMD failure means to a user: zen_mlmd's errors made from MLMD's.

Each names the store and the fix, and keeps MLMD's own error as
`mlmd_error` (see `is_not_found` and friends) so that callers can tell a
refusal they can handle from any other failure.
"""
from __future__ import annotations

import re

from ml_metadata import errors as mlmd_errors

from zen_mlmd.errors import SchemaVersionError, StoreError, StoreUnavailableError

_NEWER_SCHEMA = re.compile(r"database version (\d+) is greater than library version (\d+)")
_MYSQL_GONE = ("Lost connection to MySQL server", "MySQL server has gone away")
#: In the message of an open that lost a race to create a new store's schema.
CREATED_CONCURRENTLY = "another process was creating it"


def schema_error(store_name: str, text: str, *, newer_fix: str, not_migrating: str,
                 upgrade: str) -> SchemaVersionError | None:
    """The error when MLMD refused to open a store for its schema version (`text`
    is MLMD's reason), else None; the caller says who does not migrate and how to."""
    newer = _NEWER_SCHEMA.search(text)
    if newer:
        return SchemaVersionError(
            f"{store_name}: the database schema version {newer.group(1)} is newer than this "
            f"ml-metadata library supports ({newer.group(2)}). Fix: {newer_fix}")
    if "older than library version" in text or "migration is disabled" in text.lower():
        return SchemaVersionError(
            f"{store_name}: the database schema is older than this ml-metadata library and "
            f"{not_migrating} on its own. Fix: back the database up, then {upgrade}")
    return None


def open_error(store_name: str, exc: Exception) -> Exception:
    """The error for a store MLMD could not open."""
    text = str(exc)
    schema = schema_error(
        store_name, text, newer_fix="upgrade zen-mlmd and ml-metadata to the version that wrote this store",
        not_migrating="zen_mlmd never migrates",
        upgrade=f"run `zen-mlmd metadata-store upgrade {store_name}`")
    if schema is not None:
        return schema
    if any(marker in text for marker in (
            "concurrent connection to the empty database",  # MLMD, MySQL and SQLite
            "pg_database_datname_index",  # PostgreSQL: the database was created meanwhile
            "pg_type_typname_nsp_index",  # PostgreSQL: a table was created meanwhile
            "Deadlock found when trying to get lock",  # MySQL: schema creation raced
            # SQLite: the file stayed locked by the process creating the schema
            "Concurrent writes aborted after max number of retries",
    )):
        return StoreUnavailableError(
            f"{store_name}: could not open the store: {CREATED_CONCURRENTLY} "
            f"at the same moment ({text.strip()}). Fix: open it again; to avoid this, create "
            f"a new store once (`zen-mlmd metadata-store init {store_name}`) "
            "before starting concurrent writers"
        )
    if isinstance(exc, mlmd_errors.UnavailableError):
        return StoreUnavailableError(f"{store_name}: unavailable: {text}")
    return StoreUnavailableError(
        f"{store_name}: could not open the store: {text or type(exc).__name__}. "
        f"Fix: run `zen-mlmd metadata-store check {store_name}` for the cause"
    )


def ambiguous_write_error(store_name: str, method_name: str, exc: Exception) -> Exception:
    """A retried write found its records there: the first try was written after all."""
    error = StoreUnavailableError(
        f"{store_name}: {method_name} was retried after the store stopped answering, "
        f"and the retry found the records already there: the first try was written before "
        f"the connection failed. Fix: read the run back (`zen-mlmd run describe RUN`) before "
        f"recording it again")
    error.mlmd_error = exc
    return error


def call_error(store_name: str, method_name: str, exc: Exception, tries: int = 1) -> Exception:
    """The error for a call MLMD refused or could not answer (after `tries` tries)."""
    text = str(exc) or type(exc).__name__
    after = f" after {tries} tries" if tries > 1 else ""
    check = f"Fix: run `zen-mlmd metadata-store check {store_name}` for the cause"
    if isinstance(exc, mlmd_errors.AbortedError):
        error = StoreUnavailableError(
            f"{store_name}: {method_name} failed{after}: the store stayed busy (another "
            f"writer held its lock, or transactions kept conflicting): {text}. Fix: retry "
            "later; with SQLite, make sure no other process keeps the database file locked, "
            "or use MySQL or PostgreSQL for many concurrent writers"
        )
    elif isinstance(exc, mlmd_errors.DeadlineExceededError):
        error = StoreUnavailableError(
            f"{store_name}: {method_name} failed: no answer within the client timeout "
            f"(client_timeout_sec): {text}. {check}"
        )
    elif isinstance(exc, mlmd_errors.UnavailableError) or mysql_gone(exc):
        error = StoreUnavailableError(
            f"{store_name}: {method_name} failed{after}: the store did not answer: "
            f"{text}. {check}"
        )
    else:
        error = StoreError(f"{store_name}: {method_name} failed: {text}. {check}; if the "
                           "store answers, the request itself was refused (see MLMD's reason)")
    error.mlmd_error = exc
    return error


def mysql_gone(exc: Exception) -> bool:
    """The MySQL server went away (restart): MLMD reconnects on the next call."""
    text = str(exc)
    return any(marker in text for marker in _MYSQL_GONE)


def is_not_found(error: Exception) -> bool:
    """True when a translated StoreError came from MLMD's NotFound."""
    return isinstance(getattr(error, "mlmd_error", None), mlmd_errors.NotFoundError)


def is_already_exists(error: Exception) -> bool:
    """True when a translated StoreError came from MLMD's AlreadyExists."""
    return isinstance(getattr(error, "mlmd_error", None), mlmd_errors.AlreadyExistsError)


def is_invalid_argument(error: Exception) -> bool:
    """True when a translated StoreError came from MLMD's InvalidArgument (e.g. a link to an id gone)."""
    return isinstance(getattr(error, "mlmd_error", None), mlmd_errors.InvalidArgumentError)
