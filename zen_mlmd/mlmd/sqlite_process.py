"""SQL on an MLMD SQLite file from a child process: never a second SQLite in this one.

ml-metadata carries its own copy of SQLite. Python's sqlite3 is another
copy, and two copies in one process do not know each other's POSIX locks:
closing sqlite3's handle on the file releases every lock the process holds
on it, MLMD's included. A WAL connection of MLMD's then holds no lock, and
another process that closes its own connection takes itself for the last
user: it checkpoints and deletes the write-ahead log and its index under
MLMD's feet (writes lost, "disk I/O error", a malformed database). See
`zen_mlmd.mlmd.journal`.

So the statements zen_mlmd runs on MLMD's tables of a SQLite store (deletes,
copies, imports) go to Python's sqlite3 in a child process
(`zen_mlmd.mlmd.sqlite_child`), whatever MLMD connections this process
holds: to SQLite that child is one more process using the file, which WAL
is made for. `SqliteProcess` offers the few DB-API calls
`zen_mlmd.mlmd.database` uses; a statement costs a round trip through two
pipes (tens of microseconds), the child's start a few tens of milliseconds.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import struct
import subprocess
import sys
import threading
from typing import Any, Sequence

_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sqlite_child.py")
#: Seconds the child gets to end once its input is closed.
_EXIT_WAIT = 10.0


class SqliteProcess:
    """A sqlite3 connection living in a child process (DB-API subset: cursor, commit, rollback, close).

    Args:
        database: the file name or ``file:`` URI to open.
        uri: whether `database` is a URI.
        timeout: seconds a statement waits for another writer's lock.

    Raises:
        sqlite3.Error: the file cannot be opened (raised here, as sqlite3 would).
    """

    def __init__(self, database: str, *, uri: bool = False, timeout: float = 5.0):
        self._lock = threading.Lock()  # one request in flight
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, close_fds=True)
        try:
            self.request("connect", database, uri, timeout)
        except BaseException:
            self.close()
            raise

    def request(self, *message: Any) -> tuple[list | None, int]:
        """Send one request; returns (rows or None, rowcount) or raises the child's sqlite3 error."""
        import sqlite3  # only the exception classes: no database is opened in this process

        with self._lock:
            process = self._process
            if process is None or process.poll() is not None:
                raise sqlite3.OperationalError(f"the SQLite process has ended{self._stderr()}")
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
            try:
                process.stdin.write(struct.pack(">I", len(data)) + data)
                process.stdin.flush()
                header = process.stdout.read(4)
                answer = pickle.loads(process.stdout.read(struct.unpack(">I", header)[0])) \
                    if len(header) == 4 else None
            except (OSError, struct.error, EOFError, pickle.UnpicklingError):
                answer = None
        if answer is None:
            raise sqlite3.OperationalError(f"the SQLite process ended unexpectedly{self._stderr()}")
        if answer[0] == "error":
            raise getattr(sqlite3, answer[1], sqlite3.Error)(answer[2])
        return answer[1], answer[2]

    def _stderr(self) -> str:
        process = self._process
        if process is None or process.poll() is None:
            return ""
        with contextlib.suppress(Exception):
            text = process.stderr.read().decode("utf-8", "replace").strip()
            if text:
                return f": {text.splitlines()[-1]}"
        return f" (exit status {process.returncode})"

    # -- DB-API ----------------------------------------------------------------------------
    def cursor(self) -> "_Cursor":
        return _Cursor(self)

    def commit(self) -> None:
        self.request("commit")

    def rollback(self) -> None:
        self.request("rollback")

    def close(self) -> None:
        """End the child: its connection closes (an open transaction is rolled back)."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=_EXIT_WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            with contextlib.suppress(OSError):
                stream.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class _Cursor:
    """Rows of the last statement, fetched eagerly by the child."""

    def __init__(self, connection: SqliteProcess):
        self._connection = connection
        self._rows: list = []
        self.rowcount = -1

    def execute(self, sql: str, params: Sequence[Any] = ()) -> "_Cursor":
        rows, self.rowcount = self._connection.request("execute", sql, tuple(params))
        self._rows = list(rows or [])
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> "_Cursor":
        _, self.rowcount = self._connection.request("executemany", sql, [tuple(r) for r in rows])
        self._rows = []
        return self

    def fetchall(self) -> list:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self):
        return self._rows.pop(0) if self._rows else None

    def close(self) -> None:
        self._rows = []
