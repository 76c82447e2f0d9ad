"""The stack registry: default stack, persistence, validation, referential integrity."""
from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import zen_mlmd
from zen_mlmd.errors import (
    AlreadyExistsError,
    ConfigError,
    InUseError,
    UnknownNameError,
)
from zen_mlmd.stack import StackRegistry, config_dir, get_active_stack
from zen_mlmd.stack.validation import validate_name

SECRET = "s3cr3t-Literal-pw"
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@pytest.fixture
def registry(config_home):
    return StackRegistry()


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def register_mysql(registry, name="prod"):
    return registry.register_metadata_store(
        name, "mysql",
        {"host": "127.0.0.1", "port": "3306", "database": "mlmd", "user": "u", "password": SECRET},
    )


# -- the config directory ---------------------------------------------------------------
def test_config_dir_follows_env_then_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEN_MLMD_CONFIG_DIR", str(tmp_path / "explicit"))
    assert config_dir() == tmp_path / "explicit"
    monkeypatch.delenv("ZEN_MLMD_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "zen-mlmd"


# -- the default stack ------------------------------------------------------------------
def test_first_use_creates_the_default_stack(registry, config_home):
    stack = registry.get_active_stack()
    assert stack.name == "default"
    assert stack.metadata_store.name == "default"
    assert stack.metadata_store.flavor_name == "sqlite"
    assert stack.metadata_store.config.path == str(
        config_home / "local_stores" / "default" / "metadata.db")
    assert stack.artifact_store.path == str(config_home / "local_stores" / "default" / "artifacts")
    assert stack.orchestrator.flavor == "local"


def test_config_file_is_private_and_dirs_are_0700(registry, config_home):
    registry.get_active_stack()
    assert mode_of(registry.config_path) == 0o600
    assert mode_of(config_home) == 0o700
    assert mode_of(config_home / "local_stores") == 0o700
    assert mode_of(config_home / "local_stores" / "default") == 0o700
    register_mysql(registry)
    assert mode_of(registry.config_path) == 0o600
    # atomic writes leave no temporary files behind
    assert sorted(p.name for p in config_home.iterdir()) == ["config.yaml", "local_stores"]


def test_get_active_stack_is_exported_lazily_and_opens_mlmd(config_home):
    assert zen_mlmd.__version__ == "0.1.0"
    stack = zen_mlmd.get_active_stack()
    assert stack == get_active_stack()
    store = stack.metadata_store.open()
    assert store.store_name == "default"
    assert store.get_context_types() == []
    import sqlite3

    with sqlite3.connect(stack.metadata_store.config.path) as db:  # opening created schema 10
        assert db.execute("SELECT schema_version FROM MLMDEnv").fetchone()[0] == 10


def test_importing_zen_mlmd_is_cheap():
    code = "import sys, zen_mlmd; print(sorted(m for m in sys.modules if m.startswith(('zen_mlmd', 'yaml', 'pydantic'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['zen_mlmd']"


# -- metadata stores --------------------------------------------------------------------
def test_register_stores_options_as_given_and_validated(registry):
    component = register_mysql(registry)
    stored = yaml.safe_load(registry.config_path.read_text())["metadata_stores"]["prod"]
    assert stored == {"flavor": "mysql", "options": {
        "host": "127.0.0.1", "port": 3306, "database": "mlmd", "user": "u", "password": SECRET}}
    assert component.config.port == 3306
    assert registry.get_metadata_store("prod").options["password"] == SECRET


def test_secret_stays_out_of_repr_and_describe(registry):
    component = register_mysql(registry)
    assert SECRET not in repr(component)
    assert SECRET not in repr(component.config)
    assert SECRET not in str(component.describe())
    registry.register_artifact_store("art", "relative/dir")
    registry.register_stack("s", "prod", "art")
    assert SECRET not in str(registry.get_stack("s").describe())
    assert SECRET not in repr(registry.get_stack("s"))


def test_failed_register_writes_nothing(registry):
    registry.get_active_stack()
    before = registry.config_path.read_bytes()
    with pytest.raises(ConfigError) as bad_option:
        registry.register_metadata_store("x", "mysql", {"host": "h", "database": "d", "bogus": 1})
    assert bad_option.value.field == "bogus"
    with pytest.raises(ConfigError):  # host and socket together would abort MLMD
        registry.register_metadata_store(
            "x", "mysql", {"host": "h", "socket": "/tmp/s", "database": "d"})
    with pytest.raises(UnknownNameError, match="did you mean 'mysql'"):
        registry.register_metadata_store("x", "mysqll", {})
    with pytest.raises(ConfigError, match="name"):
        registry.register_metadata_store("-bad", "sqlite", {})
    assert registry.config_path.read_bytes() == before


def test_register_twice_is_refused(registry):
    register_mysql(registry)
    with pytest.raises(AlreadyExistsError, match="'prod' already exists"):
        register_mysql(registry)


def test_update_keeps_other_options_and_unsets(registry, tmp_path):
    register_mysql(registry)
    updated = registry.update_metadata_store("prod", {"port": 3307, "password": "${PW}"})
    assert updated.options == {"host": "127.0.0.1", "port": 3307, "database": "mlmd",
                               "user": "u", "password": "${PW}"}
    updated = registry.update_metadata_store("prod", unset=["password"])
    assert "password" not in updated.options
    with pytest.raises(UnknownNameError):
        registry.update_metadata_store("prod", unset=["password"])
    before = registry.config_path.read_bytes()
    with pytest.raises(ConfigError):
        registry.update_metadata_store("prod", {"port": 0})
    assert registry.config_path.read_bytes() == before


def test_sqlite_relative_path_is_stored_absolute(registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    component = registry.register_metadata_store("local", "sqlite", {"path": "db/m.sqlite"})
    assert component.options["path"] == str(tmp_path / "db" / "m.sqlite")


# -- artifact stores, orchestrators -----------------------------------------------------
def test_artifact_store_paths(registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert registry.register_artifact_store("a", "out").path == str(tmp_path / "out")
    # gcsfs is not installed here: registered (it may be used elsewhere), with a warning
    with pytest.warns(UserWarning, match="'gs' backend is not installed"):
        assert registry.register_artifact_store("b", "gs://bucket/prefix").path == "gs://bucket/prefix"
    assert registry.register_artifact_store("s", "s3://bucket/prefix").path == "s3://bucket/prefix"  # s3fs is
    with pytest.raises(ConfigError):
        registry.register_artifact_store("c", " ")
    with pytest.raises(ConfigError, match="unknown protocol 'foo'"):
        registry.register_artifact_store("d", "foo://bucket/x")
    with pytest.raises(ConfigError, match="credentials in the URL") as caught:
        registry.register_artifact_store("e", "https://user:hunter2@example.com/x")
    assert "hunter2" not in str(caught.value)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        registry.register_artifact_store("f", str(tmp_path / "a-file"))
    assert [c.name for c in registry.list_artifact_stores()] == ["a", "b", "default", "s"]


def test_orchestrator_flavor_is_checked(registry):
    assert registry.register_orchestrator("local2").flavor == "local"
    with pytest.raises(UnknownNameError, match="unknown orchestrator flavor 'kubernetes'") as caught:
        registry.register_orchestrator("k", flavor="kubernetes")
    assert "local" in caught.value.known  # plugin flavors (kubeflow) may be listed too


# -- stacks and referential integrity -----------------------------------------------------
def test_stack_lifecycle(registry):
    register_mysql(registry)
    registry.register_artifact_store("art", "/tmp/art")
    stack = registry.register_stack("prod", "prod", "art")
    assert (stack.metadata_store.name, stack.artifact_store.name, stack.orchestrator.name) == (
        "prod", "art", "default")
    registry.set_active_stack("prod")
    assert registry.active_stack_name == "prod"
    assert get_active_stack().name == "prod"
    with pytest.raises(InUseError, match="active stack"):
        registry.delete_stack("prod")
    registry.update_stack("prod", metadata_store="default")
    assert registry.get_stack("prod").metadata_store.name == "default"
    registry.set_active_stack("default")
    registry.delete_stack("prod")
    assert [s.name for s in registry.list_stacks()] == ["default"]


def test_stack_of_unknown_component_is_refused(registry):
    registry.get_active_stack()
    before = registry.config_path.read_bytes()
    with pytest.raises(UnknownNameError, match="unknown metadata store 'defualt'; did you mean 'default'"):
        registry.register_stack("s", "defualt", "default")
    assert registry.config_path.read_bytes() == before


def test_deleting_a_used_component_names_the_stacks(registry):
    registry.register_artifact_store("art", "/tmp/art")
    registry.register_stack("b-stack", "default", "art")
    registry.register_stack("a-stack", "default", "art")
    with pytest.raises(InUseError, match="stack\\(s\\) 'a-stack', 'b-stack'"):
        registry.delete_artifact_store("art")
    with pytest.raises(InUseError, match="'a-stack', 'b-stack', 'default'"):
        registry.delete_metadata_store("default")
    with pytest.raises(InUseError):
        registry.delete_orchestrator("default")
    registry.delete_stack("a-stack")
    registry.delete_stack("b-stack")
    registry.delete_artifact_store("art")
    with pytest.raises(UnknownNameError):
        registry.get_artifact_store("art")


def test_unknown_stack_lists_close_matches(registry):
    with pytest.raises(UnknownNameError, match="did you mean 'default'"):
        registry.set_active_stack("defaul")


# -- the file itself -----------------------------------------------------------------------
def test_corrupt_file_error_shows_position_not_content(registry):
    registry.config_path.parent.mkdir(parents=True, exist_ok=True)
    registry.config_path.write_text(f"metadata_stores: {{password: {SECRET}\n  - [")
    with pytest.raises(ConfigError) as error:
        registry.get_active_stack()
    assert "not valid YAML at line" in str(error.value)
    assert SECRET not in str(error.value)


def test_newer_format_is_refused(registry):
    registry.config_path.parent.mkdir(parents=True, exist_ok=True)
    registry.config_path.write_text("version: 99\n")
    with pytest.raises(ConfigError, match="upgrade zen-mlmd"):
        registry.list_stacks()


def _register_many(directory: str, prefix: str) -> None:
    registry = StackRegistry(directory)
    for i in range(10):
        registry.register_artifact_store(f"{prefix}{i}", f"{directory}/artifacts-{prefix}{i}")


def test_concurrent_writers_lose_nothing(tmp_path):
    directory = str(tmp_path / "shared")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_register_many, args=(directory, p)) for p in "abc"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    names = {c.name for c in StackRegistry(directory).list_artifact_stores()}
    assert names == {"default"} | {f"{p}{i}" for p in "abc" for i in range(10)}


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=70))
def test_names_follow_the_pattern(name):
    valid = (0 < len(name) <= 63 and name[0] in ALNUM
             and all(c in ALNUM or c in "_.-" for c in name))
    if valid:
        assert validate_name("stack", name) == name
    else:
        with pytest.raises(ConfigError):
            validate_name("stack", name)
