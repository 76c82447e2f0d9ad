"""The `sqlite` flavor: MLMD's embedded store, one file on the local disk.

The default store of a fresh install lives in the zen-mlmd config directory
(see `default_config_dir`). Good for one machine; several local processes may
write at once (SQLite's busy handler and MLMD's retries serialise them).
Opened read-write, the file is put in write-ahead-log mode (`journal_mode`,
see `zen_mlmd.mlmd.journal`): cheaper commits, and readers never wait.
"""
from __future__ import annotations

import os
import pathlib
from typing import Literal

import pydantic

from zen_mlmd.errors import ConfigError
from zen_mlmd.flavors.base import FlavorConfig, MetadataStoreFlavor, PreflightReport
from zen_mlmd.flavors.fields import AbsolutePath

ConnectionMode = Literal["readonly", "readwrite", "readwrite_opencreate"]
JournalMode = Literal["wal", "delete"]


def default_config_dir() -> str:
    """zen-mlmd's config directory (see `zen_mlmd.stack.config.config_dir`)."""
    from zen_mlmd.stack.config import config_dir

    return str(config_dir())


def default_database_path() -> str:
    """Where the default local store keeps its SQLite file."""
    return store_database_path(default_config_dir(), "default")


def store_database_path(config_dir: str, store_name: str) -> str:
    """The SQLite file of store `store_name` registered without a path: its own file."""
    return os.path.join(config_dir, "local_stores", store_name, "metadata.db")


class SQLiteConfig(FlavorConfig):
    """Options of the `sqlite` flavor.

    Attributes:
        path: the database file, stored absolute. Defaults to
            ``<config dir>/local_stores/default/metadata.db``.
        connection_mode: ``readonly``, ``readwrite`` (the file must exist) or
            ``readwrite_opencreate`` (created with its directory when missing).
        journal_mode: ``wal`` (write-ahead log: about 3x cheaper commits,
            readers never blocked) or ``delete`` (SQLite's rollback journal).
            Keep ``delete`` on a network file system (NFS, SMB), where WAL is
            unsafe. Set on the file whenever it is opened read-write.
    """

    path: AbsolutePath = pydantic.Field(default_factory=default_database_path)
    connection_mode: ConnectionMode = "readwrite_opencreate"
    journal_mode: JournalMode = "wal"

    @pydantic.field_validator("path")
    @classmethod
    def _not_a_directory(cls, path: str) -> str:
        if os.path.isdir(path):
            raise ValueError(f"{path} is a directory. Fix: give the database file inside it, "
                             f"e.g. {os.path.join(path, 'metadata.db')}")
        return path


class SQLiteFlavor(MetadataStoreFlavor):
    """MLMD's SQLite store: a local file, the default for one machine."""

    name = "sqlite"
    notes = "A local SQLite file; the default store. For one machine."
    config_class = SQLiteConfig

    def connection_config(self, config: SQLiteConfig):
        """``ConnectionConfig.sqlite{filename_uri, connection_mode}``.

        The one piece of I/O: with ``readwrite_opencreate`` the file's
        directory is created, since SQLite creates the file but not its
        directory and MLMD then fails with an unhelpful message.

        Raises:
            ConfigError: that directory cannot be created.
        """
        from ml_metadata.proto import metadata_store_pb2

        if config.connection_mode == "readwrite_opencreate":
            directory = os.path.dirname(config.path)
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                raise ConfigError("path", config.path,
                                  f"cannot create the directory {directory}: {exc.strerror or exc}",
                                  "choose a path in a directory you can write") from None
        proto = metadata_store_pb2.ConnectionConfig()
        proto.sqlite.filename_uri = config.path
        proto.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.ConnectionMode.Value(
            config.connection_mode.upper())
        return proto

    def store_options(self, config: SQLiteConfig) -> dict:
        """The journal mode, which the connection proto cannot carry."""
        return {"sqlite_journal": config.journal_mode}

    def read_only_config(self, config: SQLiteConfig) -> SQLiteConfig:
        """MLMD's READONLY mode: SQLite itself refuses every write, and no file is created."""
        return config.model_copy(update={"connection_mode": "readonly"})

    def options_for_new_store(self, store_name: str, config_dir: str, options) -> dict:
        """Without a path, a store gets its own file, ``<config dir>/local_stores/<name>/metadata.db``.

        (The config's default path is the default store's file: registering a
        second store without a path would otherwise share it silently.)
        """
        options = dict(options)
        if options.get("path") is None:
            options["path"] = store_database_path(config_dir, store_name)
        return options

    def preflight(self, config: SQLiteConfig, timeout: float = 5.0) -> PreflightReport:
        """Check that the file (or its directory) can be used; read its schema version."""
        path, mode = config.path, config.connection_mode
        target = f"sqlite://{path}"
        details: dict = {"path": path, "connection_mode": mode}

        def failed(problem: str, fix: str) -> PreflightReport:
            return PreflightReport(False, target, details, problem, fix)

        if not os.path.exists(path):
            if mode == "readonly":
                details["missing"] = True
                return failed(f"{path} does not exist (nothing was recorded in this store yet, "
                              "or its path is wrong)",
                              "record a run in it first (connection_mode readwrite_opencreate "
                              "creates it), or correct its path (`zen-mlmd metadata-store update "
                              "NAME --path FILE`); reading never creates a store")
            if mode != "readwrite_opencreate":
                return failed(f"{path} does not exist and connection_mode={mode} does not create it",
                              "correct the path, or use connection_mode=readwrite_opencreate")
            anchor = _nearest_existing(os.path.dirname(path))
            if not os.path.isdir(anchor):
                return failed(f"cannot create {path}: {anchor} is not a directory",
                              "choose a path whose parents are directories")
            if not os.access(anchor, os.W_OK | os.X_OK):
                return failed(f"cannot create {path}: the directory {anchor} is not writable",
                              "choose a path in a directory you can write, or fix its permissions")
            details["schema_version"] = "new"
            return PreflightReport(True, target, details)
        if os.path.isdir(path):
            return failed(f"{path} is a directory", "give the database file's path")
        if not os.access(path, os.R_OK):
            return failed(f"{path} is not readable", "fix the file's permissions or run as its owner")
        if mode != "readonly":
            if not os.access(path, os.W_OK):
                return failed(f"{path} is not writable",
                              "fix the file's permissions, or use connection_mode=readonly")
            if not os.access(os.path.dirname(path), os.W_OK | os.X_OK):
                return failed(f"the directory of {path} is not writable (SQLite writes its journal there)",
                              "fix the directory's permissions, or use connection_mode=readonly")
        return _read_schema(path, timeout, target, details)


def _read_schema(path: str, timeout: float, target: str, details: dict) -> PreflightReport:
    from zen_mlmd.flavors.probes import schema_warnings

    # `-shm` exists while the file is in use in WAL mode (see `_probe_in_child`)
    in_use = os.path.exists(path + "-shm")
    found = _probe_in_child(path, timeout) if in_use else probe_schema(path, timeout)
    if "error" in found:
        return PreflightReport(False, target, details,
                               f"{path} cannot be read as an SQLite database: {found['error']}",
                               "give the path of an MLMD SQLite store, or a new file")
    if not found["tables"]:
        details["schema_version"] = "new"
        return PreflightReport(True, target, details)
    if "MLMDEnv" not in found["tables"]:
        return PreflightReport(False, target, details,
                               f"{path} is an SQLite database but not an MLMD store "
                               "(it has no MLMDEnv table)",
                               "give the path of an MLMD store, or a new file")
    version = found["version"]
    details["schema_version"] = version if version is not None else "new"
    return PreflightReport(True, target, details, warnings=tuple(schema_warnings(version)))


def probe_schema(path: str, timeout: float) -> dict:
    """{"tables": [...], "version": MLMD schema version or None}, or {"error": ...}."""
    import sqlite3

    uri = pathlib.Path(path).as_uri() + "?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=timeout)
        try:
            tables = sorted(row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"))
            row = (connection.execute("SELECT schema_version FROM MLMDEnv").fetchone()
                   if "MLMDEnv" in tables else None)
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        return {"error": str(exc)}
    return {"tables": tables, "version": row[0] if row else None}


def _probe_in_child(path: str, timeout: float) -> dict:
    """`probe_schema` in another process.

    A file in use in WAL mode may be open through MLMD in this process too;
    closing a second SQLite library's handle on it here would release this
    process's locks on it (POSIX), and another process could then delete
    the write-ahead log under MLMD (see `zen_mlmd.mlmd.journal`).
    """
    import json
    import subprocess
    import sys

    code = ("import json, sys; from zen_mlmd.flavors.sqlite import probe_schema; "
            "print(json.dumps(probe_schema(sys.argv[1], float(sys.argv[2]))))")
    try:
        done = subprocess.run([sys.executable, "-c", code, path, str(timeout)], capture_output=True,
                              text=True, timeout=timeout + 30)
        return json.loads(done.stdout)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return {"error": f"could not read it from a helper process: {exc}"}


def _nearest_existing(directory: str) -> str:
    while not os.path.exists(directory):
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return directory
