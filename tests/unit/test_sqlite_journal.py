"""`zen_mlmd.mlmd.journal`: which configs get a journal mode, and what happens to the file."""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from tracking_helpers import journal_mode
from zen_mlmd.flavors.registry import get_flavor
from zen_mlmd.mlmd import journal
from zen_mlmd.mlmd.journal import set_journal_mode, sqlite_path


def sqlite_config(path, mode=pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = mode
    return config


def rollback_file(path: Path) -> Path:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE t (x)")
    connection.commit()
    connection.close()
    return path


def test_only_read_write_sqlite_files_are_concerned(tmp_path: Path):
    tmp_path = tmp_path / "stores"
    tmp_path.mkdir()
    memory = pb.ConnectionConfig()
    memory.fake_database.SetInParent()
    mysql = pb.ConnectionConfig()
    mysql.mysql.host = "127.0.0.1"
    client = pb.MetadataStoreClientConfig(host="127.0.0.1", port=8080)
    readonly = sqlite_config(tmp_path / "a.db", pb.SqliteMetadataSourceConfig.READONLY)
    for config in (memory, mysql, client, readonly, sqlite_config(":memory:"),
                   sqlite_config(f"file:{tmp_path / 'b.db'}?mode=rwc")):
        assert sqlite_path(config) is None
        set_journal_mode(config, "wal")
    assert list(tmp_path.iterdir()) == []
    assert sqlite_path(sqlite_config(tmp_path / "c.db")) == str(tmp_path / "c.db")


def test_a_missing_file_is_created_in_wal_mode_only_when_it_may_be_created(tmp_path: Path):
    tmp_path = tmp_path / "stores"
    tmp_path.mkdir()
    set_journal_mode(sqlite_config(tmp_path / "new.db"), "wal")
    assert journal_mode(tmp_path / "new.db") == "wal"
    set_journal_mode(sqlite_config(tmp_path / "other.db", pb.SqliteMetadataSourceConfig.READWRITE), "wal")
    set_journal_mode(sqlite_config(tmp_path / "third.db"), "delete")  # SQLite's default: nothing to do
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["new.db"]


def test_an_existing_file_is_switched_both_ways(tmp_path: Path):
    db = rollback_file(tmp_path / "old.db")
    set_journal_mode(sqlite_config(db, pb.SqliteMetadataSourceConfig.READWRITE), "wal")
    assert journal_mode(db) == "wal"
    set_journal_mode(sqlite_config(db), "delete")
    assert journal_mode(db) == "delete"
    with pytest.raises(ValueError, match="use one of wal, delete"):
        set_journal_mode(sqlite_config(db), "truncate")


def test_a_file_another_connection_holds_keeps_its_mode_with_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    monkeypatch.setattr(journal, "_LOCK_WAIT_SECONDS", 0.05)
    db = rollback_file(tmp_path / "held.db")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with caplog.at_level(logging.WARNING, logger="zen_mlmd.mlmd.journal"):
            set_journal_mode(sqlite_config(db), "wal")  # no error: the store still works
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert journal_mode(db) == "delete"
    assert "could not set the journal mode" in caplog.text and str(db) in caplog.text


def test_the_sqlite_flavor_asks_for_wal_unless_told_otherwise(tmp_path: Path):
    flavor = get_flavor("sqlite")
    default = flavor.parse_config({"path": str(tmp_path / "x.db")})
    assert flavor.store_options(default) == {"sqlite_journal": "wal"}
    nfs = flavor.parse_config({"path": str(tmp_path / "x.db"), "journal_mode": "delete"})
    assert flavor.store_options(nfs) == {"sqlite_journal": "delete"}
    assert get_flavor("mysql").store_options(None) == {}
