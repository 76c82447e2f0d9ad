"""No silent sharing: each SQLite store gets its own file, and sharing a database is said."""
from __future__ import annotations

import warnings

import pytest
from click.testing import CliRunner

from zen_mlmd.cli.main import cli
from zen_mlmd.stack import StackRegistry
from zen_mlmd.stack.stack import SharedStoreWarning


def test_a_sqlite_store_without_a_path_gets_its_own_file(config_dir):
    registry = StackRegistry()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no sharing, no warning
        second = registry.register_metadata_store("second", "sqlite")
    default = registry.get_metadata_store("default")
    assert second.options["path"] == str(config_dir / "local_stores" / "second" / "metadata.db")
    assert second.config.path != default.config.path
    assert not (config_dir / "local_stores" / "second").exists()  # created by the first run


def test_the_cli_names_the_new_file(config_dir):
    result = CliRunner().invoke(cli, ["metadata-store", "register", "team", "-f", "sqlite"])
    assert result.exit_code == 0, result.output
    expected = config_dir / "local_stores" / "team" / "metadata.db"
    assert result.stdout == f"Registered metadata store 'team' (flavor sqlite, {expected}).\n"
    assert result.stderr == ""


def test_registering_a_second_name_for_a_registered_path_says_so(config_dir, tmp_path):
    registry = StackRegistry()
    default_path = registry.get_metadata_store("default").options["path"]
    with pytest.warns(SharedStoreWarning, match=(
            r"metadata store 'alias' uses the same database as 'default' \(.*metadata.db\): both "
            r"names read and record the same runs. To keep them apart, give 'alias' its own --path")):
        registry.register_metadata_store("alias", "sqlite", {"path": default_path})

    result = CliRunner().invoke(cli, ["metadata-store", "register", "alias2", "-f", "sqlite",
                                      "--path", str(tmp_path / ".." / tmp_path.name / "x.db")])
    assert result.exit_code == 0 and result.stderr == ""
    moved = CliRunner().invoke(cli, ["metadata-store", "update", "alias2", "--path", default_path])
    assert moved.exit_code == 0
    assert "Warning: metadata store 'alias2' uses the same database as 'alias'" in moved.stderr


def test_server_stores_are_compared_by_host_port_and_database_not_user():
    registry = StackRegistry()
    options = {"host": "db.example", "port": 3306, "database": "mlmd", "user": "reader"}
    registry.register_metadata_store("prod", "mysql", options)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry.register_metadata_store("staging", "mysql", {**options, "database": "staging"})
    with pytest.warns(SharedStoreWarning, match="'prod-writer' uses the same database as 'prod'"):
        registry.register_metadata_store("prod-writer", "mysql", {**options, "user": "writer"})
