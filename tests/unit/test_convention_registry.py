"""Conventions come through the same plugin loader as flavors: sorted, broken ones warn, clashes are errors."""
from __future__ import annotations

import pytest

from zen_mlmd.mlmd import convention_registry as registry
from zen_mlmd.mlmd.native import NativeConvention
from zen_mlmd.plugins import FlavorPluginWarning, PluginConflictError, load_flavor_plugins


class FakeEntryPoint:
    def __init__(self, name, target, value=None):
        self.name, self.target, self.dist = name, target, None
        self.value = value or f"fake.module:{getattr(target, '__name__', name)}"

    def load(self):
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


class Mine(NativeConvention):
    name = "mine"


class Other(NativeConvention):
    name = "mine"


def _load(entry_points):
    return load_flavor_plugins(entry_points, kind="convention", builtins=registry._BUILTINS,
                               check_class=registry._convention_class_problem)


@pytest.fixture
def installed(monkeypatch):
    """Replace the installed entry points of `zen_mlmd.conventions` for one test."""
    def install(*entry_points):
        import importlib.metadata

        monkeypatch.setattr(importlib.metadata, "entry_points",
                            lambda group=None: list(entry_points) if group == registry.ENTRY_POINT_GROUP else [])
        registry.reload_conventions()
    yield install
    monkeypatch.undo()
    registry.reload_conventions()


def test_the_installed_adapters_are_found_in_name_order():
    names = [c.name for c in registry.all_conventions()]
    assert names[0] == "native"
    assert names[1:] == sorted(names[1:])
    assert {"kfp", "tfx", "tfx_async", "tfx_legacy"} <= set(names)


def test_a_broken_convention_plugin_warns_and_the_others_load(installed):
    installed(FakeEntryPoint("broken", ImportError("No module named 'gone'")), FakeEntryPoint("mine", Mine))
    with pytest.warns(FlavorPluginWarning, match="broken = .*cannot be imported: ImportError"):
        names = [c.name for c in registry.all_conventions()]
    assert names == ["native", "mine"]


def test_a_class_that_is_no_convention_warns(installed):
    installed(FakeEntryPoint("dict", dict))
    with pytest.warns(FlavorPluginWarning, match="is not a zen_mlmd Convention subclass"):
        assert [c.name for c in registry.all_conventions()] == ["native"]


def test_two_plugins_with_one_name_are_an_error_naming_both(installed):
    installed(FakeEntryPoint("mine", Other, "b.module:Other"), FakeEntryPoint("mine", Mine, "a.module:Mine"))
    with pytest.raises(PluginConflictError) as caught:
        registry.get_convention("mine")
    message = str(caught.value)
    assert "a.module:Mine" in message and "b.module:Other" in message and "Fix:" in message
    with pytest.warns(FlavorPluginWarning, match="registered twice"):
        assert [c.name for c in registry.all_conventions()] == ["native"]


def test_a_plugin_cannot_take_the_native_name(installed):
    shadow = type("Shadow", (NativeConvention,), {"name": "native"})
    installed(FakeEntryPoint("native", shadow))
    with pytest.raises(PluginConflictError, match="the built-in zen_mlmd.mlmd.native:NativeConvention"):
        registry.get_convention("native")


def test_loading_does_not_depend_on_install_order():
    first = _load([FakeEntryPoint("mine", Mine), FakeEntryPoint("zzz", type("Z", (NativeConvention,), {"name": "zzz"}))])
    second = _load(list(reversed([FakeEntryPoint("mine", Mine),
                                  FakeEntryPoint("zzz", type("Z", (NativeConvention,), {"name": "zzz"}))])))
    assert list(first) == list(second) == ["mine", "zzz"]
