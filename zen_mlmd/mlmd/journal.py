"""The SQLite journal of the stores zen_mlmd opens read-write: write-ahead log by default.

In WAL mode (`PRAGMA journal_mode=WAL`) a commit appends to `<file>-wal`
instead of rewriting pages through a rollback journal: MLMD's writes get
about 3x cheaper with the same durability (SQLite keeps `synchronous=FULL`),
and readers in other processes never wait for a writer (nor a writer for
them). The mode is stored in the database file itself, so MLMD's own
connection, and any other SQLite client, uses it once it is set.

WAL needs shared memory between the processes using the file: it is unsafe
on network file systems (NFS, SMB), where `delete` (SQLite's default
rollback journal) must be kept. A reader of a WAL file needs write access to
its directory (for `-wal` and `-shm`), even when it opens the store read-only.

The mode is set with Python's own SQLite, a second copy of SQLite in the
process. Closing any handle on a database file releases every POSIX lock the
process holds on it, MLMD's included; a WAL connection holds a lock for as
long as it is open, and a process that then finds no lock at all takes
itself for the last user and deletes the write-ahead log and its index. So
the file is never opened here while it is in use in WAL mode (its `-shm`
file exists): it is in WAL mode then, and stays so.
"""
from __future__ import annotations

import logging
import os

#: `wal` (write-ahead log, the default) or `delete` (SQLite's rollback journal).
JOURNAL_MODES = ("wal", "delete")
DEFAULT_JOURNAL_MODE = "wal"

_LOCK_WAIT_SECONDS = 5.0
_logger = logging.getLogger(__name__)


def sqlite_path(connection_config) -> str | None:
    """The database file a read-write SQLite `ConnectionConfig` opens, else None."""
    if connection_config.DESCRIPTOR.name != "ConnectionConfig":
        return None  # a gRPC client config: the server chooses
    if connection_config.WhichOneof("config") != "sqlite":
        return None
    sqlite = connection_config.sqlite
    if sqlite.connection_mode == sqlite.READONLY:
        return None
    path = sqlite.filename_uri
    if not path or path == ":memory:" or path.startswith("file:"):
        return None  # in memory, or a URI whose options this module does not parse
    return path


def set_journal_mode(connection_config, mode: str = DEFAULT_JOURNAL_MODE) -> None:
    """Put the SQLite file of a read-write `connection_config` in `mode` (nothing for others).

    A missing file is created empty in `mode` when the config may create it
    (MLMD then creates its schema in it). A file in use in WAL mode is left
    alone. Switching a file out of WAL needs every other connection to it
    closed; if that, or taking the lock, fails the file keeps its mode and a
    warning is logged: the store still works.

    Raises:
        ValueError: `mode` is not one of `JOURNAL_MODES`.
    """
    if mode not in JOURNAL_MODES:
        raise ValueError(f"journal mode {mode!r}: use one of {', '.join(JOURNAL_MODES)}")
    path = sqlite_path(connection_config)
    if path is None:
        return
    if in_use_with_wal(path):  # maybe through MLMD in this very process: hands off
        if mode != "wal":
            _logger.warning("%s is in use in WAL mode; it stays in WAL mode until every "
                            "connection to it is closed", path)
        return
    current = _mode_in_header(path)
    if current == mode or (current is None and mode == "delete"):
        return  # the common case: already set, no SQLite connection needed
    may_create = connection_config.sqlite.connection_mode == connection_config.sqlite.READWRITE_OPENCREATE
    if not may_create and not os.path.exists(path):
        return  # MLMD reports the missing file
    import sqlite3

    try:
        connection = sqlite3.connect(path, timeout=_LOCK_WAIT_SECONDS)
        try:
            connection.execute(f"PRAGMA journal_mode={mode.upper()}").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        _logger.warning("could not set the journal mode of %s to %s (%s); it stays %s",
                        path, mode, exc, current or "SQLite's default")


def in_use_with_wal(path: str) -> bool:
    """Whether a connection has the SQLite file open in WAL mode (its `-shm` file exists).

    Also after a process using it was killed, until the next connection closes.
    """
    return os.path.exists(path + "-shm")


def _mode_in_header(path: str) -> str | None:
    """`wal` or `delete` from the file header (bytes 18-19), None for a missing or empty file."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except FileNotFoundError:
        return None
    except OSError:
        return None  # not readable here: MLMD reports it when it opens the file
    if len(header) < 20:
        return None
    return "wal" if header[18:20] == b"\x02\x02" else "delete"

