"""The flavor registry: built-ins, lazy imports, entry-point plugins, broken plugins warn.

The plugin package in tests/plugin_flavor is made discoverable to a fresh
interpreter through PYTHONPATH (see `plugin_path`); it is never installed, so
its deliberately broken entry point cannot follow a user around.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zen_mlmd.errors import UnknownNameError
from zen_mlmd.flavors import FlavorPluginWarning, MetadataStoreFlavor, get_flavor, list_flavors
from zen_mlmd.flavors import registry
from zen_mlmd.flavors.sqlite import SQLiteConfig

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "plugin_flavor"
PLUGIN_DIST = "zen-mlmd-test-plugin-flavor"
BUILTINS = ["sqlite", "mysql", "postgresql", "kubeflow"]
REPO = Path(__file__).resolve().parents[2]



def run_python(code: str, pythonpath: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=env)


# --- built-ins ---------------------------------------------------------------------------
def test_builtins_come_first_in_order():
    assert [flavor.name for flavor in list_flavors()][:4] == BUILTINS


def test_get_flavor_returns_the_same_object():
    assert get_flavor("mysql") is get_flavor("mysql")
    assert get_flavor("sqlite").config_class is SQLiteConfig


def test_an_unknown_flavor_lists_the_valid_ones():
    with pytest.raises(UnknownNameError) as caught:
        get_flavor("nope")
    message = str(caught.value)
    assert "unknown metadata-store flavor 'nope'" in message
    for name in BUILTINS:
        assert name in message


def test_a_misspelt_flavor_gets_a_suggestion():
    with pytest.raises(UnknownNameError, match="did you mean 'postgresql'"):
        get_flavor("postgres")


def test_flavors_import_nothing_heavy():
    result = run_python("""
        import sys
        from zen_mlmd.flavors import get_flavor
        flavor = get_flavor("sqlite")
        flavor.parse_config({})
        heavy = ("ml_metadata", "pymysql", "pg8000", "grpc", "zen_mlmd.flavors.mysql", "zen_mlmd.flavors.kubeflow")
        print(sorted(m for m in sys.modules if m.startswith(heavy)))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- plugins, from fake entry points -------------------------------------------------------------
class FakeEntryPoint:
    def __init__(self, name: str, target):
        self.name = name
        self.value = f"fake_module:{getattr(target, '__name__', 'thing')}"
        self.dist = None
        self._target = target

    def load(self):
        if isinstance(self._target, BaseException):
            raise self._target
        return self._target


class GoodFlavor(MetadataStoreFlavor):
    name = "good"
    config_class = SQLiteConfig

    def connection_config(self, config):
        return None

    def preflight(self, config, timeout=5.0):
        return None


class AbstractFlavor(MetadataStoreFlavor):
    name = "abstract"
    config_class = SQLiteConfig


class NoConfigFlavor(MetadataStoreFlavor):
    name = "noconfig"
    connection_config = GoodFlavor.connection_config
    preflight = GoodFlavor.preflight


@pytest.mark.parametrize("entry_point, reason", [
    (FakeEntryPoint("broken", ImportError("No module named 'fake_module'")), "cannot be imported: ImportError"),
    (FakeEntryPoint("thing", dict), "is not a MetadataStoreFlavor subclass"),
    (FakeEntryPoint("other", GoodFlavor), "the class's flavor name is 'good'"),
    (FakeEntryPoint("abstract", AbstractFlavor), "cannot be instantiated"),
    (FakeEntryPoint("noconfig", NoConfigFlavor), "has no config_class"),
])
def test_a_broken_plugin_warns_and_is_skipped(entry_point, reason):
    with pytest.warns(FlavorPluginWarning) as caught:
        found = registry.load_plugins([entry_point, FakeEntryPoint("good", GoodFlavor)])
    assert list(found) == ["good"]
    message = str(caught[0].message)
    assert f"{entry_point.name} = {entry_point.value}" in message
    assert reason in message


def test_two_plugins_with_one_name_are_an_error_on_use():
    from zen_mlmd.plugins import PluginConflictError, resolve, usable

    twin = type("Twin", (GoodFlavor,), {})
    found = registry.load_plugins([FakeEntryPoint("good", GoodFlavor), FakeEntryPoint("good", twin)])
    with pytest.raises(PluginConflictError, match="registered twice"):
        resolve(found, "good")
    with pytest.warns(FlavorPluginWarning, match="registered twice"):
        assert usable(found) == {}


def test_a_plugin_with_a_builtin_name_is_an_error_on_use():
    from zen_mlmd.plugins import PluginConflictError, resolve

    found = registry.load_plugins([FakeEntryPoint("sqlite", type("Shadow", (GoodFlavor,), {"name": "sqlite"}))])
    with pytest.raises(PluginConflictError, match="built-in"):
        resolve(found, "sqlite")


def test_plugins_are_listed_after_the_builtins(monkeypatch):
    monkeypatch.setattr(registry.metadata, "entry_points",
                        lambda group: [FakeEntryPoint("good", GoodFlavor)] if group == "zen_mlmd.flavors" else [])
    registry.reload_plugins()
    try:
        assert [flavor.name for flavor in list_flavors()] == [*BUILTINS, "good"]
        assert isinstance(get_flavor("good"), GoodFlavor)
    finally:
        registry.reload_plugins()


# --- the installed plugin package -------------------------------------------------------------------
@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> str:
    """tests/plugin_flavor, discoverable by a subprocess only: never installed globally.

    A `.dist-info` with the package's entry points (read from its setup.cfg)
    next to its source on PYTHONPATH is what an installed distribution looks
    like to `importlib.metadata`, without leaving a broken plugin behind.
    """
    import configparser

    config = configparser.ConfigParser()
    config.read(PLUGIN_DIR / "setup.cfg")
    entries = [line.strip() for line in config["options.entry_points"]["zen_mlmd.flavors"].splitlines()
               if line.strip() and not line.strip().startswith("#")]
    site = tmp_path_factory.mktemp("plugin_site")
    dist_info = site / "zen_mlmd_test_plugin_flavor-0.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PLUGIN_DIST}\nVersion: 0.1.0\n")
    (dist_info / "entry_points.txt").write_text("[zen_mlmd.flavors]\n" + "\n".join(entries) + "\n")
    return os.pathsep.join([str(site), str(PLUGIN_DIR), str(REPO)])


def test_the_installed_plugin_is_found_and_a_broken_entry_warns(plugin_path):
    result = run_python("""
        import json, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from zen_mlmd.flavors import get_flavor, list_flavors
            names = [flavor.name for flavor in list_flavors()]
        memory = get_flavor("memory")
        from zen_mlmd.mlmd.store import MetadataStore
        store = MetadataStore(memory.connection_config(memory.parse_config({})))
        print(json.dumps({"names": names, "warnings": [str(w.message) for w in caught],
                          "integration": memory.integration, "executions": len(store.get_executions())}))
    """, pythonpath=plugin_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["names"] == [*BUILTINS, "memory"]
    assert found["integration"] == PLUGIN_DIST
    assert found["executions"] == 0
    [warning] = found["warnings"]
    assert warning.startswith("skipping metadata-store flavor plugin "
                              "broken = zen_mlmd_test_plugin.missing_module:Flavor "
                              f"(from {PLUGIN_DIST}): cannot be imported: ModuleNotFoundError")
