"""A plain SQL connection to the database behind an MLMD store.

Opened from the same `ConnectionConfig` MLMD uses (a flavor builds it), with
the driver zen_mlmd already depends on: Python's sqlite3 (in a child process,
see `zen_mlmd.mlmd.sqlite_process`: MLMD's own SQLite may hold the file open
in this one), PyMySQL, pg8000.
The schema version is checked on open: statements written for MLMD schema
10 are never run on another. Every statement is counted by name in
`statements`, so tests can hold deletion to a bounded number of them.
"""
from __future__ import annotations

import collections
import contextlib
import os
from typing import Any, Iterator, Sequence

from zen_mlmd.errors import SchemaVersionError, StoreError, StoreUnavailableError
from zen_mlmd.mlmd import sql

#: Seconds a statement waits for a lock held by another writer.
LOCK_TIMEOUT = 30


class SchemaDatabase:
    """MLMD's tables in one database, through a plain SQL driver.

    Args:
        connection_config: the database `ConnectionConfig` (sqlite, mysql or postgresql).
        store_name: how messages name the store.

    Raises:
        StoreError: the config is not a database this module speaks to
            (a gRPC endpoint or MLMD's in-memory fake).
        StoreUnavailableError: the database cannot be reached.
        SchemaVersionError: the schema is not version `sql.SCHEMA_VERSION`.
    """

    def __init__(self, connection_config, *, store_name: str = "metadata store"):
        self.store_name = store_name
        self.statements: collections.Counter[str] = collections.Counter()
        kind = (connection_config.WhichOneof("config")
                if connection_config.DESCRIPTOR.name == "ConnectionConfig" else "grpc")
        if kind not in sql.DIALECTS:
            raise StoreError(
                f"{store_name}: a {kind} store has no SQL database zen_mlmd can reach. Fix: run "
                "this against the database behind it (a sqlite, mysql or postgresql store)")
        self.dialect = sql.DIALECTS[kind]
        try:
            self._conn = _CONNECTORS[kind](getattr(connection_config, kind))
        except Exception as exc:  # each driver has its own error tree
            raise StoreUnavailableError(
                f"{store_name}: cannot open its {kind} database: {type(exc).__name__}: {exc}. "
                f"Fix: run `zen-mlmd metadata-store check {store_name}` for the cause") from None
        self.schema_version = self._check_schema()

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()

    def __enter__(self) -> "SchemaDatabase":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def statement_count(self) -> int:
        """How many statements this connection ran."""
        return sum(self.statements.values())

    # -- statements ----------------------------------------------------------------------
    def query(self, key: str, params: Sequence[Any] = (), **parts: str) -> list[tuple]:
        """Rows of statement `key` (see `zen_mlmd.mlmd.sql`)."""
        cursor = self._execute(key, params, parts)
        try:
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def execute(self, key: str, params: Sequence[Any] = (), **parts: str) -> int:
        """Run statement `key`; returns the number of rows it changed."""
        cursor = self._execute(key, params, parts)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def execute_many(self, key: str, rows: Sequence[Sequence[Any]], **parts: str) -> None:
        """Run statement `key` once per row of parameters (one round trip where the driver can)."""
        if not rows:
            return
        text = self.dialect.statement(key, **parts)
        self.statements[key] += 1
        cursor = self._conn.cursor()
        try:
            cursor.executemany(text, [tuple(row) for row in rows])
        except Exception as exc:
            raise self._error(key, exc) from None
        finally:
            cursor.close()

    def _execute(self, key: str, params: Sequence[Any], parts: dict[str, str]):
        text = self.dialect.statement(key, **parts)
        self.statements[key] += 1
        cursor = self._conn.cursor()
        try:
            cursor.execute(text, tuple(params)) if params else cursor.execute(text)
        except Exception as exc:
            cursor.close()
            raise self._error(key, exc) from None
        return cursor

    def _error(self, key: str, exc: Exception) -> StoreError:
        return StoreError(f"{self.store_name}: the statement {key!r} failed on "
                          f"{self.dialect.name}: {type(exc).__name__}: {exc}. Fix: run "
                          f"`zen-mlmd metadata-store check {self.store_name}`; nothing of this "
                          "transaction was kept, so the command can be run again")

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, purpose: str = "") -> Iterator["SchemaDatabase"]:
        """One transaction: committed when the block ends, rolled back on an error.

        `purpose` "delete" takes the locks that keep concurrent writers from
        using what is being deleted (see `zen_mlmd.mlmd.sql`).
        """
        prefix = "_delete" if purpose == "delete" else ""
        if self.dialect.has("isolation" + prefix):
            self.execute("isolation" + prefix)
        self.execute("begin" + prefix)
        try:
            if self.dialect.has("lock" + prefix):
                self.execute("lock" + prefix)
            yield self
        except BaseException:
            with contextlib.suppress(Exception):
                self._conn.rollback()
            raise
        self._conn.commit()

    def table_exists(self, name: str) -> bool:
        if self.dialect.name == "postgresql":
            name = name.lower()
        return bool(self.query("table_exists", (name,)))

    def _check_schema(self) -> int:
        try:
            rows = self.query("schema_version")
        except StoreError:
            rows = []
        version = rows[0][0] if rows else None
        if version != sql.SCHEMA_VERSION:
            found = "no MLMD schema" if version is None else f"MLMD schema version {version}"
            self.close()
            raise SchemaVersionError(
                f"{self.store_name}: the database holds {found}; zen_mlmd deletes and copies "
                f"records only in schema version {sql.SCHEMA_VERSION} (ml-metadata 1.14-1.17). "
                f"Fix: open it once with this ml-metadata (`zen-mlmd metadata-store upgrade "
                f"{self.store_name}` for an older schema), or use the zen-mlmd release that "
                "matches its schema")
        return int(version)


# -- drivers --------------------------------------------------------------------------
def _sqlite(config):
    from ml_metadata.proto import metadata_store_pb2 as pb

    from zen_mlmd.mlmd.sqlite_process import SqliteProcess

    path = config.filename_uri
    readonly = config.connection_mode == pb.SqliteMetadataSourceConfig.READONLY
    if not os.path.exists(path.removeprefix("file:").split("?", 1)[0]):
        raise FileNotFoundError(f"no database file at {path}")
    if path.startswith("file:"):
        return SqliteProcess(path, uri=True, timeout=LOCK_TIMEOUT)
    if readonly:
        return SqliteProcess(f"file:{path}?mode=ro", uri=True, timeout=LOCK_TIMEOUT)
    return SqliteProcess(path, timeout=LOCK_TIMEOUT)


def _mysql(config):
    import pymysql

    options: dict[str, Any] = dict(user=config.user or None, password=config.password or "",
                                   database=config.database, autocommit=True,
                                   connect_timeout=10, read_timeout=None)
    if config.socket:
        options["unix_socket"] = config.socket
    else:
        options.update(host=config.host, port=config.port or 3306)
    ssl = config.ssl_options
    if any((ssl.key, ssl.cert, ssl.ca, ssl.capath, ssl.cipher)):
        tls = {"ca": ssl.ca, "capath": ssl.capath, "cert": ssl.cert, "key": ssl.key,
               "cipher": ssl.cipher}
        tls = {k: v for k, v in tls.items() if v}
        # as MLMD's client: the certificate is verified only where asked
        tls["verify_mode"] = bool(ssl.verify_server_cert)
        tls["check_hostname"] = False
        options["ssl"] = tls
    conn = pymysql.connect(**options)
    with conn.cursor() as cursor:
        cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {LOCK_TIMEOUT}")
    return conn


def _postgresql(config):
    import pg8000.dbapi

    host = config.hostaddr or config.host
    options: dict[str, Any] = dict(
        user=config.user or os.environ.get("PGUSER") or None,
        password=config.password or os.environ.get("PGPASSWORD") or None,
        database=config.dbname, port=int(config.port or 5432), timeout=LOCK_TIMEOUT)
    if host.startswith("/"):
        options["unix_sock"] = os.path.join(host, f".s.PGSQL.{options['port']}")
    else:
        options["host"] = host
    conn = pg8000.dbapi.connect(**options)
    conn.autocommit = True
    return _PostgresConnection(conn)


class _PostgresConnection:
    """pg8000 in autocommit mode, with explicit BEGIN/COMMIT as the other drivers."""

    def __init__(self, conn):
        self._conn = conn

    def cursor(self):
        return self._conn.cursor()

    def commit(self):
        cursor = self._conn.cursor()
        cursor.execute("COMMIT")
        cursor.close()

    def rollback(self):
        cursor = self._conn.cursor()
        cursor.execute("ROLLBACK")
        cursor.close()

    def close(self):
        self._conn.close()


_CONNECTORS = {"sqlite": _sqlite, "mysql": _mysql, "postgresql": _postgresql}
