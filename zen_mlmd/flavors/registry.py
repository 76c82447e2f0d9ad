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
reason: a broken plugin never breaks the CLI (`zen_mlmd.plugins`, shared with
the orchestrator flavors).
"""
from __future__ import annotations

import importlib
from importlib import metadata

from zen_mlmd.errors import UnknownNameError
from zen_mlmd.flavors.base import MetadataStoreFlavor
from zen_mlmd.plugins import FlavorPluginWarning, load_flavor_plugins, resolve, usable

__all__ = ["ENTRY_POINT_GROUP", "FlavorPluginWarning", "get_flavor", "list_flavors",
           "load_plugins", "reload_plugins"]

ENTRY_POINT_GROUP = "zen_mlmd.flavors"

_BUILTINS = {
    "sqlite": "zen_mlmd.flavors.sqlite:SQLiteFlavor",
    "mysql": "zen_mlmd.flavors.mysql:MySQLFlavor",
    "postgresql": "zen_mlmd.flavors.postgresql:PostgreSQLFlavor",
    "kubeflow": "zen_mlmd.flavors.kubeflow:KubeflowFlavor",
}

_builtin_flavors: dict[str, MetadataStoreFlavor] = {}
_plugin_flavors: dict[str, MetadataStoreFlavor] | None = None


def get_flavor(name: str) -> MetadataStoreFlavor:
    """The flavor called `name`.

    Raises:
        UnknownNameError: no built-in or plugin flavor has that name; the
            message lists the valid ones.
    """
    plugins = _plugins()
    if name in plugins:  # a plugin with a built-in's name is a conflict: resolve raises
        return resolve(plugins, name)
    if name in _BUILTINS:
        return _builtin(name)
    raise UnknownNameError("metadata-store flavor", name, [*_BUILTINS, *plugins])


def list_flavors() -> list[MetadataStoreFlavor]:
    """Every flavor: the built-ins (sqlite, mysql, postgresql, kubeflow), then plugins by name."""
    return [_builtin(name) for name in _BUILTINS] + list(usable(_plugins()).values())


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
    return load_flavor_plugins(entry_points, kind="metadata-store flavor", builtins=_BUILTINS,
                               check_class=_flavor_class_problem)


def _flavor_class_problem(loaded) -> str | None:
    if not (isinstance(loaded, type) and issubclass(loaded, MetadataStoreFlavor)):
        return f"{loaded!r} is not a MetadataStoreFlavor subclass"
    if not hasattr(loaded, "config_class"):
        return "the class has no config_class"
    return None
