"""The mysql flavor's preflight against a real MariaDB (started by the test command).

Each failure MLMD reports as ``mysql_real_connect failed: errno: , error:``
gets its own clear problem and fix here; TLS server verification, which
MLMD's client cannot do, is proven to accept the right CA and reject a wrong one.
"""
from __future__ import annotations

import gc
import secrets
import socket

import pymysql
import pytest
from backends import server_from_env

from zen_mlmd.flavors import get_flavor
from zen_mlmd.mlmd.store import MetadataStore, library_schema_version

VARIABLES = {
    "host": "ZEN_MLMD_TEST_MYSQL_HOST", "port": "ZEN_MLMD_TEST_MYSQL_PORT",
    "user": "ZEN_MLMD_TEST_MYSQL_USER", "password": "ZEN_MLMD_TEST_MYSQL_PASSWORD",
    "ssl_ca": "ZEN_MLMD_TEST_MYSQL_SSL_CA", "ssl_cert": "ZEN_MLMD_TEST_MYSQL_SSL_CERT",
    "ssl_key": "ZEN_MLMD_TEST_MYSQL_SSL_KEY", "wrong_ca": "ZEN_MLMD_TEST_MYSQL_WRONG_CA",
}


@pytest.fixture(scope="module")
def server():
    """The MariaDB the test command started, from its ZEN_MLMD_TEST_MYSQL_* variables."""
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
    connection = pymysql.connect(host=server.host, port=server.port, user=server.user,
                                 password=server.password, connect_timeout=5)
    with connection, connection.cursor() as cursor:
        for name in created:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def mysql():
    return get_flavor("mysql")


def options(server, database: str, **extra) -> dict:
    return {"host": server.host, "port": server.port, "database": database, "user": server.user,
            "password": server.password, **extra}


def test_good_credentials_then_mlmd_opens_the_store(mysql, server, databases):
    config = mysql.parse_config(options(server, databases()))
    report = mysql.preflight(config)
    assert report.ok, report
    assert report.details["server_version"]
    assert report.details["schema_version"] == "new"
    assert "MLMD will create it" in report.details["database"]
    assert server.password not in str(report)

    store = MetadataStore(mysql.connection_config(config))
    assert store.get_executions() == []
    report = mysql.preflight(config)
    assert report.ok and report.details["schema_version"] == library_schema_version()
    assert report.warnings == ()  # mysql_native_password user, no TLS


def test_a_wrong_password(mysql, server, databases):
    report = mysql.preflight(mysql.parse_config(options(server, databases(), password="not-the-password")))
    assert not report.ok
    assert report.problem.startswith(f"access denied for user {server.user!r}: wrong user name or password")
    assert "check user and password" in report.fix


def test_a_stopped_server(mysql, server, databases):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    report = mysql.preflight(mysql.parse_config(options(server, databases(), host="127.0.0.1", port=closed)),
                             timeout=3)
    assert not report.ok
    assert report.problem.startswith(f"cannot connect to the MySQL server at 127.0.0.1:{closed}")
    assert "Connection refused" in report.problem
    assert report.fix == "start the server, or correct host and port"


def test_an_unknown_database_with_skip_db_creation(mysql, server, databases):
    name = databases()
    report = mysql.preflight(mysql.parse_config(options(server, name, skip_db_creation=True)))
    assert not report.ok
    assert report.problem == f"the database {name!r} does not exist and skip_db_creation is on"
    assert "turn skip_db_creation off" in report.fix


def test_a_reserved_word_database_name_is_caught_before_mlmd_fails(mysql, server):
    report = mysql.preflight(mysql.parse_config(options(server, "order")))
    assert not report.ok and "is a reserved word" in report.problem


def test_a_wrong_ca_is_rejected_when_verifying(mysql, server, databases):
    config = mysql.parse_config(options(server, databases(), ssl_ca=server.wrong_ca, verify_server_cert=True))
    assert mysql.preflight_required(config)
    report = mysql.preflight(config)
    assert not report.ok
    assert report.problem.startswith(f"the server certificate could not be verified with ssl_ca ({server.wrong_ca})")
    assert "CERTIFICATE_VERIFY_FAILED" in report.problem
    assert report.fix == "set ssl_ca to the CA that signed the server's certificate"


def test_the_right_ca_is_accepted_and_mlmd_connects_over_tls(mysql, server, databases):
    config = mysql.parse_config(options(server, databases(), ssl_ca=server.ssl_ca, ssl_cert=server.ssl_cert,
                                        ssl_key=server.ssl_key, verify_server_cert=True,
                                        verify_server_identity=True))
    report = mysql.preflight(config)
    assert report.ok, report
    assert report.details["server_certificate"] == "verified against ssl_ca"
    assert report.details["tls_cipher"] != "none"
    store = MetadataStore(mysql.connection_config(config))  # MLMD itself: TLS, no broken verify flag
    assert store.get_executions() == []


def test_tls_without_verification_is_warned_about(mysql, server, databases):
    report = mysql.preflight(mysql.parse_config(options(server, databases(), ssl_ca=server.wrong_ca)))
    assert report.ok, report  # as MLMD: any certificate is accepted without verify_server_cert
    assert any("turn verify_server_cert on" in warning for warning in report.warnings)
