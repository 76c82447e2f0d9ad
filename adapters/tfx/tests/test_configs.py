"""Drop-in connection configs: equal to TFX's helpers, validated by zen_mlmd's flavors."""
from __future__ import annotations

import os
import socket

import pytest
from ml_metadata.metadata_store import metadata_store as mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.errors import ConfigError, PreflightError, UnknownNameError
from zen_mlmd.stack import StackRegistry
from zen_mlmd_tfx.configs import (
    LocalhostWarning,
    connection_config_for,
    mysql_metadata_connection_config,
    sqlite_metadata_connection_config,
)


# -- what tfx.orchestration.metadata builds, written out as its source does --------
def tfx_sqlite(metadata_db_uri: str) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = metadata_db_uri
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return config


def tfx_mysql(host, port, database, username, password) -> pb.ConnectionConfig:
    return pb.ConnectionConfig(mysql=pb.MySQLDatabaseConfig(
        host=host, port=port, database=database, user=username, password=password))


def assert_same_fields(ours, theirs):
    assert ours == theirs
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)
    assert [(f.name, v) for f, v in ours.ListFields()] == [(f.name, v) for f, v in theirs.ListFields()]


def test_sqlite_equals_tfx_and_creates_the_directory(tmp_path):
    uri = str(tmp_path / "pipelines" / "taxi" / "metadata.db")
    config = sqlite_metadata_connection_config(uri)
    assert_same_fields(config, tfx_sqlite(uri))
    assert os.path.isdir(tmp_path / "pipelines" / "taxi")
    store = mlmd.MetadataStore(config)  # usable by MLMD as it is
    assert store.get_context_types() == []


def test_sqlite_keeps_a_relative_path_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = sqlite_metadata_connection_config("mlmd/metadata.db")
    assert_same_fields(config, tfx_sqlite("mlmd/metadata.db"))
    assert (tmp_path / "mlmd").is_dir()
    assert_same_fields(sqlite_metadata_connection_config("bare.db"), tfx_sqlite("bare.db"))


@pytest.mark.parametrize("uri", ["", "DIRECTORY"])
def test_sqlite_bad_paths_are_config_errors(tmp_path, uri):
    uri = str(tmp_path) if uri == "DIRECTORY" else uri
    with pytest.raises(ConfigError) as error:
        sqlite_metadata_connection_config(uri)
    assert error.value.field == "metadata_db_uri"
    assert "Fix:" in str(error.value)


def test_mysql_equals_tfx():
    args = ("127.0.0.1", 3306, "mlmd", "tfx", "s3cret")
    assert_same_fields(mysql_metadata_connection_config(*args), tfx_mysql(*args))


def test_mysql_password_and_empty_user_pass_through_untouched(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    args = ("db.internal", 3307, "mlmd", "", "${NOT_SET_ANYWHERE}")
    config = mysql_metadata_connection_config(*args)
    assert_same_fields(config, tfx_mysql(*args))
    assert config.mysql.HasField("user") and config.mysql.password == "${NOT_SET_ANYWHERE}"


def test_mysql_localhost_is_kept_as_tfx_does_but_warns():
    args = ("localhost", 3306, "mlmd", "tfx", "pw")
    with pytest.warns(LocalhostWarning, match="127.0.0.1"):
        config = mysql_metadata_connection_config(*args)
    assert_same_fields(config, tfx_mysql(*args))


@pytest.mark.parametrize("field, args", [
    ("database", ("127.0.0.1", 3306, "", "tfx", "pw")),      # MLMD would abort the process
    ("database", ("127.0.0.1", 3306, "my db", "tfx", "pw")),
    ("host", ("", 3306, "mlmd", "tfx", "pw")),               # MLMD would abort the process
    ("port", ("127.0.0.1", 0, "mlmd", "tfx", "pw")),
])
def test_mysql_bad_arguments_are_config_errors_named_as_in_tfx(field, args):
    with pytest.raises(ConfigError) as error:
        mysql_metadata_connection_config(*args)
    assert error.value.field == field
    assert "pw" not in str(error.value)


# -- configs of stores registered in zen_mlmd ----------------------------------------
@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEN_MLMD_CONFIG_DIR", str(tmp_path / "config"))
    registry = StackRegistry(tmp_path / "config")
    registry.register_metadata_store("local-sqlite", "sqlite", {"path": str(tmp_path / "s" / "m.db")})
    return registry


def test_connection_config_for_a_registered_store(registry, tmp_path):
    config = connection_config_for("local-sqlite", registry=registry)
    assert_same_fields(config, tfx_sqlite(str(tmp_path / "s" / "m.db")))
    mlmd.MetadataStore(config)


def test_connection_config_for_a_stack_and_the_active_stack(registry):
    registry.register_stack("tfx", metadata_store="local-sqlite", artifact_store="default")
    stack = registry.get_stack("tfx")
    assert connection_config_for(stack) == stack.metadata_store.connection_config()
    active = registry.get_active_stack()
    assert connection_config_for(None) == active.metadata_store.connection_config()
    assert connection_config_for(active.metadata_store, preflight=False) == \
        active.metadata_store.connection_config()


def test_connection_config_for_an_unknown_store_lists_close_names(registry):
    with pytest.raises(UnknownNameError, match="local-sqlite"):
        connection_config_for("local-sqlit", registry=registry)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_connection_config_for_a_store_that_fails_its_preflight(registry):
    port = _closed_port()
    registry.register_metadata_store("down", "mysql", {"host": "127.0.0.1", "port": port,
                                                       "database": "mlmd", "user": "u"})
    with pytest.raises(PreflightError, match="down"):
        connection_config_for("down", registry=registry)
    config = connection_config_for("down", preflight=False, registry=registry)
    assert (config.mysql.host, config.mysql.port) == ("127.0.0.1", port)
