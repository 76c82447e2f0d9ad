"""The materializer registry: lookups, user registrations, and plugins (entry points).

How a materializer is chosen for an object (by type, by type name, in order
until one can save it), what registering refuses, and how entry-point plugins
load, clash and warn. Writing and reading whole artifacts is tested in
test_materializers_integrity.
"""
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest

from materializer_helpers import roundtrip, store_fixture  # noqa: F401 (fixture `store`)
from zen_mlmd.artifacts import (
    ArtifactKind,
    Materializer,
    MaterializerRegistry,
    data_type_of,
    get_materializer,
    register_materializer,
)
from zen_mlmd.artifacts import json_values
from zen_mlmd.errors import ConfigError, UnknownNameError
from zen_mlmd.plugins import FlavorPluginWarning, PluginConflictError


# --- registry --------------------------------------------------------------

def test_unknown_materializer_name_says_how_to_list_the_registered_ones():
    from zen_mlmd.artifacts.registry import default_registry

    with pytest.raises(UnknownNameError) as caught:
        get_materializer("no.such.thing")
    assert str(caught.value).endswith(
        "Fix: install the package that registers it (a plugin); "
        "`zen_mlmd.artifacts.registry.default_registry.names()` lists the registered ones")
    for name in ("builtins.json", "builtins.str", "numpy.ndarray", "numpy.npz", "pandas.DataFrame", "pickle"):
        assert name in default_registry.names()
    with pytest.raises(UnknownNameError, match="did you mean 'builtins.json'"):
        get_materializer("builtins.jsn")


class Tagged(dict):
    """A dict subclass a user wants written their own way."""


class TaggedMaterializer(Materializer):
    name = "tests.tagged"
    default_kind = ArtifactKind.STATISTICS

    def save(self, obj, uri, store):
        with store.open(f"{uri}/tagged.json", "w") as f:
            f.write(json_values.dumps(dict(obj)))

    def load(self, uri, store, data_type):
        with store.open(f"{uri}/tagged.json", "r") as f:
            return Tagged(json_values.loads(f.read()))


def test_custom_materializer_overrides_builtin_for_a_subclass():
    registry = MaterializerRegistry(entry_point_group=None)
    # JSON would read a dict subclass back as a plain dict, so pickle it is...
    assert registry.materializer_for(Tagged(a=1)).name == "pickle"
    registry.register(TaggedMaterializer, for_types=(Tagged,))
    assert registry.materializer_for(Tagged(a=1)).name == "tests.tagged"
    assert registry.materializer_for({"a": 1}).name == "builtins.json"
    assert registry.get("tests.tagged").name == "tests.tagged"


def test_custom_materializer_overrides_builtin_for_the_same_type_by_name_string():
    class MyDictMaterializer(TaggedMaterializer):
        name = "tests.my_dict"

    registry = MaterializerRegistry(entry_point_group=None)
    registry.register(MyDictMaterializer, for_types=("builtins.dict",))
    assert registry.materializer_for({"a": 1}).name == "tests.my_dict"
    assert registry.materializer_for(Tagged()).name == "tests.my_dict"  # via the MRO
    assert registry.materializer_for([1]).name == "builtins.json"


def test_several_materializers_for_one_type_are_tried_in_order_until_one_can_save():
    class SmallDictMaterializer(TaggedMaterializer):
        name = "tests.small_dict"

        def can_save(self, obj):
            return len(obj) == 1

    registry = MaterializerRegistry(entry_point_group=None)
    arrays, numbers, sets = {"X": np.zeros(2), "y": np.ones(2)}, {"a": 1, "b": 2}, {"a": {1}, "b": {2}}
    # built-ins in their listed order: JSON, then .npz, then (via `object`) pickle
    assert [registry.materializer_for(v).name for v in (numbers, arrays, sets)] == [
        "builtins.json", "numpy.npz", "pickle"]
    registry.register(SmallDictMaterializer, for_types=(dict,))
    assert registry.materializer_for({"a": 1}).name == "tests.small_dict"  # the user's first
    assert [registry.materializer_for(v).name for v in (numbers, arrays, sets)] == [
        "builtins.json", "numpy.npz", "pickle"]  # what it cannot save still finds its built-in
    registry.register(SmallDictMaterializer, for_types=(dict,))  # registering again adds nothing
    assert registry._by_type["custom"]["builtins.dict"] == (SmallDictMaterializer,)


def test_globally_registered_materializer_writes_and_reads(store):
    register_materializer(TaggedMaterializer, for_types=(Tagged,))
    written, back = roundtrip(Tagged(x=(1, 2)), store)
    assert written.materializer == "tests.tagged"
    assert written.kind is ArtifactKind.STATISTICS
    assert back == Tagged(x=(1, 2)) and type(back) is Tagged


def test_registering_a_taken_name_or_a_bad_class_is_refused():
    class StealsJSON(TaggedMaterializer):
        name = "builtins.json"

    registry = MaterializerRegistry(entry_point_group=None)
    with pytest.raises(ConfigError, match="already the name"):
        registry.register(StealsJSON, for_types=(Tagged,))
    with pytest.raises(ConfigError, match="concrete Materializer"):
        registry.register(Materializer, for_types=(Tagged,))
    with pytest.raises(ConfigError, match="no types"):
        registry.register(TaggedMaterializer)
    with pytest.raises(ConfigError, match="module.QualName"):
        registry.register(TaggedMaterializer, for_types=("Tagged",))


def test_types_are_matched_by_name_without_importing_them():
    registry = MaterializerRegistry(entry_point_group=None)
    registry.register(TaggedMaterializer, for_types=(f"{__name__}.Tagged",))
    assert registry.materializer_for(Tagged()).name == "tests.tagged"


def test_entry_point_plugins_load_lazily_and_broken_ones_warn(tmp_path, monkeypatch):
    (tmp_path / "good_plugin.py").write_text(textwrap.dedent("""
        from zen_mlmd.artifacts import Materializer

        class Point:
            pass

        class PointMaterializer(Materializer):
            name = "plugin.point"
            for_types = ("good_plugin.Point",)

            def save(self, obj, uri, store):
                pass

            def load(self, uri, store, data_type):
                return Point()
    """))
    dist_info = tmp_path / "zen_mlmd_test_plugins-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: zen-mlmd-test-plugins\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[zen_mlmd.test_materializers]\n"
        "good = good_plugin:PointMaterializer\n"
        "broken = no_such_module_anywhere:Thing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = MaterializerRegistry(entry_point_group="zen_mlmd.test_materializers")
    import good_plugin

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert registry.materializer_for(good_plugin.Point()).name == "plugin.point"
    messages = [str(w.message) for w in caught if w.category is FlavorPluginWarning]
    assert any("broken = no_such_module_anywhere:Thing (from zen-mlmd-test-plugins)" in m
               for m in messages), messages
    assert "plugin.point" in registry.names()


def test_data_type_of():
    assert data_type_of({}) == "builtins.dict"
    assert data_type_of(np.zeros(1)) == "numpy.ndarray"
    assert data_type_of(pd.DataFrame()) == f"{pd.DataFrame.__module__}.DataFrame"
    assert data_type_of(Tagged()) == f"{__name__}.Tagged"


# --- plugins through the one plugin loader (zen_mlmd.plugins) ----------------

class _EntryPoint:
    """An installed entry point of `zen_mlmd.materializers`, as importlib.metadata gives it."""

    def __init__(self, name, target, value):
        self.name, self.target, self.value, self.dist = name, target, value, None

    def load(self):
        return self.target


class Point:
    pass


def _point_materializer(name, cls_name):
    return type(cls_name, (TaggedMaterializer,), {"name": name, "for_types": (f"{__name__}.Point",),
                                                   "__module__": f"plugin_{cls_name.lower()}"})


@pytest.fixture
def installed(monkeypatch):
    """A registry whose plugins are the given entry points, in the given install order."""
    def install(*entry_points):
        import importlib.metadata

        monkeypatch.setattr(importlib.metadata, "entry_points",
                            lambda group=None: list(entry_points) if group == "zen_mlmd.materializers" else [])
        return MaterializerRegistry()
    return install


def test_plugins_load_in_name_order_whatever_the_install_order(installed):
    first = _point_materializer("plugin.first", "First")
    second = _point_materializer("plugin.second", "Second")
    entry_points = [_EntryPoint("a", first, "plugin_first:First"), _EntryPoint("b", second, "plugin_second:Second")]
    outcomes = []
    for order in (entry_points, entry_points[::-1]):
        registry = installed(*order)
        with pytest.raises(PluginConflictError) as caught:  # both claim Point: never "the last one wins"
            registry.materializer_for(Point())
        with pytest.warns(FlavorPluginWarning):
            outcomes.append((str(caught.value), registry.names()))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0].index("plugin_first:First") < outcomes[0][0].index("plugin_second:Second")


def test_one_class_under_two_entry_points_is_no_clash(installed):
    first = _point_materializer("plugin.first", "First")
    registry = installed(_EntryPoint("z", first, "plugin_first:First"), _EntryPoint("a", first, "plugin_first:First"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert registry.materializer_for(Point()).name == "plugin.first"
        assert "plugin.first" in registry.names()


def test_two_plugins_claiming_one_type_raise_when_that_type_is_written(installed):
    registry = installed(_EntryPoint("two", _point_materializer("plugin.two", "Two"), "plugin_two:Two"),
                         _EntryPoint("one", _point_materializer("plugin.one", "One"), "plugin_one:One"))
    with pytest.raises(PluginConflictError) as caught:
        registry.materializer_for(Point())
    message = str(caught.value)
    assert f"{__name__}.Point" in message and "plugin_one:One" in message and "plugin_two:Two" in message
    assert "Fix:" in message and "register_materializer" in message
    # each plugin still reads the artifacts it wrote, other types are untouched
    assert registry.get("plugin.one").name == "plugin.one" and registry.get("plugin.two").name == "plugin.two"
    assert registry.materializer_for({"a": 1}).name == "builtins.json"
    with pytest.warns(FlavorPluginWarning, match="Point.*registered twice"):
        assert {"plugin.one", "plugin.two"} <= set(registry.names())
    # the user's choice wins over both plugins
    registry.register(_point_materializer("mine.point", "Mine"), for_types=(Point,))
    assert registry.materializer_for(Point()).name == "mine.point"


def test_two_plugins_with_one_name_or_a_builtin_name_raise_when_that_name_is_used(installed):
    steals_json = type("StealsJSON", (TaggedMaterializer,), {"name": "builtins.json", "for_types": ("x.Y",)})
    registry = installed(_EntryPoint("a", _point_materializer("plugin.same", "A"), "plugin_a:A"),
                         _EntryPoint("b", _point_materializer("plugin.same", "B"), "plugin_b:B"),
                         _EntryPoint("json", steals_json, "plugin_json:StealsJSON"))
    with pytest.raises(PluginConflictError, match="plugin_a:A.*plugin_b:B"):
        registry.get("plugin.same")
    with pytest.raises(PluginConflictError, match="JSONMaterializer.*plugin_json:StealsJSON.*Fix:"):
        registry.get("builtins.json")
    with pytest.raises(PluginConflictError, match="builtins.json"):
        registry.materializer_for({"a": 1})  # writing with it would store an ambiguous name
    assert registry.materializer_for("text").name == "builtins.str"
    with pytest.warns(FlavorPluginWarning, match="registered twice"):
        names = registry.names()
    assert "plugin.same" not in names and "builtins.json" not in names and "builtins.str" in names


def test_a_broken_plugin_warns_like_every_other_plugin(installed):
    registry = installed(_EntryPoint("abstract", Materializer, "zen_mlmd.artifacts:Materializer"),
                         _EntryPoint("good", _point_materializer("plugin.good", "Good"), "plugin_good:Good"))
    with pytest.warns(FlavorPluginWarning, match="abstract = zen_mlmd.artifacts:Materializer.*not a concrete"):
        assert registry.materializer_for(Point()).name == "plugin.good"
