"""Drop-in replacements for TFX's MLMD connection helpers, validated by zen_mlmd.

`sqlite_metadata_connection_config` and `mysql_metadata_connection_config`
take the arguments of the functions of the same name in
``tfx.orchestration.metadata`` and return protos equal to theirs, so a TFX
pipeline can switch its import without changing the store it writes to.
What they add is validation through zen_mlmd's flavors before MLMD sees the
config: an empty MySQL database name or host, which abort the whole Python
process inside MLMD's C++, or a SQLite path that is a directory, raise a
`ConfigError` naming the argument and the fix instead.

`connection_config_for` hands a TFX pipeline the exact proto of a metadata
store registered in zen_mlmd (by name, or a stack's), after its preflight.
"""
from __future__ import annotations

import os
import warnings
from typing import Any

from ml_metadata.proto import metadata_store_pb2

from zen_mlmd.errors import ConfigError, PreflightError

__all__ = [
    "LocalhostWarning",
    "connection_config_for",
    "mysql_metadata_connection_config",
    "sqlite_metadata_connection_config",
]

#: The option names of zen_mlmd's flavors, by TFX argument name.
_MYSQL_OPTIONS = {"host": "host", "port": "port", "database": "database", "username": "user"}


class LocalhostWarning(UserWarning):
    """A MySQL host of ``localhost``: MLMD's client then ignores the port (see the message)."""


def sqlite_metadata_connection_config(metadata_db_uri: str) -> metadata_store_pb2.ConnectionConfig:
    """A SQLite ``ConnectionConfig``, equal to TFX's helper of the same name.

    As TFX does, the file's directory is created and the path is kept as
    given (relative paths stay relative to the working directory), with
    ``connection_mode=READWRITE_OPENCREATE``.

    Args:
        metadata_db_uri: path of the SQLite database file.

    Raises:
        ConfigError: the path is empty, is a directory, or its directory
            cannot be created.
    """
    from zen_mlmd.flavors.registry import get_flavor

    flavor = get_flavor("sqlite")
    config = _parse(flavor, {"path": metadata_db_uri, "connection_mode": "readwrite_opencreate"},
                    {"path": "metadata_db_uri"})
    try:
        proto = flavor.connection_config(config)  # creates the (absolute) directory
    except ConfigError as exc:
        raise ConfigError("metadata_db_uri", metadata_db_uri, exc.problem, exc.fix) from None
    # TFX keeps the path as given; the flavor stores it absolute. A path with
    # "~" means a literal directory to SQLite, which TFX creates: so do we.
    _make_parent_dir(metadata_db_uri)
    proto.sqlite.filename_uri = metadata_db_uri
    return proto


def mysql_metadata_connection_config(
    host: str, port: int, database: str, username: str, password: str,
) -> metadata_store_pb2.ConnectionConfig:
    """A MySQL ``ConnectionConfig``, equal to TFX's helper of the same name.

    The proto is ``mysql{host, port, database, user, password}`` with every
    field set, exactly as TFX builds it. The host, port, database and user
    are first validated by zen_mlmd's `mysql` flavor; the password is passed
    through untouched (TFX never reads it as a ``${ENV}`` or ``file:``
    reference, so neither does this function).

    ``host="localhost"`` is kept, since TFX keeps it, but warns with a
    `LocalhostWarning`: MLMD's MySQL client then ignores `port` and tries the
    socket ``/tmp/mysql.sock``. zen_mlmd's own `mysql` flavor sends
    ``127.0.0.1`` instead; pass that to get a TCP connection on `port`.

    Raises:
        ConfigError: a bad host, port, database name or user, named by its
            TFX argument name.
    """
    from zen_mlmd.flavors.registry import get_flavor

    given = {"host": host, "port": port, "database": database, "username": username}
    # An empty user is legal for MLMD (the server's anonymous account); the
    # flavor refuses it, so it is left out of the validation only.
    options = {_MYSQL_OPTIONS[k]: v for k, v in given.items() if not (k == "username" and v == "")}
    config = _parse(get_flavor("mysql"), options, {v: k for k, v in _MYSQL_OPTIONS.items()})
    if host == "localhost":
        warnings.warn(
            "host='localhost': MLMD's MySQL client ignores the port for localhost and connects "
            "through the socket /tmp/mysql.sock. Use host='127.0.0.1' for TCP on port "
            f"{config.port}, or register the store with zen_mlmd's mysql flavor, which does so",
            LocalhostWarning, stacklevel=2,
        )
    return metadata_store_pb2.ConnectionConfig(
        mysql=metadata_store_pb2.MySQLDatabaseConfig(
            host=host, port=config.port, database=database, user=username, password=password,
        )
    )


def connection_config_for(store_name_or_stack: Any = None, *, preflight: bool = True, registry=None):
    """The exact MLMD connection proto of a zen_mlmd metadata store, for TFX.

    Pass the result to ``tfx.orchestration.pipeline.Pipeline(metadata_connection_config=...)``
    (or to ``tfx.orchestration.metadata.Metadata``): TFX accepts both a
    ``ConnectionConfig`` (database flavors) and a ``MetadataStoreClientConfig``
    (the `kubeflow` flavor's gRPC endpoint).

    Args:
        store_name_or_stack: a registered metadata-store name, a
            `zen_mlmd.stack.Stack`, a `MetadataStoreComponent`, or None for
            the active stack's store.
        preflight: check with a real client that the store can be used
            before returning. A flavor that requires it (MySQL with
            `verify_server_cert`) is always checked.
        registry: the `zen_mlmd.stack.StackRegistry` to look names up in
            (default: the user's config directory).

    Raises:
        UnknownNameError: no metadata store has that name.
        ConfigError: the store's options are invalid.
        PreflightError: the preflight failed; the message names the cause and the fix.
    """
    component = _metadata_store_component(store_name_or_stack, registry)
    if preflight or component.flavor.preflight_required(component.config):
        report = component.preflight()
        if not report.ok:
            fix = report.fix or f"run `zen-mlmd metadata-store check {component.name}` for the cause"
            raise PreflightError(f"metadata store {component.name!r} ({report.target}): {report.problem}. "
                                 f"Fix: {fix}")
    return component.connection_config()


def _metadata_store_component(target: Any, registry):
    from zen_mlmd.stack import MetadataStoreComponent, Stack, StackRegistry

    if isinstance(target, MetadataStoreComponent):
        return target
    if isinstance(target, Stack):
        return target.metadata_store
    registry = registry or StackRegistry()
    if target is None:
        return registry.get_active_stack().metadata_store
    if isinstance(target, str):
        return registry.get_metadata_store(target)
    raise ConfigError("store_name_or_stack", type(target).__name__,
                      "is neither a metadata-store name nor a stack",
                      "pass a registered store name, a zen_mlmd.stack.Stack, or None for the active stack")


def _parse(flavor, options: dict[str, Any], argument_names: dict[str, str]):
    """Validate through the flavor; errors name the TFX argument, not the flavor option."""
    try:
        return flavor.parse_config(options)
    except ConfigError as exc:
        field = argument_names.get(exc.field, exc.field)
        raise ConfigError(field, exc.value, exc.problem, exc.fix) from None


def _make_parent_dir(path: str) -> None:
    directory = os.path.dirname(path)
    if not directory:
        return
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise ConfigError("metadata_db_uri", path, f"cannot create the directory {directory}: "
                          f"{exc.strerror or exc}", "choose a path in a directory you can write") from None
