"""The stores each leg writes into, per backend, and how big they are.

Every leg gets its own database (zen_mlmd, raw MLMD and MLflow never share
one), so the bytes stored per step can be measured per leg.

* ``memory``: MLMD's fake_database (in process); MLflow on its file store.
* ``sqlite``: one SQLite file per leg; MLflow on ``sqlite:///``.
* ``mysql`` / ``postgresql``: one fresh database per leg on the servers that
  ``scripts/test-servers.sh`` started (``ZEN_MLMD_TEST_*`` variables); MLflow
  on a database of the same server (through pymysql / psycopg).
* ``grpc``: our MLMD gRPC server (``python -m zen_mlmd.server``) over one
  SQLite file per leg, started here on a free port and stopped at the end;
  MLflow on ``sqlite:///`` (it has no gRPC store).
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from ml_metadata.proto import metadata_store_pb2 as pb

BACKENDS = ("memory", "sqlite", "mysql", "postgresql", "grpc")
MLMD_LEGS = ("zen", "raw")

_SERVERS_HINT = ("start the database servers first: `bash scripts/benchmark.sh {backend}` does it "
                 "(or export ZEN_MLMD_TEST_* for servers of your own, see scripts/test-servers.sh)")


class BackendError(RuntimeError):
    """A backend cannot be set up; the message says how to fix it."""


def _env(backend: str, *names: str) -> dict[str, str]:
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise BackendError(f"{', '.join(missing)} not set: " + _SERVERS_HINT.format(backend=backend))
    return {n: os.environ[n] for n in names}


def _sqlite_config(path: Path) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return config


class Backend:
    """Connection configs for the two MLMD legs, MLflow's tracking URI, sizes."""

    name = ""
    #: What `size()` measures, for the report.
    size_method = "n/a"

    def __init__(self, workdir: Path):
        self.workdir = workdir

    def mlmd_config(self, leg: str):
        raise NotImplementedError

    def mlflow_uri(self) -> str:
        return f"sqlite:///{self.workdir / 'mlflow.db'}"

    def mlflow_store_note(self) -> str:
        return "sqlite"

    def size(self, leg: str) -> int | None:
        """Bytes the leg's metadata database takes now (None: not measurable)."""
        return None

    def close(self) -> None:
        pass


class MemoryBackend(Backend):
    name = "memory"

    def mlmd_config(self, leg: str):
        config = pb.ConnectionConfig()
        config.fake_database.SetInParent()
        return config

    def mlflow_uri(self) -> str:
        # MLflow 3 keeps its file store only behind this opt-in.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return (self.workdir / "mlruns").as_uri()

    def mlflow_store_note(self) -> str:
        return "file store"


class SqliteBackend(Backend):
    """One file per leg. zen_mlmd puts its file in WAL mode when it opens it, as it
    does for every store it opens read-write; the raw MLMD leg keeps SQLite's
    default rollback journal, as a user of plain ml-metadata gets it."""

    name = "sqlite"
    size_method = "database file size (after a WAL checkpoint)"

    def mlmd_config(self, leg: str):
        return _sqlite_config(self.workdir / f"{leg}.sqlite")

    def size(self, leg: str) -> int | None:
        path = self.workdir / ("mlflow.db" if leg == "mlflow" else f"{leg}.sqlite")
        if not path.exists():
            return 0
        if Path(f"{path}-wal").exists():
            # Pages still in the write-ahead log belong to the database too. From
            # another process: closing a second SQLite's handle on the file here
            # would release the locks MLMD holds on it in this one.
            code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                    "c.execute('PRAGMA wal_checkpoint(TRUNCATE)').fetchall(); c.close()")
            subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=120)
        return path.stat().st_size


class GrpcBackend(SqliteBackend):
    """One `python -m zen_mlmd.server` per MLMD leg, each over its own SQLite file."""

    name = "grpc"
    size_method = "server's database file size"

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.servers: dict[str, tuple[subprocess.Popen, int]] = {}
        try:
            for leg in MLMD_LEGS:
                self.servers[leg] = self._start(leg)
        except BaseException:
            self.close()
            raise

    def _start(self, leg: str) -> tuple[subprocess.Popen, int]:
        from google.protobuf import text_format

        config_path = self.workdir / f"{leg}-server.pbtxt"
        config_path.write_text(text_format.MessageToString(_sqlite_config(self.workdir / f"{leg}.sqlite")))
        ready = self.workdir / f"{leg}-server.ready"
        log = open(self.workdir / f"{leg}-server.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "zen_mlmd.server", "--connection-config", str(config_path),
             "--host", "127.0.0.1", "--port", "0", "--ready-file", str(ready)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BackendError(f"the MLMD gRPC server exited with status {process.returncode}; "
                                   f"see {self.workdir / f'{leg}-server.log'}")
            text = ready.read_text().strip() if ready.exists() else ""
            if text.isdigit():
                return process, int(text)
            time.sleep(0.02)
        process.kill()
        raise BackendError("the MLMD gRPC server did not start within 30 s")

    def mlmd_config(self, leg: str):
        _, port = self.servers[leg]
        return pb.MetadataStoreClientConfig(host="127.0.0.1", port=port)

    def close(self) -> None:
        for process, _ in self.servers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in self.servers.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.servers.clear()


class MysqlBackend(Backend):
    """Fresh databases on MariaDB; sizes from information_schema after ANALYZE TABLE."""

    name = "mysql"
    size_method = "information_schema data+index length (after ANALYZE TABLE; InnoDB pages)"

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.env = _env("mysql", "ZEN_MLMD_TEST_MYSQL_HOST", "ZEN_MLMD_TEST_MYSQL_PORT",
                        "ZEN_MLMD_TEST_MYSQL_USER", "ZEN_MLMD_TEST_MYSQL_PASSWORD")
        token = secrets.token_hex(4)
        self.databases = {leg: f"zb_{leg}_{token}" for leg in (*MLMD_LEGS, "mlflow")}
        with self._connect() as conn, conn.cursor() as cursor:
            # MLflow's migrations use utf8mb4 collations; MariaDB defaults to latin1
            cursor.execute(f"CREATE DATABASE `{self.databases['mlflow']}` CHARACTER SET utf8mb4")

    def _connect(self, database: str | None = None):
        import pymysql

        return pymysql.connect(
            host=self.env["ZEN_MLMD_TEST_MYSQL_HOST"], port=int(self.env["ZEN_MLMD_TEST_MYSQL_PORT"]),
            user=self.env["ZEN_MLMD_TEST_MYSQL_USER"], password=self.env["ZEN_MLMD_TEST_MYSQL_PASSWORD"],
            database=database, autocommit=True)

    def mlmd_config(self, leg: str):
        config = pb.ConnectionConfig()
        mysql = config.mysql
        mysql.host = self.env["ZEN_MLMD_TEST_MYSQL_HOST"]
        mysql.port = int(self.env["ZEN_MLMD_TEST_MYSQL_PORT"])
        mysql.database = self.databases[leg]
        mysql.user = self.env["ZEN_MLMD_TEST_MYSQL_USER"]
        mysql.password = self.env["ZEN_MLMD_TEST_MYSQL_PASSWORD"]
        return config

    def mlflow_uri(self) -> str:
        e = self.env
        return (f"mysql+pymysql://{e['ZEN_MLMD_TEST_MYSQL_USER']}:{e['ZEN_MLMD_TEST_MYSQL_PASSWORD']}"
                f"@{e['ZEN_MLMD_TEST_MYSQL_HOST']}:{e['ZEN_MLMD_TEST_MYSQL_PORT']}/{self.databases['mlflow']}")

    def mlflow_store_note(self) -> str:
        return "MariaDB (pymysql)"

    def size(self, leg: str) -> int | None:
        database = self.databases[leg]
        with self._connect(database) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                           (database,))
            tables = [row[0] for row in cursor.fetchall()]
            for table in tables:
                cursor.execute(f"ANALYZE TABLE `{table}`")
                cursor.fetchall()
            cursor.execute("SELECT COALESCE(SUM(data_length + index_length), 0) "
                           "FROM information_schema.tables WHERE table_schema = %s", (database,))
            return int(cursor.fetchone()[0])

    def close(self) -> None:
        try:
            with self._connect() as conn, conn.cursor() as cursor:
                for database in self.databases.values():
                    cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        except Exception as exc:  # best effort: the throw-away server is wiped anyway
            print(f"warning: could not drop the benchmark databases: {exc}", file=sys.stderr)


class PostgresBackend(Backend):
    """Fresh databases on PostgreSQL; sizes from pg_database_size (needs psycopg)."""

    name = "postgresql"
    size_method = "pg_database_size"

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.env = _env("postgresql", "ZEN_MLMD_TEST_PG_HOST", "ZEN_MLMD_TEST_PG_PORT",
                        "ZEN_MLMD_TEST_PG_USER", "ZEN_MLMD_TEST_PG_PASSWORD")
        token = secrets.token_hex(4)
        self.databases = {leg: f"zb_{leg}_{token}" for leg in (*MLMD_LEGS, "mlflow")}
        try:
            import psycopg  # noqa: F401
        except ImportError:
            self.psycopg = False
        else:
            self.psycopg = True
            with self._connect("postgres") as conn:
                conn.execute(f'CREATE DATABASE "{self.databases["mlflow"]}"')

    def _connect(self, database: str):
        import psycopg

        e = self.env
        return psycopg.connect(host=e["ZEN_MLMD_TEST_PG_HOST"], port=int(e["ZEN_MLMD_TEST_PG_PORT"]),
                               user=e["ZEN_MLMD_TEST_PG_USER"], password=e["ZEN_MLMD_TEST_PG_PASSWORD"],
                               dbname=database, autocommit=True)

    def mlmd_config(self, leg: str):
        config = pb.ConnectionConfig()
        pg = config.postgresql
        pg.host = self.env["ZEN_MLMD_TEST_PG_HOST"]
        pg.port = str(self.env["ZEN_MLMD_TEST_PG_PORT"])
        pg.dbname = self.databases[leg]
        pg.user = self.env["ZEN_MLMD_TEST_PG_USER"]
        pg.password = self.env["ZEN_MLMD_TEST_PG_PASSWORD"]
        return config

    def mlflow_uri(self) -> str:
        if not self.psycopg:
            return super().mlflow_uri()
        e = self.env
        return (f"postgresql+psycopg://{e['ZEN_MLMD_TEST_PG_USER']}:{e['ZEN_MLMD_TEST_PG_PASSWORD']}"
                f"@{e['ZEN_MLMD_TEST_PG_HOST']}:{e['ZEN_MLMD_TEST_PG_PORT']}/{self.databases['mlflow']}")

    def mlflow_store_note(self) -> str:
        return "PostgreSQL (psycopg)" if self.psycopg else "sqlite (psycopg missing)"

    def size(self, leg: str) -> int | None:
        if not self.psycopg:
            return None
        with self._connect("postgres") as conn:
            row = conn.execute("SELECT pg_database_size(%s)", (self.databases[leg],)).fetchone()
            return int(row[0])

    def close(self) -> None:
        if not self.psycopg:
            return
        try:
            with self._connect("postgres") as conn:
                for database in self.databases.values():
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        except Exception as exc:
            print(f"warning: could not drop the benchmark databases: {exc}", file=sys.stderr)


def open_backend(name: str, workdir: Path) -> Backend:
    classes = {"memory": MemoryBackend, "sqlite": SqliteBackend, "grpc": GrpcBackend,
               "mysql": MysqlBackend, "postgresql": PostgresBackend}
    if name not in classes:
        raise BackendError(f"unknown backend {name!r}; use one of: {', '.join(BACKENDS)}")
    return classes[name](workdir)
