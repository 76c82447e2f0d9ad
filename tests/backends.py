"""The metadata-store backends the integration suite runs on (a pytest plugin).

Each backend yields a `BackendSpec`: a flavor name and the options a user
would register, pointing at a fresh, empty store. MariaDB and PostgreSQL come
from the servers `scripts/test-servers.sh` starts (found through the
``ZEN_MLMD_TEST_*`` environment variables); the gRPC backend is our own MLMD
server, started per test over a fresh SQLite file (it serves in ~0.2 s).

Fixtures (loaded by tests/conftest.py, and by `scripts/test.sh` with
``-p backends`` so that adapters/*/tests get them too):

- ``backend``: parametrized over `BACKENDS`; a `BackendSpec` for a fresh store.
  A backend whose servers are not configured is an error, never a skip.
- ``metadata_store``: an opened `zen_mlmd.mlmd.store.MetadataStore` on it.
- ``config_dir`` (autouse): ``ZEN_MLMD_CONFIG_DIR`` in a temp dir, so no test
  reads or writes the user's configuration.
"""
from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest

BACKENDS = ["sqlite", "mysql", "mysql_tls", "postgresql", "grpc"]

RUN_THE_TEST_COMMAND = (
    "run the suite with `bash scripts/test.sh`, which starts throw-away MariaDB and "
    "PostgreSQL servers and exports these variables (or export them for servers of your own)"
)

SERVER_START_TIMEOUT = 20.0   # seconds for the gRPC server to write its ready file
SERVER_STOP_GRACE = 5.0       # seconds between SIGTERM and SIGKILL


class BackendUnavailable(Exception):
    """A backend cannot be set up here; the message says how to fix it."""


@dataclass(frozen=True)
class BackendSpec:
    """A fresh metadata store: the flavor name and options that reach it.

    Attributes:
        name: the backend name, one of `BACKENDS`.
        flavor: the metadata-store flavor to register it with.
        options: the flavor's options (what `zen-mlmd metadata-store register` takes).
    """

    name: str
    flavor: str
    options: Mapping[str, Any] = field(default_factory=dict)


def env(*names: str) -> dict[str, str]:
    """The named environment variables, or BackendUnavailable naming the missing ones."""
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise BackendUnavailable(f"{', '.join(missing)} not set: {RUN_THE_TEST_COMMAND}")
    return {name: os.environ[name] for name in names}


def server_from_env(variables: Mapping[str, str]):
    """A test server's settings (attribute -> variable name); fails the test when unset."""
    from types import SimpleNamespace

    try:
        values = env(*variables.values())
    except BackendUnavailable as missing:
        pytest.fail(str(missing), pytrace=False)
    settings = {key: values[name] for key, name in variables.items()}
    if "port" in settings:
        settings["port"] = int(settings["port"])
    return SimpleNamespace(**settings)


def unique_database_name() -> str:
    """A new database name, valid for MariaDB and PostgreSQL alike."""
    return f"zt_{secrets.token_hex(6)}"


# --- specs, one function per backend ---------------------------------------------
def sqlite_spec(tmp_path: Path) -> BackendSpec:
    return BackendSpec("sqlite", "sqlite", {"path": str(tmp_path / "mlmd.sqlite")})


def mysql_spec(database: str) -> BackendSpec:
    values = env("ZEN_MLMD_TEST_MYSQL_HOST", "ZEN_MLMD_TEST_MYSQL_PORT",
                 "ZEN_MLMD_TEST_MYSQL_USER", "ZEN_MLMD_TEST_MYSQL_PASSWORD")
    return BackendSpec("mysql", "mysql", {
        "host": values["ZEN_MLMD_TEST_MYSQL_HOST"],
        "port": int(values["ZEN_MLMD_TEST_MYSQL_PORT"]),
        "database": database,
        "user": values["ZEN_MLMD_TEST_MYSQL_USER"],
        "password": values["ZEN_MLMD_TEST_MYSQL_PASSWORD"],
    })


def mysql_tls_spec(database: str) -> BackendSpec:
    values = env("ZEN_MLMD_TEST_MYSQL_HOST", "ZEN_MLMD_TEST_MYSQL_PORT",
                 "ZEN_MLMD_TEST_MYSQL_TLS_USER", "ZEN_MLMD_TEST_MYSQL_TLS_PASSWORD",
                 "ZEN_MLMD_TEST_MYSQL_SSL_CA", "ZEN_MLMD_TEST_MYSQL_SSL_CERT",
                 "ZEN_MLMD_TEST_MYSQL_SSL_KEY")
    return BackendSpec("mysql_tls", "mysql", {
        "host": values["ZEN_MLMD_TEST_MYSQL_HOST"],
        "port": int(values["ZEN_MLMD_TEST_MYSQL_PORT"]),
        "database": database,
        "user": values["ZEN_MLMD_TEST_MYSQL_TLS_USER"],
        "password": values["ZEN_MLMD_TEST_MYSQL_TLS_PASSWORD"],
        "ssl_ca": values["ZEN_MLMD_TEST_MYSQL_SSL_CA"],
        "ssl_cert": values["ZEN_MLMD_TEST_MYSQL_SSL_CERT"],
        "ssl_key": values["ZEN_MLMD_TEST_MYSQL_SSL_KEY"],
    })


def postgresql_spec(dbname: str) -> BackendSpec:
    values = env("ZEN_MLMD_TEST_PG_HOST", "ZEN_MLMD_TEST_PG_PORT",
                 "ZEN_MLMD_TEST_PG_USER", "ZEN_MLMD_TEST_PG_PASSWORD")
    return BackendSpec("postgresql", "postgresql", {
        "host": values["ZEN_MLMD_TEST_PG_HOST"],
        "port": int(values["ZEN_MLMD_TEST_PG_PORT"]),
        "dbname": dbname,
        "user": values["ZEN_MLMD_TEST_PG_USER"],
        "password": values["ZEN_MLMD_TEST_PG_PASSWORD"],
    })


def grpc_spec(port: int) -> BackendSpec:
    return BackendSpec("grpc", "kubeflow", {"host": "127.0.0.1", "port": port})


# --- connection configs ------------------------------------------------------------
def connection_config(spec: BackendSpec):
    """The MLMD connection proto for `spec`, built by its flavor.

    Falls back to building the proto here while the flavor registry is not
    part of the package, so the suite can run on every backend regardless.
    """
    try:
        from zen_mlmd.flavors import registry
    except ModuleNotFoundError as exc:
        if exc.name != "zen_mlmd.flavors.registry":
            raise
        return direct_connection_config(spec.flavor, spec.options)
    flavor = registry.get_flavor(spec.flavor)
    return flavor.connection_config(flavor.parse_config(dict(spec.options)))


def direct_connection_config(flavor: str, options: Mapping[str, Any]):
    """The MLMD connection proto for flavor options, without the flavor classes."""
    from ml_metadata.proto import metadata_store_pb2

    if flavor == "kubeflow":
        return metadata_store_pb2.MetadataStoreClientConfig(
            host=options["host"], port=int(options["port"]))
    config = metadata_store_pb2.ConnectionConfig()
    if flavor == "sqlite":
        config.sqlite.filename_uri = options["path"]
        config.sqlite.connection_mode = (
            metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
    elif flavor == "mysql":
        mysql = config.mysql
        mysql.host = options["host"]
        mysql.port = int(options["port"])
        mysql.database = options["database"]
        mysql.user = options["user"]
        mysql.password = options["password"]
        for option in ("ca", "cert", "key"):
            if options.get(f"ssl_{option}"):
                setattr(mysql.ssl_options, option, options[f"ssl_{option}"])
    elif flavor == "postgresql":
        postgresql = config.postgresql
        postgresql.host = options["host"]
        postgresql.port = str(options["port"])
        postgresql.dbname = options["dbname"]
        postgresql.user = options["user"]
        postgresql.password = options["password"]
    else:
        raise ValueError(f"unknown flavor {flavor!r}; valid options are: kubeflow, mysql, "
                         "postgresql, sqlite")
    return config


# --- the gRPC server ------------------------------------------------------------------
class GrpcServer:
    """`python -m zen_mlmd.server` over one store, on a port the OS picks.

    Use as a context manager; the process is stopped on exit (SIGTERM, then
    SIGKILL after `SERVER_STOP_GRACE` seconds).
    """

    def __init__(self, database_config, workdir: Path, extra_args: tuple[str, ...] = ()):
        self.database_config = database_config
        self.workdir = workdir
        self.extra_args = tuple(extra_args)
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "server.log"

    def __enter__(self) -> "GrpcServer":
        from google.protobuf import text_format

        self.workdir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / "connection_config.pbtxt"
        config_path.write_text(text_format.MessageToString(self.database_config))
        ready_path = self.workdir / "ready"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "zen_mlmd.server", "--connection-config", str(config_path),
                 "--host", "127.0.0.1", "--port", "0", "--ready-file", str(ready_path),
                 *self.extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            self.port = self._wait_ready(ready_path)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _wait_ready(self, ready_path: Path) -> int:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BackendUnavailable(
                    f"the MLMD gRPC server exited with status {self.process.returncode} "
                    f"before serving; its output:\n{self.log_tail()}")
            try:
                text = ready_path.read_text().strip()
            except FileNotFoundError:
                text = ""
            if text.isdigit():
                return int(text)
            time.sleep(0.02)
        raise BackendUnavailable(
            f"the MLMD gRPC server did not write {ready_path} within {SERVER_START_TIMEOUT:.0f}s; "
            f"its output:\n{self.log_tail()}")

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(SERVER_STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"


@dataclass
class DatabaseJanitor:
    """Drops the databases the suite created, once, at the end of the session.

    Best effort: the throw-away servers are wiped on the next start anyway;
    this keeps servers of your own from filling up with test databases.
    """

    mysql: list[str] = field(default_factory=list)
    postgresql: list[str] = field(default_factory=list)

    def drop_all(self) -> None:
        if self.mysql:
            self._drop_mysql()
        if self.postgresql:
            self._drop_postgresql()

    def _drop_mysql(self) -> None:
        try:
            import pymysql

            values = env("ZEN_MLMD_TEST_MYSQL_HOST", "ZEN_MLMD_TEST_MYSQL_PORT",
                         "ZEN_MLMD_TEST_MYSQL_USER", "ZEN_MLMD_TEST_MYSQL_PASSWORD")
            connection = pymysql.connect(
                host=values["ZEN_MLMD_TEST_MYSQL_HOST"],
                port=int(values["ZEN_MLMD_TEST_MYSQL_PORT"]),
                user=values["ZEN_MLMD_TEST_MYSQL_USER"],
                password=values["ZEN_MLMD_TEST_MYSQL_PASSWORD"], connect_timeout=5)
        except Exception:
            return
        with connection, connection.cursor() as cursor:
            for name in self.mysql:
                try:
                    cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
                except Exception:
                    pass

    def _drop_postgresql(self) -> None:
        psql = shutil.which("psql") or next(
            iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"), reverse=True)), None)
        try:
            values = env("ZEN_MLMD_TEST_PG_HOST", "ZEN_MLMD_TEST_PG_PORT",
                         "ZEN_MLMD_TEST_PG_USER", "ZEN_MLMD_TEST_PG_PASSWORD")
        except BackendUnavailable:
            return
        if psql is None:
            return
        script = "".join(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);\n'
                         for name in self.postgresql)
        subprocess.run(
            [psql, "-h", values["ZEN_MLMD_TEST_PG_HOST"], "-p", values["ZEN_MLMD_TEST_PG_PORT"],
             "-U", values["ZEN_MLMD_TEST_PG_USER"], "-d", "postgres", "-q", "-X"],
            input=script, text=True, capture_output=True, timeout=60, check=False,
            env={**os.environ, "PGPASSWORD": values["ZEN_MLMD_TEST_PG_PASSWORD"],
                 "PGCONNECT_TIMEOUT": "5"},
        )


def open_backend(name: str, tmp_path: Path, janitor: DatabaseJanitor) -> Iterator[BackendSpec]:
    """Generator behind the `backend` fixture: yields a spec for a fresh store."""
    if name == "sqlite":
        yield sqlite_spec(tmp_path)
    elif name in ("mysql", "mysql_tls"):
        database = unique_database_name()
        spec = mysql_spec(database) if name == "mysql" else mysql_tls_spec(database)
        janitor.mysql.append(database)
        yield spec
    elif name == "postgresql":
        dbname = unique_database_name()
        spec = postgresql_spec(dbname)
        janitor.postgresql.append(dbname)
        yield spec
    elif name == "grpc":
        workdir = tmp_path / "grpc-server"
        database = connection_config(sqlite_spec(workdir))
        with GrpcServer(database, workdir) as server:
            yield grpc_spec(server.port)
    else:
        raise ValueError(f"unknown backend {name!r}; valid options are: {', '.join(BACKENDS)}")


# --- fixtures ------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private zen-mlmd config directory (``ZEN_MLMD_CONFIG_DIR``) for each test."""
    path = tmp_path / "zen-mlmd-config"
    path.mkdir()
    monkeypatch.setenv("ZEN_MLMD_CONFIG_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def database_janitor() -> Iterator[DatabaseJanitor]:
    janitor = DatabaseJanitor()
    yield janitor
    janitor.drop_all()


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path,
            database_janitor: DatabaseJanitor) -> Iterator[BackendSpec]:
    """A fresh, empty metadata store on each backend: its flavor and options."""
    opened = open_backend(request.param, tmp_path, database_janitor)
    try:
        spec = next(opened)
    except BackendUnavailable as exc:
        problem = str(exc)
    else:
        problem = None
    if problem is not None:  # outside `except`: one message, no chained traceback
        pytest.fail(f"backend {request.param}: {problem}", pytrace=False)
    yield spec
    opened.close()


@pytest.fixture
def metadata_store(backend: BackendSpec):
    """An opened `MetadataStore` on the fresh store of `backend`."""
    from zen_mlmd.mlmd.store import MetadataStore

    return MetadataStore(connection_config(backend), store_name=f"test-{backend.name}")

