"""The sqlite flavor: default location, exact proto, errors, preflight."""
from __future__ import annotations

import os
import sqlite3

import pytest
from ml_metadata.proto import metadata_store_pb2

from zen_mlmd.errors import ConfigError
from zen_mlmd.flavors import get_flavor
from zen_mlmd.flavors.sqlite import default_config_dir
from zen_mlmd.mlmd.store import MetadataStore, library_schema_version

Mode = metadata_store_pb2.SqliteMetadataSourceConfig


@pytest.fixture
def sqlite():
    return get_flavor("sqlite")


def expected(path: str, mode) -> metadata_store_pb2.ConnectionConfig:
    proto = metadata_store_pb2.ConnectionConfig()
    proto.sqlite.filename_uri = path
    proto.sqlite.connection_mode = mode
    return proto


# --- default location --------------------------------------------------------------------
def test_config_dir_comes_from_zen_mlmd_config_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("ZEN_MLMD_CONFIG_DIR", str(tmp_path / "cfg"))
    assert default_config_dir() == str(tmp_path / "cfg")


def test_config_dir_falls_back_to_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv("ZEN_MLMD_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_config_dir() == str(tmp_path / "xdg" / "zen-mlmd")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_config_dir() == str(tmp_path / "home" / ".config" / "zen-mlmd")


def test_default_store_lives_in_the_config_dir(sqlite, config_dir):
    config = sqlite.parse_config({})
    path = str(config_dir / "local_stores" / "default" / "metadata.db")
    assert sqlite.connection_config(config) == expected(path, Mode.READWRITE_OPENCREATE)
    assert os.path.isdir(os.path.dirname(path))  # created: the one piece of I/O


# --- exact protos --------------------------------------------------------------------------
def test_a_relative_path_is_stored_absolute(sqlite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = sqlite.parse_config({"path": "stores/m.db", "connection_mode": "readonly"})
    assert config.path == str(tmp_path / "stores" / "m.db")
    assert sqlite.connection_config(config) == expected(str(tmp_path / "stores" / "m.db"), Mode.READONLY)
    assert not (tmp_path / "stores").exists()  # only readwrite_opencreate creates the directory


def test_readwrite_mode(sqlite, tmp_path):
    config = sqlite.parse_config({"path": str(tmp_path / "m.db"), "connection_mode": "readwrite"})
    assert sqlite.connection_config(config) == expected(str(tmp_path / "m.db"), Mode.READWRITE)


def test_mlmd_opens_the_built_config(sqlite, tmp_path):
    config = sqlite.parse_config({"path": str(tmp_path / "deep" / "dir" / "m.db")})
    store = MetadataStore(sqlite.connection_config(config))
    assert store.get_executions() == []


# --- errors ------------------------------------------------------------------------------------
def test_an_unknown_connection_mode_lists_the_valid_ones(sqlite):
    with pytest.raises(ConfigError) as caught:
        sqlite.parse_config({"connection_mode": "rw"})
    assert caught.value.field == "connection_mode"
    assert "readonly, readwrite or readwrite_opencreate" in caught.value.fix


def test_a_directory_is_not_a_database_path(sqlite, tmp_path):
    with pytest.raises(ConfigError, match="is a directory") as caught:
        sqlite.parse_config({"path": str(tmp_path)})
    assert str(tmp_path / "metadata.db") in caught.value.fix


def test_an_unknown_option_lists_the_valid_ones(sqlite):
    with pytest.raises(ConfigError) as caught:
        sqlite.parse_config({"filename": "x.db"})
    assert caught.value.field == "filename"
    assert caught.value.fix == "use one of: connection_mode, journal_mode, path"


def test_an_uncreatable_directory_is_a_config_error(sqlite, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = sqlite.parse_config({"path": str(blocker / "sub" / "m.db")})
    with pytest.raises(ConfigError, match="cannot create the directory"):
        sqlite.connection_config(config)


# --- preflight -------------------------------------------------------------------------------------
def test_preflight_of_a_new_store(sqlite, tmp_path):
    report = sqlite.preflight(sqlite.parse_config({"path": str(tmp_path / "new" / "m.db")}))
    assert report.ok, report
    assert report.details["schema_version"] == "new"
    assert report.target == f"sqlite://{tmp_path / 'new' / 'm.db'}"


def test_preflight_reads_the_schema_version(sqlite, tmp_path):
    config = sqlite.parse_config({"path": str(tmp_path / "m.db")})
    MetadataStore(sqlite.connection_config(config)).get_executions()
    report = sqlite.preflight(config)
    assert report.ok and report.details["schema_version"] == library_schema_version()
    assert report.warnings == ()


def test_preflight_warns_about_an_older_schema(sqlite, tmp_path):
    config = sqlite.parse_config({"path": str(tmp_path / "m.db")})
    MetadataStore(sqlite.connection_config(config)).get_executions()
    with sqlite3.connect(config.path) as connection:
        connection.execute("UPDATE MLMDEnv SET schema_version = 7")
    report = sqlite.preflight(config)
    assert report.ok and report.details["schema_version"] == 7
    assert "metadata-store upgrade" in report.warnings[0]


def test_preflight_of_a_missing_file_in_readonly_mode(sqlite, tmp_path):
    config = sqlite.parse_config({"path": str(tmp_path / "m.db"), "connection_mode": "readonly"})
    report = sqlite.preflight(config)
    assert not report.ok
    assert "does not exist" in report.problem and "readwrite_opencreate" in report.fix


def test_preflight_of_a_file_that_is_not_sqlite(sqlite, tmp_path):
    bogus = tmp_path / "m.db"
    bogus.write_text("not a database, just text that is long enough to have a header" * 10)
    report = sqlite.preflight(sqlite.parse_config({"path": str(bogus)}))
    assert not report.ok and "cannot be read as an SQLite database" in report.problem


def test_preflight_of_an_sqlite_file_that_is_not_mlmd(sqlite, tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE users (id INTEGER)")
    report = sqlite.preflight(sqlite.parse_config({"path": str(other)}))
    assert not report.ok and "not an MLMD store" in report.problem


def test_preflight_when_a_parent_is_a_file(sqlite, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    report = sqlite.preflight(sqlite.parse_config({"path": str(blocker / "sub" / "m.db")}))
    assert not report.ok and "is not a directory" in report.problem
