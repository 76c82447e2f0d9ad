"""The child side of `zen_mlmd.mlmd.sqlite_process`: one sqlite3 connection, driven over pipes.

Run as a script (``python -I -S sqlite_child.py``): it imports nothing but
the standard library, so it starts in a few tens of milliseconds. Requests
and answers are pickled tuples, each framed by a 4-byte big-endian length,
on stdin and stdout; the parent is zen_mlmd itself, in the same interpreter.

Requests: ``("connect", database, uri, timeout)``, ``("execute", sql,
params)``, ``("executemany", sql, rows)``, ``("commit",)``,
``("rollback",)``. Answers: ``("ok", rows, rowcount)`` or ``("error",
sqlite3 exception class name, message)``. End of input closes the
connection (an open transaction is rolled back) and ends the process.
"""
import pickle
import sqlite3
import struct
import sys


def _read(stream):
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    return pickle.loads(stream.read(size))


def _write(stream, message) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def _answer(connection, request):
    op = request[0]
    if op == "connect":
        _, database, uri, timeout = request
        return sqlite3.connect(database, uri=uri, timeout=timeout, isolation_level=None), ("ok", None, -1)
    if op == "execute":
        cursor = connection.execute(request[1], request[2])
        try:
            rows = cursor.fetchall() if cursor.description is not None else None
            return connection, ("ok", rows, cursor.rowcount)
        finally:
            cursor.close()
    if op == "executemany":
        cursor = connection.executemany(request[1], request[2])
        count = cursor.rowcount
        cursor.close()
        return connection, ("ok", None, count)
    if op == "commit":
        connection.commit()
        return connection, ("ok", None, -1)
    if op == "rollback":
        connection.rollback()
        return connection, ("ok", None, -1)
    raise ValueError(f"unknown request {op!r}")


def main() -> None:
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    connection = None
    try:
        while True:
            request = _read(source)
            if request is None:
                return
            try:
                connection, answer = _answer(connection, request)
            except Exception as exc:  # every error goes back to the parent, named
                answer = ("error", type(exc).__name__, str(exc))
            _write(sink, answer)
    finally:
        if connection is not None:
            connection.close()


if __name__ == "__main__":
    main()
