"""Where metadata-store flavors come from: the built-ins, then plugins.

Built-in flavors are listed here by module path and imported on first use,
so asking for `sqlite` never imports the MySQL code. Third-party flavors are
`MetadataStoreFlavor` subclasses registered in the entry-point group
``zen_mlmd.flavors`` under the flavor's name::

    [options.entry_points]
    zen_mlmd.flavors =
        memory = my_package.flavor:MemoryFlavor

A plugin that cannot be imported, is not a flavor, or takes a name already
in use is skipped with a `FlavorPluginWarning` naming the entry point and the
reason: a broken plugin never breaks the CLI.
"""
from __future__ import annotations

import importlib
import warnings
from importlib import metadata

from zen_mlmd.errors import UnknownNameError
from zen_mlmd.flavors.base import MetadataStoreFlavor

ENTRY_POINT_GROUP = "zen_mlmd.flavors"

_BUILTINS = {
    "sqlite": "zen_mlmd.flavors.sqlite:SQLiteFlavor",
    "mysql": "zen_mlmd.flavors.mysql:MySQLFlavor",
    "postgresql": "zen_mlmd.flavors.postgresql:PostgreSQLFlavor",
    "kubeflow": "zen_mlmd.flavors.kubeflow:KubeflowFlavor",
}

_builtin_flavors: dict[str, MetadataStoreFlavor] = {}
_plugin_flavors: dict[str, MetadataStoreFlavor] | None = None


class FlavorPluginWarning(UserWarning):
    """A flavor plugin was skipped; the message names the entry point and why."""


def get_flavor(name: str) -> MetadataStoreFlavor:
    """The flavor called `name`.

    Raises:
        UnknownNameError: no built-in or plugin flavor has that name; the
            message lists the valid ones.
    """
    if name in _BUILTINS:
        return _builtin(name)
    plugins = _plugins()
    if name in plugins:
        return plugins[name]
    raise UnknownNameError("metadata-store flavor", name, [*_BUILTINS, *plugins])


def list_flavors() -> list[MetadataStoreFlavor]:
    """Every flavor: the built-ins (sqlite, mysql, postgresql, kubeflow), then plugins by name."""
    return [_builtin(name) for name in _BUILTINS] + list(_plugins().values())


def reload_plugins() -> None:
    """Forget the plugins found so far; the next lookup reads the entry points again."""
    global _plugin_flavors
    _plugin_flavors = None


def _builtin(name: str) -> MetadataStoreFlavor:
    flavor = _builtin_flavors.get(name)
    if flavor is None:
        module_name, _, class_name = _BUILTINS[name].partition(":")
        flavor = getattr(importlib.import_module(module_name), class_name)()
        _builtin_flavors[name] = flavor
    return flavor


def _plugins() -> dict[str, MetadataStoreFlavor]:
    global _plugin_flavors
    if _plugin_flavors is None:
        _plugin_flavors = load_plugins(metadata.entry_points(group=ENTRY_POINT_GROUP))
    return _plugin_flavors


def load_plugins(entry_points) -> dict[str, MetadataStoreFlavor]:
    """Flavors from `entry_points`, by name; each broken one warns and is skipped."""
    found: dict[str, MetadataStoreFlavor] = {}
    taken_by: dict[str, str] = {}
    for entry_point in sorted(entry_points, key=lambda ep: (ep.name, ep.value)):
        try:
            flavor_class = entry_point.load()
        except Exception as exc:  # plugin code may raise anything while importing
            _skip(entry_point, f"cannot be imported: {type(exc).__name__}: {exc}")
            continue
        if not (isinstance(flavor_class, type) and issubclass(flavor_class, MetadataStoreFlavor)):
            _skip(entry_point, f"{entry_point.value} is not a MetadataStoreFlavor subclass")
            continue
        name = getattr(flavor_class, "name", None)
        if name != entry_point.name:
            _skip(entry_point, f"the class's flavor name is {name!r}: register it under that name")
            continue
        if name in _BUILTINS:
            _skip(entry_point, f"the name {name!r} is taken by the built-in flavor")
            continue
        if name in found:
            _skip(entry_point, f"the name {name!r} is taken by the plugin {taken_by[name]}")
            continue
        if not hasattr(flavor_class, "config_class"):
            _skip(entry_point, "the class has no config_class")
            continue
        try:
            found[name] = flavor_class()
        except Exception as exc:  # an abstract method left out, a failing __init__
            _skip(entry_point, f"cannot be instantiated: {type(exc).__name__}: {exc}")
            continue
        taken_by[name] = entry_point.value
    return found


def _skip(entry_point, reason: str) -> None:
    dist = getattr(entry_point, "dist", None)
    source = f" (from {dist.name})" if dist is not None and getattr(dist, "name", None) else ""
    warnings.warn(
        f"skipping metadata-store flavor plugin {entry_point.name} = {entry_point.value}{source}: {reason}",
        FlavorPluginWarning, stacklevel=5,
    )
