"""Reading commands and the read API never create or change a store.

`run list`, `run describe`, `pipeline list`, `artifact lineage` and
`zen_mlmd.get_run` on (a) an SQLite file of another application and (b) a
path that does not exist: a clear error naming the path and the fix, the
file byte for byte as it was, no file or directory created. MySQL and
PostgreSQL databases without MLMD's tables are refused the same way before
MLMD could create its schema (or the database). Only recording and
`metadata-store init`/`upgrade` create or change a store.
"""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from backends import mysql_spec, postgresql_spec, unique_database_name
from cli_helpers import error_of
from post_execution_helpers import training
from zen_mlmd.cli.main import cli
from zen_mlmd.errors import (
    PreflightError,
    ReadOnlyStoreError,
    StoreNotCreatedError,
    StoreNotStartedError,
)
from zen_mlmd.stack import StackRegistry

READS = [
    ("run", "list"),
    ("run", "describe", "some-run"),
    ("pipeline", "list"),
    ("artifact", "lineage", "1"),
    ("artifact", "describe", "1"),
    ("run", "compare", "a", "b"),
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def other_application_db(tmp_path) -> Path:
    path = tmp_path / "app" / "users.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO users (name) VALUES ('ada')")
    return path


@pytest.mark.parametrize("command", READS, ids=[" ".join(c[:2]) for c in READS])
def test_reading_another_applications_sqlite_file_changes_nothing(command, other_application_db):
    StackRegistry().register_metadata_store("other", "sqlite", {"path": str(other_application_db)})
    before, files = sha256(other_application_db), tree(other_application_db.parent)

    result = invoke(*command, "--store", "other")

    assert result.exit_code == 1, result.output
    assert error_of(result) == (
        f"Error: metadata store 'other' (sqlite://{other_application_db}): {other_application_db} "
        "is an SQLite database but not an MLMD store (it has no MLMDEnv table). Fix: give the "
        "path of an MLMD store, or a new file")
    assert sha256(other_application_db) == before
    assert tree(other_application_db.parent) == files


@pytest.mark.parametrize("command", READS, ids=[" ".join(c[:2]) for c in READS])
def test_reading_a_missing_path_creates_nothing(command, tmp_path):
    missing = tmp_path / "nowhere" / "metadata.db"
    StackRegistry().register_metadata_store("missing", "sqlite", {"path": str(missing)})

    result = invoke(*command, "--store", "missing")

    assert result.exit_code == 1, result.output
    message = error_of(result)
    assert f"metadata store 'missing' (sqlite://{missing}): {missing} does not exist" in message
    assert "Fix: record a run in it first" in message and "or correct its path" in message
    assert not missing.parent.exists()


def test_the_read_api_on_the_active_store_creates_nothing(config_dir, other_application_db):
    import zen_mlmd

    registry = StackRegistry()
    default_db = Path(registry.get_metadata_store("default").options["path"])
    # the default store's own file, not created yet: no records, nothing created
    with pytest.raises(StoreNotStartedError, match="holds no records yet"):
        zen_mlmd.get_run("anything")
    with pytest.raises(StoreNotStartedError, match="holds no records yet"):
        zen_mlmd.get_pipelines()
    assert not default_db.exists()

    registry.update_metadata_store("default", {"path": str(other_application_db)})
    before = sha256(other_application_db)
    with pytest.raises(PreflightError, match="not an MLMD store"):
        zen_mlmd.get_run("anything")
    with pytest.raises(PreflightError, match="not an MLMD store"):
        zen_mlmd.get_artifact(1)
    assert sha256(other_application_db) == before


def test_an_empty_sqlite_file_is_not_given_a_schema_by_a_read(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    component = StackRegistry().register_metadata_store("empty", "sqlite", {"path": str(empty)})
    with pytest.raises(StoreNotCreatedError, match="holds no MLMD store yet.*Fix: check that 'empty'"):
        component.open(read_only=True)
    assert empty.read_bytes() == b""


def test_reads_work_on_a_recorded_store_and_refuse_writes(tmp_path):
    from zen_mlmd.mlmd.convention_registry import get_convention

    native = get_convention("native")
    registry = StackRegistry()
    training.run(stack=registry.get_active_stack(), quiet=True, run_name="t-1")
    component = registry.get_active_stack().metadata_store
    path = Path(component.options["path"])
    before = sha256(path)

    result = invoke("run", "describe", "t-1")
    assert result.exit_code == 0, result.output
    assert "Run 't-1' of pipeline 'training'" in result.output
    store = component.open(read_only=True)
    with pytest.raises(ReadOnlyStoreError, match="opened for reading only. Fix: open it for writing"):
        store.type_id("context", native.context_type("a_new_type"))
    assert store.calls["PutContextType"] == 0  # refused before MLMD saw it
    assert sha256(path) == before


def test_check_reports_a_new_store_without_creating_it_and_init_creates_it(tmp_path):
    path = tmp_path / "new" / "metadata.db"
    StackRegistry().register_metadata_store("fresh", "sqlite", {"path": str(path)})

    checked = invoke("metadata-store", "check", "fresh")
    assert checked.exit_code == 0, checked.output
    assert "none yet (created as version 10 by the first run, or by `zen-mlmd metadata-store " \
           "init fresh`)" in checked.output
    assert not path.parent.exists()

    created = invoke("metadata-store", "init", "fresh")
    assert created.exit_code == 0, created.output
    assert "Metadata store 'fresh'" in created.output and "is ready (schema version 10)" in created.output
    assert path.exists()
    assert invoke("run", "list", "--store", "fresh").output == "No runs recorded yet.\n"

    again = invoke("metadata-store", "init", "fresh")
    assert "exists already (schema version 10); nothing was changed" in again.output
    assert invoke("metadata-store", "check", "fresh").exit_code == 0


# --- server databases: MLMD would create the schema (and the database) on open ------------
def _mysql_tables(spec, database: str) -> list[str] | None:
    import pymysql

    options = spec.options
    with pymysql.connect(host=options["host"], port=options["port"], user=options["user"],
                         password=options["password"]) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name = %s",
                       (database,))
        if cursor.fetchone() is None:
            return None
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                       (database,))
        return sorted(row[0] for row in cursor.fetchall())


def _mysql_create(spec, database: str) -> None:
    import pymysql

    options = spec.options
    with pymysql.connect(host=options["host"], port=options["port"], user=options["user"],
                         password=options["password"]) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{database}`")


def _pg_tables(spec, dbname: str) -> list[str] | None:
    import pg8000.native

    options = spec.options
    connection = pg8000.native.Connection(options["user"], host=options["host"], port=options["port"],
                                          password=options["password"], database="postgres")
    try:
        if not connection.run("SELECT 1 FROM pg_database WHERE datname = :name", name=dbname):
            return None
    finally:
        connection.close()
    connection = pg8000.native.Connection(options["user"], host=options["host"], port=options["port"],
                                          password=options["password"], database=dbname)
    try:
        return sorted(row[0] for row in connection.run(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    finally:
        connection.close()


def _pg_create(spec, dbname: str) -> None:
    import pg8000.native

    options = spec.options
    connection = pg8000.native.Connection(options["user"], host=options["host"], port=options["port"],
                                          password=options["password"], database="postgres")
    try:
        connection.run(f'CREATE DATABASE "{dbname}"')
    finally:
        connection.close()


SERVERS = {
    "mysql": (mysql_spec, _mysql_tables, _mysql_create),
    "postgresql": (postgresql_spec, _pg_tables, _pg_create),
}


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_a_read_never_creates_a_server_database_or_its_schema(server, database_janitor):
    make_spec, tables, create = SERVERS[server]
    name = unique_database_name()
    getattr(database_janitor, server).append(name)
    spec = make_spec(name)
    component = StackRegistry().register_metadata_store("remote", spec.flavor, dict(spec.options))

    result = invoke("run", "list", "--store", "remote")  # the database does not exist
    assert result.exit_code == 1, result.output
    assert "holds no MLMD store yet: nothing was recorded there" in error_of(result)
    assert tables(spec, name) is None

    create(spec, name)  # an empty database: MLMD would create its tables in it
    with pytest.raises(StoreNotCreatedError, match=r"Fix: check that 'remote' points where"):
        component.open(read_only=True)
    assert tables(spec, name) == []

    with component.open():  # recording creates the schema; then reads work
        pass
    assert "mlmdenv" in [t.lower() for t in tables(spec, name)]
    with component.open(read_only=True) as store:
        assert store.get_contexts() == []
