"""The mysql flavor: exact protos, every bad field refused clearly, preflight error mapping."""
from __future__ import annotations

import socket

import pymysql
import pytest
from ml_metadata.proto import metadata_store_pb2

from zen_mlmd.errors import ConfigError
from zen_mlmd.flavors import get_flavor
from zen_mlmd.flavors.mysql_preflight import _auth_plugin_warning, explain_error


@pytest.fixture
def mysql():
    return get_flavor("mysql")


@pytest.fixture
def pem_files(tmp_path):
    """Stand-in TLS files: the flavor only checks that they exist."""
    files = {}
    for name in ("ca", "cert", "key"):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(f"-----BEGIN {name.upper()}-----\n")
    return files


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


# --- exact protos ----------------------------------------------------------------------
def test_tcp_config(mysql):
    config = mysql.parse_config({"host": "db.example", "port": "3307", "database": "mlmd",
                                 "user": "zen", "password": "pw"})
    proto = metadata_store_pb2.ConnectionConfig()
    proto.mysql.host = "db.example"
    proto.mysql.port = 3307
    proto.mysql.database = "mlmd"
    proto.mysql.user = "zen"
    proto.mysql.password = "pw"
    assert mysql.connection_config(config) == proto


def test_localhost_becomes_127_0_0_1_so_the_port_is_used(mysql):
    config = mysql.parse_config({"host": "localhost", "database": "mlmd"})
    proto = metadata_store_pb2.ConnectionConfig()
    proto.mysql.host = "127.0.0.1"
    proto.mysql.port = 3306
    proto.mysql.database = "mlmd"
    assert mysql.connection_config(config) == proto
    assert config.host == "localhost"  # the config keeps what the user wrote


def test_socket_config_has_no_host_or_port(mysql, tmp_path):
    config = mysql.parse_config({"socket": str(tmp_path / "mysql.sock"), "database": "mlmd",
                                 "user": "zen", "skip_db_creation": True})
    proto = metadata_store_pb2.ConnectionConfig()
    proto.mysql.socket = str(tmp_path / "mysql.sock")
    proto.mysql.database = "mlmd"
    proto.mysql.user = "zen"
    proto.mysql.skip_db_creation = True
    assert mysql.connection_config(config) == proto


def test_tls_config_never_sets_mlmds_broken_verify_server_cert(mysql, pem_files, tmp_path):
    config = mysql.parse_config({
        "host": "127.0.0.1", "port": 3399, "database": "mlmd", "user": "zen",
        "ssl_ca": str(pem_files["ca"]), "ssl_cert": str(pem_files["cert"]),
        "ssl_key": str(pem_files["key"]), "ssl_capath": str(tmp_path), "ssl_cipher": "ECDHE-RSA-AES256-GCM-SHA384",
        "verify_server_cert": True})
    proto = metadata_store_pb2.ConnectionConfig()
    proto.mysql.host = "127.0.0.1"
    proto.mysql.port = 3399
    proto.mysql.database = "mlmd"
    proto.mysql.user = "zen"
    proto.mysql.ssl_options.ca = str(pem_files["ca"])
    proto.mysql.ssl_options.cert = str(pem_files["cert"])
    proto.mysql.ssl_options.key = str(pem_files["key"])
    proto.mysql.ssl_options.capath = str(tmp_path)
    proto.mysql.ssl_options.cipher = "ECDHE-RSA-AES256-GCM-SHA384"
    assert mysql.connection_config(config) == proto
    assert mysql.preflight_required(config)
    assert not mysql.preflight_required(mysql.parse_config({"host": "h", "database": "mlmd"}))


def test_tls_paths_are_stored_absolute(mysql, pem_files, monkeypatch):
    monkeypatch.chdir(pem_files["ca"].parent)
    config = mysql.parse_config({"host": "h", "database": "mlmd", "ssl_ca": "ca.pem"})
    assert config.ssl_ca == str(pem_files["ca"])


def test_skip_db_creation_accepts_an_existing_database_of_any_name(mysql):
    config = mysql.parse_config({"host": "h", "database": "ml-metadata", "skip_db_creation": True})
    assert mysql.connection_config(config).mysql.database == "ml-metadata"


# --- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize("options, field, text", [
    ({"host": "h", "database": ""}, "database", "must not be empty"),
    ({"host": "h"}, "database", "is required"),
    ({"host": "h", "socket": "/tmp/s", "database": "mlmd"}, "host", "exactly one of host or socket"),
    ({"database": "mlmd"}, "host", "exactly one of host or socket"),
    ({"host": "h", "port": 0, "database": "mlmd"}, "port", "between 1 and 65535"),
    ({"host": "h", "port": 70000, "database": "mlmd"}, "port", "between 1 and 65535"),
    ({"host": "h", "port": "http", "database": "mlmd"}, "port", "valid integer"),
    ({"host": "h", "database": "my-db"}, "database", "not a valid MySQL database name"),
    ({"host": "h", "database": "12345"}, "database", "not a valid MySQL database name"),
    ({"host": "h", "database": "1e5"}, "database", "not a valid MySQL database name"),
    ({"host": "h", "database": "x" * 65}, "database", "not a valid MySQL database name"),
    ({"host": "", "database": "mlmd"}, "host", "is empty"),
    ({"host": "a b", "database": "mlmd"}, "host", "single host"),
    ({"host": "h", "database": "mlmd", "dbname": "mlmd"}, "dbname", "unknown option"),
    ({"host": "h", "database": "mlmd", "ssl_ca": "/no/such/ca.pem"}, "ssl_ca", "no such file: /no/such/ca.pem"),
    ({"host": "h", "database": "mlmd", "ssl_capath": "/no/such/dir"}, "ssl_capath", "no such directory"),
    ({"host": "h", "database": "mlmd", "verify_server_cert": True}, "verify_server_cert", "needs the CA"),
    ({"host": "h", "database": "mlmd", "verify_server_cert": "perhaps"}, "verify_server_cert", "valid boolean"),
    ({"host": "h", "database": "mlmd", "password": "${NOT CLOSED"}, "password", "not of the form"),
])
def test_bad_options_are_refused_with_field_and_fix(mysql, options, field, text):
    with pytest.raises(ConfigError) as caught:
        mysql.parse_config(options)
    assert caught.value.field == field
    assert text in str(caught.value)
    assert caught.value.fix, f"no fix in: {caught.value}"


def test_the_host_and_socket_message_says_what_to_set(mysql):
    with pytest.raises(ConfigError) as caught:
        mysql.parse_config({"database": "mlmd"})
    assert caught.value.problem == "exactly one of host or socket is required"
    assert caught.value.fix == "set --host for TCP or --socket for a Unix socket"


def test_a_client_certificate_needs_its_key(mysql, pem_files):
    with pytest.raises(ConfigError, match="ssl_cert and ssl_key go together") as caught:
        mysql.parse_config({"host": "h", "database": "mlmd", "ssl_cert": str(pem_files["cert"])})
    assert caught.value.field == "ssl_key"


def test_verify_server_identity_needs_verify_server_cert(mysql, pem_files):
    with pytest.raises(ConfigError, match="only applies with verify_server_cert"):
        mysql.parse_config({"host": "h", "database": "mlmd", "ssl_ca": str(pem_files["ca"]),
                            "verify_server_identity": True})


# --- preflight without a server -------------------------------------------------------------
def test_preflight_of_a_closed_port(mysql):
    port = closed_port()
    report = mysql.preflight(mysql.parse_config(
        {"host": "127.0.0.1", "port": port, "database": "mlmd", "user": "zen", "password": "pw"}), timeout=2)
    assert not report.ok
    assert f"cannot connect to the MySQL server at 127.0.0.1:{port}" in report.problem
    assert "start the server" in report.fix
    assert report.target == f"mysql://zen@127.0.0.1:{port}/mlmd"


def test_preflight_of_a_missing_socket(mysql, tmp_path):
    report = mysql.preflight(mysql.parse_config({"socket": str(tmp_path / "no.sock"), "database": "mlmd"}),
                             timeout=2)
    assert not report.ok
    assert "socket" in report.problem and "correct the socket path" in report.fix


def test_preflight_with_an_unset_password_variable(mysql, monkeypatch):
    monkeypatch.delenv("ZEN_TEST_UNSET_PW", raising=False)
    report = mysql.preflight(mysql.parse_config(
        {"host": "127.0.0.1", "database": "mlmd", "password": "${ZEN_TEST_UNSET_PW}"}))
    assert not report.ok and "ZEN_TEST_UNSET_PW is not set" in report.problem


@pytest.mark.parametrize("error, problem, fix", [
    (pymysql.err.OperationalError(1045, "Access denied for user 'zen'@'127.0.0.1' (using password: YES)"),
     "wrong user name or password", "check user and password"),
    (pymysql.err.OperationalError(1045, "Access denied for user 'zen'@'127.0.0.1' (using password: NO)"),
     "no password was given", "set password"),
    (pymysql.err.OperationalError(2003, "Can't connect to MySQL server on '127.0.0.1' ([SSL: "
                                        "CERTIFICATE_VERIFY_FAILED] certificate verify failed)"),
     "could not be verified with ssl_ca", "the CA that signed"),
    (pymysql.err.OperationalError(2003, "Can't connect ([SSL: CERTIFICATE_VERIFY_FAILED] certificate "
                                        "verify failed: IP address mismatch)"),
     "does not name", "verify_server_identity off"),
    (pymysql.err.OperationalError(1044, "Access denied for user 'zen'@'%' to database 'mlmd'"),
     "may not use the database", "GRANT ALL ON mlmd.*"),
    (pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"),
     "closed the connection during login", "TLS"),
    (pymysql.err.OperationalError(1040, "Too many connections"), "MySQL error 1040", "documentation"),
])
def test_preflight_errors_are_explained(mysql, error, problem, fix):
    config = mysql.parse_config({"host": "127.0.0.1", "database": "mlmd", "user": "zen", "password": "pw"})
    explained_problem, explained_fix = explain_error(config, error)
    assert problem in explained_problem and fix in explained_fix
    assert "pw" not in explained_problem.replace("password", "")


class FakeConnection:
    """Just enough of a PyMySQL connection for `_auth_plugin_warning`."""

    def __init__(self, plugin, handshake_plugin="mysql_native_password"):
        self.plugin = plugin
        self._auth_plugin_name = handshake_plugin

    def cursor(self):
        connection = self

        class Cursor:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def execute(self, query, args=None):
                if connection.plugin is None:
                    raise pymysql.err.OperationalError(1142, "SELECT command denied")

            def fetchone(self):
                return (connection.plugin,)

        return Cursor()


def test_caching_sha2_password_users_are_warned_about():
    assert "caching_sha2_password" in _auth_plugin_warning(FakeConnection("caching_sha2_password"), "zen")
    assert "mysql_native_password" in _auth_plugin_warning(FakeConnection("caching_sha2_password"), "zen")
    assert _auth_plugin_warning(FakeConnection("mysql_native_password"), "zen") is None
    unreadable = FakeConnection(None, handshake_plugin="caching_sha2_password")
    assert "server's default" in _auth_plugin_warning(unreadable, "zen")
    assert _auth_plugin_warning(FakeConnection(None), "zen") is None
