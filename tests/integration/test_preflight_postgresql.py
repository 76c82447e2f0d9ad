"""The postgresql flavor's preflight against a real PostgreSQL (started by the test command).

MLMD reports every PostgreSQL failure as ``connection pointer is NULL``;
here each one gets its own problem and fix, and what passes the preflight
opens in MLMD.
"""
from __future__ import annotations

import gc
import secrets
import socket

import pg8000.native
import pytest
from backends import server_from_env

from zen_mlmd.flavors import get_flavor
from zen_mlmd.mlmd.store import MetadataStore, library_schema_version

VARIABLES = {"host": "ZEN_MLMD_TEST_PG_HOST", "port": "ZEN_MLMD_TEST_PG_PORT",
             "user": "ZEN_MLMD_TEST_PG_USER", "password": "ZEN_MLMD_TEST_PG_PASSWORD"}


@pytest.fixture(scope="module")
def server():
    """The PostgreSQL the test command started, from its ZEN_MLMD_TEST_PG_* variables."""
    return server_from_env(VARIABLES)


@pytest.fixture(scope="module")
def databases(server):
    """Names of fresh databases; those MLMD created are dropped at the end."""
    created: list[str] = []

    def new_name() -> str:
        created.append(f"zt_pf_{secrets.token_hex(5)}")
        return created[-1]

    yield new_name
    gc.collect()  # close MLMD's connections first
    connection = pg8000.native.Connection(server.user, host=server.host, port=server.port,
                                          password=server.password, database="postgres", timeout=10)
    try:
        for name in created:
            connection.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        connection.close()


@pytest.fixture
def postgresql():
    return get_flavor("postgresql")


def options(server, dbname: str, **extra) -> dict:
    return {"host": server.host, "port": server.port, "dbname": dbname, "user": server.user,
            "password": server.password, **extra}


def test_good_credentials_then_mlmd_opens_the_store(postgresql, server, databases):
    config = postgresql.parse_config(options(server, databases()))
    report = postgresql.preflight(config)
    assert report.ok, report
    assert report.details["server_version"]
    assert report.details["schema_version"] == "new"
    assert "MLMD will create it" in report.details["database"]
    assert server.password not in str(report)

    store = MetadataStore(postgresql.connection_config(config))
    assert store.get_executions() == []
    report = postgresql.preflight(config)
    assert report.ok and report.details["schema_version"] == library_schema_version()


def test_password_references_and_a_passfile(postgresql, server, databases, monkeypatch, tmp_path):
    monkeypatch.setenv("ZEN_TEST_PG_PW", server.password)
    name = databases()
    report = postgresql.preflight(postgresql.parse_config(options(server, name, password="${ZEN_TEST_PG_PW}")))
    assert report.ok, report
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"{server.host}:{server.port}:*:{server.user}:{server.password}\n")
    passfile.chmod(0o600)  # libpq ignores a password file others can read
    config = postgresql.parse_config({**options(server, name, passfile=str(passfile)), "password": None})
    monkeypatch.delenv("PGPASSWORD", raising=False)
    report = postgresql.preflight(config)
    assert report.ok, report
    assert MetadataStore(postgresql.connection_config(config)).get_executions() == []


def test_a_wrong_password(postgresql, server, databases):
    report = postgresql.preflight(postgresql.parse_config(options(server, databases(), password="nope")))
    assert not report.ok
    assert report.problem == (f"password authentication failed for user {server.user!r}: "
                              "wrong user name or password")
    assert "check user and password" in report.fix


def test_a_stopped_server(postgresql, server, databases):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    report = postgresql.preflight(postgresql.parse_config(options(server, databases(), host="127.0.0.1",
                                                                  port=closed)), timeout=3)
    assert not report.ok
    assert report.problem == f"nothing listens on 127.0.0.1:{closed} (connection refused)"


def test_an_unknown_database_with_skip_db_creation(postgresql, server, databases):
    name = databases()
    report = postgresql.preflight(postgresql.parse_config(options(server, name, skip_db_creation=True)))
    assert not report.ok
    assert report.problem == f"the database {name!r} does not exist and skip_db_creation is on"


def test_a_reserved_word_database_name_is_caught_before_mlmd_fails(postgresql, server):
    report = postgresql.preflight(postgresql.parse_config(options(server, "user")))
    assert not report.ok and "is a reserved word" in report.problem



def test_no_password_at_all(postgresql, server, databases, monkeypatch, tmp_path):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    report = postgresql.preflight(postgresql.parse_config({**options(server, databases()), "password": None}))
    assert not report.ok
    assert report.problem.endswith(f"asks user {server.user!r} for a password and none was found")
