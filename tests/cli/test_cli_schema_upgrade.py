"""Opening a store never migrates its schema; `metadata-store upgrade` does, explicitly.

The older schema is real: MLMD's own `downgrade_schema` turns a fresh SQLite
store back into schema version 8.
"""
from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner
from ml_metadata.metadata_store import metadata_store as mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.cli.main import cli
from zen_mlmd.errors import SchemaVersionError
from zen_mlmd.mlmd.store import MetadataStore, library_schema_version


def _schema_version(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT schema_version FROM MLMDEnv").fetchone()[0]


@pytest.fixture
def old_store(tmp_path):
    path = tmp_path / "old.db"
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    store = mlmd.MetadataStore(config)
    store.put_execution_type(pb.ExecutionType(name="kept"))
    del store
    mlmd.downgrade_schema(config, 8)
    assert _schema_version(path) == 8
    return path, config


def test_opening_an_older_schema_is_refused_and_changes_nothing(old_store):
    path, config = old_store
    with pytest.raises(SchemaVersionError) as info:
        MetadataStore(config, store_name="legacy")
    assert "zen-mlmd metadata-store upgrade legacy" in str(info.value)
    assert _schema_version(path) == 8  # not migrated behind the user's back


def test_the_upgrade_command_migrates_after_confirmation(old_store):
    path, _ = old_store
    runner = CliRunner()
    registered = runner.invoke(cli, ["metadata-store", "register", "legacy", "--flavor", "sqlite",
                                     "--path", str(path)])
    assert registered.exit_code == 0, registered.output
    declined = runner.invoke(cli, ["metadata-store", "upgrade", "legacy"], input="n\n")
    assert declined.exit_code != 0
    assert _schema_version(path) == 8
    upgraded = runner.invoke(cli, ["metadata-store", "upgrade", "legacy", "--yes"])
    assert upgraded.exit_code == 0, upgraded.output
    assert _schema_version(path) == library_schema_version()
    store = MetadataStore(pb.ConnectionConfig(sqlite=pb.SqliteMetadataSourceConfig(
        filename_uri=str(path))), store_name="legacy")
    assert [t.name for t in store.get_execution_types()] == ["kept"]  # data survived
