"""The postgresql flavor: exact protos, every bad field refused clearly, preflight helpers."""
from __future__ import annotations

import socket

import pytest
from ml_metadata.proto import metadata_store_pb2

from zen_mlmd.errors import ConfigError
from zen_mlmd.flavors import get_flavor
from zen_mlmd.flavors.postgresql_preflight import _passfile_password, explain_error


@pytest.fixture
def postgresql():
    return get_flavor("postgresql")


@pytest.fixture
def pem_files(tmp_path):
    files = {}
    for name in ("root", "cert", "key"):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(f"-----BEGIN {name.upper()}-----\n")
    return files


# --- exact protos ------------------------------------------------------------------------
def test_tcp_config_carries_the_port_as_a_string(postgresql):
    config = postgresql.parse_config({"host": "db.example", "dbname": "mlmd", "user": "zen",
                                      "password": "pw"})
    proto = metadata_store_pb2.ConnectionConfig()
    proto.postgresql.host = "db.example"
    proto.postgresql.port = "5432"
    proto.postgresql.dbname = "mlmd"
    proto.postgresql.user = "zen"
    proto.postgresql.password = "pw"
    assert postgresql.connection_config(config) == proto


def test_hostaddr_passfile_sslmode_and_skip_db_creation(postgresql, tmp_path):
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:*:pw\n")
    config = postgresql.parse_config({
        "hostaddr": "10.1.2.3", "port": 6543, "dbname": "Existing-DB", "user": "zen",
        "passfile": str(passfile), "skip_db_creation": True, "sslmode": "disable"})
    proto = metadata_store_pb2.ConnectionConfig()
    pg = proto.postgresql
    pg.hostaddr = "10.1.2.3"
    pg.port = "6543"
    pg.dbname = "Existing-DB"
    pg.user = "zen"
    pg.passfile = str(passfile)
    pg.skip_db_creation = True
    pg.ssloption.sslmode = "disable"
    assert postgresql.connection_config(config) == proto


def test_a_socket_directory_as_host(postgresql):
    config = postgresql.parse_config({"host": "/var/run/postgresql", "dbname": "mlmd"})
    assert config.socket_directory == "/var/run/postgresql"
    assert postgresql.connection_config(config).postgresql.host == "/var/run/postgresql"


# --- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize("options, field, text", [
    ({"host": "h", "dbname": ""}, "dbname", "must not be empty"),
    ({"host": "h"}, "dbname", "is required"),
    ({"dbname": "mlmd"}, "host", "at least one of host or hostaddr"),
    ({"hostaddr": "db.example", "dbname": "mlmd"}, "hostaddr", "not a numeric IP address"),
    ({"host": "h", "port": 0, "dbname": "mlmd"}, "port", "between 1 and 65535"),
    ({"host": "h", "port": 70000, "dbname": "mlmd"}, "port", "between 1 and 65535"),
    ({"host": "h", "dbname": "MyStore"}, "dbname", "lowercase"),
    ({"host": "h", "dbname": "1st"}, "dbname", "not a valid name"),
    ({"host": "h", "dbname": "a-b"}, "dbname", "not a valid name"),
    ({"host": "h", "dbname": "x" * 64}, "dbname", "not a valid name"),
    ({"host": "h", "dbname": "mlmd", "database": "mlmd"}, "database", "unknown option"),
    ({"host": "h", "dbname": "mlmd", "sslmode": "on"}, "sslmode", "is not a valid choice"),
    ({"host": "h", "dbname": "mlmd", "sslrootcert": "/no/root.crt"}, "sslrootcert", "no such file"),
    ({"host": "h", "dbname": "mlmd", "passfile": "/no/pgpass"}, "passfile", "no such file"),
])
def test_bad_options_are_refused_with_field_and_fix(postgresql, options, field, text):
    with pytest.raises(ConfigError) as caught:
        postgresql.parse_config(options)
    assert caught.value.field == field
    assert text in str(caught.value)
    assert caught.value.fix, f"no fix in: {caught.value}"


def test_sslmode_choices_are_listed(postgresql):
    with pytest.raises(ConfigError) as caught:
        postgresql.parse_config({"host": "h", "dbname": "mlmd", "sslmode": "on"})
    assert caught.value.fix == "use one of: disable, allow, prefer, require, verify-ca or verify-full"


@pytest.mark.parametrize("options, field", [
    ({"sslmode": "require"}, "sslmode"),
    ({"sslmode": "verify-full", "sslrootcert": "root"}, "sslmode"),
    ({"sslmode": "prefer", "sslrootcert": "root"}, "sslrootcert"),
    ({"sslcert": "cert", "sslkey": "key"}, "sslcert"),
    ({"sslpassword": "${KEY_PASS}"}, "sslpassword"),
])
def test_tls_options_are_refused_since_mlmds_client_has_no_tls(postgresql, pem_files, options, field):
    options = {key: str(pem_files[value]) if value in pem_files else value for key, value in options.items()}
    with pytest.raises(ConfigError) as caught:
        postgresql.parse_config({"host": "h", "dbname": "mlmd", **options})
    assert caught.value.field == field
    assert caught.value.problem == ("cannot work: the PostgreSQL client inside ml-metadata 1.17.1 is built "
                                    "without TLS support")
    assert "private network" in caught.value.fix and "mysql flavor" in caught.value.fix


@pytest.mark.parametrize("sslmode", ["disable", "allow", "prefer"])
def test_plain_text_sslmodes_are_passed_on(postgresql, sslmode):
    config = postgresql.parse_config({"host": "h", "dbname": "mlmd", "sslmode": sslmode})
    assert postgresql.connection_config(config).postgresql.ssloption.sslmode == sslmode


# --- preflight without a server -------------------------------------------------------------
def test_preflight_of_a_closed_port(postgresql):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = postgresql.preflight(postgresql.parse_config(
        {"host": "127.0.0.1", "port": port, "dbname": "mlmd", "user": "zen"}), timeout=2)
    assert not report.ok
    assert f"nothing listens on 127.0.0.1:{port}" in report.problem
    assert "start the server" in report.fix
    assert report.target == f"postgresql://zen@127.0.0.1:{port}/mlmd"


def test_preflight_of_a_missing_socket_directory(postgresql, tmp_path):
    report = postgresql.preflight(postgresql.parse_config({"host": str(tmp_path), "dbname": "mlmd"}))
    assert not report.ok and "does not exist" in report.problem


def test_passfile_lookup_follows_libpq(postgresql, tmp_path):
    passfile = tmp_path / "pgpass"
    passfile.write_text("# comment\nother:5432:*:*:no\ndb:5432:mlmd:zen:pa\\:ss\n*:*:*:*:fallback\n")
    config = postgresql.parse_config({"host": "db", "dbname": "mlmd", "passfile": str(passfile)})
    assert _passfile_password(config, "zen") == "pa:ss"
    assert _passfile_password(config, "someone") == "fallback"


@pytest.mark.parametrize("fields, problem", [
    ({"C": "28P01", "M": 'password authentication failed for user "zen"'}, "wrong user name or password"),
    ({"C": "28000", "M": 'no pg_hba.conf entry for host "1.2.3.4"'}, "no pg_hba.conf entry"),
    ({"C": "28000", "M": 'no pg_hba.conf entry for host "1.2.3.4", user "zen", database "mlmd", no encryption'},
     "refused a login without TLS"),
    ({"C": "42501", "M": "permission denied for database mlmd"}, "may not connect"),
    ({"C": "53300", "M": "sorry, too many clients already"}, "too many connections"),
])
def test_login_errors_are_explained(postgresql, fields, problem):
    config = postgresql.parse_config({"host": "h", "dbname": "mlmd", "user": "zen"})
    explained, fix = explain_error(config, "zen", Exception({"S": "FATAL", **fields}))
    assert problem in explained and fix
