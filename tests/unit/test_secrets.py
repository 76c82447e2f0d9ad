"""Secrets: literals and ${ENV} / file: references; never shown in describe, repr or errors."""
from __future__ import annotations

import traceback

import pydantic
import pytest

from zen_mlmd.errors import ConfigError
from zen_mlmd.flavors import SECRET_MASK, get_flavor
from zen_mlmd.flavors.kubeflow import KubeflowConfig
from zen_mlmd.flavors.mysql import MySQLConfig
from zen_mlmd.flavors.postgresql import PostgreSQLConfig
from zen_mlmd.secrets import is_reference, resolve_secret, shown_secret

SECRET = "hunter2-Literal-Secret"


def all_text(exc: BaseException) -> str:
    """Everything a user could see of an error: str, repr and the printed traceback."""
    return "\n".join([str(exc), repr(exc), "".join(traceback.format_exception(exc))])


# --- resolving ------------------------------------------------------------------------
def test_a_literal_is_itself():
    assert resolve_secret(SECRET, "password") == SECRET
    assert resolve_secret(None, "password") is None


def test_an_env_reference_reads_the_variable(monkeypatch):
    monkeypatch.setenv("ZEN_TEST_DB_PW", SECRET)
    assert resolve_secret("${ZEN_TEST_DB_PW}", "password") == SECRET


def test_an_unset_env_reference_names_field_and_variable(monkeypatch):
    monkeypatch.delenv("ZEN_TEST_UNSET_PW", raising=False)
    with pytest.raises(ConfigError) as caught:
        resolve_secret("${ZEN_TEST_UNSET_PW}", "password")
    assert caught.value.field == "password"
    assert caught.value.value == "${ZEN_TEST_UNSET_PW}"
    assert "ZEN_TEST_UNSET_PW is not set" in str(caught.value)
    assert "export ZEN_TEST_UNSET_PW" in caught.value.fix


def test_a_file_reference_reads_the_file_without_trailing_newline(tmp_path):
    secret_file = tmp_path / "pw.txt"
    secret_file.write_text(SECRET + "\n")
    assert resolve_secret(f"file:{secret_file}", "password") == SECRET
    secret_file.write_text(" spaces kept \r\n\n")
    assert resolve_secret(f"file:{secret_file}", "password") == " spaces kept "


def test_a_missing_file_reference_names_field_and_path(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(ConfigError) as caught:
        resolve_secret(f"file:{missing}", "sslpassword")
    assert caught.value.field == "sslpassword"
    assert str(missing) in str(caught.value)


def test_a_directory_is_not_a_secret_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        resolve_secret(f"file:{tmp_path}", "password")


def test_references_are_recognised_exactly():
    assert is_reference("${A_1}") and is_reference("file:/x")
    assert not is_reference("${1A}") and not is_reference("pre${A}") and not is_reference("file:")
    assert shown_secret("${A}") == "${A}"
    assert shown_secret(SECRET) == SECRET_MASK
    assert shown_secret(None) is None


# --- never shown ---------------------------------------------------------------------------
SECRET_CONFIGS = [
    ("mysql", {"host": "db", "database": "mlmd", "password": SECRET}),
    ("postgresql", {"host": "db", "dbname": "mlmd", "password": SECRET}),
    ("kubeflow", {"host": "ml", "server_cert": "-----BEGIN CERTIFICATE-----\nx\n",
                  "client_key": "-----BEGIN PRIVATE KEY-----\n" + SECRET}),
]


@pytest.mark.parametrize("flavor_name, options", SECRET_CONFIGS, ids=[c[0] for c in SECRET_CONFIGS])
def test_a_literal_secret_is_masked_in_describe_repr_and_str(flavor_name, options):
    config = get_flavor(flavor_name).parse_config(options)
    for text in (repr(config), str(config), str(config.describe())):
        assert SECRET not in text
        assert SECRET_MASK in text


def test_a_reference_is_shown_as_written():
    config = get_flavor("mysql").parse_config({"host": "db", "database": "mlmd", "password": "${DB_PW}"})
    assert config.describe()["password"] == "${DB_PW}"
    assert "${DB_PW}" in repr(config)


BAD_CONFIGS_WITH_SECRETS = [
    ("both host and socket", MySQLConfig, {"host": "db", "socket": "/s", "database": "mlmd", "password": SECRET}),
    ("empty database", MySQLConfig, {"host": "db", "database": "", "password": SECRET}),
    ("bad port", MySQLConfig, {"host": "db", "port": 0, "database": "mlmd", "password": SECRET}),
    ("malformed reference", MySQLConfig, {"host": "db", "database": "mlmd", "password": "${" + SECRET}),
    ("password not text", MySQLConfig, {"host": "db", "database": "mlmd", "password": [SECRET]}),
    ("misspelt password option", MySQLConfig, {"host": "db", "database": "mlmd", "passwd": SECRET}),
    ("no host", PostgreSQLConfig, {"dbname": "mlmd", "password": SECRET, "sslpassword": SECRET}),
    ("sslpassword refused", PostgreSQLConfig, {"host": "db", "dbname": "mlmd", "sslpassword": SECRET}),
    ("key that is no PEM nor file", KubeflowConfig, {"host": "ml", "client_key": SECRET}),
]


@pytest.mark.parametrize("case, config_class, options", BAD_CONFIGS_WITH_SECRETS,
                         ids=[c[0] for c in BAD_CONFIGS_WITH_SECRETS])
def test_validation_errors_never_show_a_secret(case, config_class, options):
    with pytest.raises(pydantic.ValidationError) as raw:  # pydantic's own error, used directly
        config_class(**options)
    assert SECRET not in all_text(raw.value)
    flavor = {MySQLConfig: "mysql", PostgreSQLConfig: "postgresql", KubeflowConfig: "kubeflow"}[config_class]
    with pytest.raises(ConfigError) as ours:  # and the ConfigError a flavor turns it into
        get_flavor(flavor).parse_config(options)
    assert SECRET not in all_text(ours.value)
    assert SECRET not in repr(ours.value.value)


def test_connection_config_resolves_references(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEN_TEST_DB_PW", SECRET)
    key_file = tmp_path / "key.pass"
    key_file.write_text("key-pass\n")
    mysql = get_flavor("mysql")
    proto = mysql.connection_config(mysql.parse_config(
        {"host": "db", "database": "mlmd", "password": "${ZEN_TEST_DB_PW}"}))
    assert proto.mysql.password == SECRET
    postgresql = get_flavor("postgresql")
    proto = postgresql.connection_config(postgresql.parse_config(
        {"host": "db", "dbname": "mlmd", "password": f"file:{key_file}"}))
    assert proto.postgresql.password == "key-pass"


def test_connection_config_with_an_unset_reference_is_a_config_error(monkeypatch):
    monkeypatch.delenv("ZEN_TEST_UNSET_PW", raising=False)
    mysql = get_flavor("mysql")
    config = mysql.parse_config({"host": "db", "database": "mlmd", "password": "${ZEN_TEST_UNSET_PW}"})
    with pytest.raises(ConfigError) as caught:
        mysql.connection_config(config)
    assert caught.value.field == "password"
    assert "ZEN_TEST_UNSET_PW" in str(caught.value)
