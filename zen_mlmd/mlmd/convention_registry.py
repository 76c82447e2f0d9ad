"""The registry of conventions: native, and those plugins register by entry point.

Adapters register theirs under the entry-point group `zen_mlmd.conventions`
(`zen_mlmd.plugins` loads them, as it does flavors and materializers).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from zen_mlmd.errors import UnknownNameError
from zen_mlmd.mlmd.convention import Convention

ENTRY_POINT_GROUP = "zen_mlmd.conventions"
_BUILTINS = {"native": "zen_mlmd.mlmd.native:NativeConvention"}


@lru_cache(maxsize=None)
def _registry() -> dict[str, Any]:
    """Native, then the plugins of `zen_mlmd.conventions` by name (`zen_mlmd.plugins`)."""
    from importlib.metadata import entry_points

    from zen_mlmd.mlmd.native import NativeConvention
    from zen_mlmd.plugins import load_flavor_plugins

    plugins = load_flavor_plugins(
        entry_points(group=ENTRY_POINT_GROUP), kind="convention", builtins=_BUILTINS,
        check_class=_convention_class_problem)
    return {NativeConvention.name: NativeConvention(), **plugins}


def _convention_class_problem(loaded) -> str | None:
    if not (isinstance(loaded, type) and issubclass(loaded, Convention)):
        return f"{loaded!r} is not a zen_mlmd Convention subclass"
    return None


def reload_conventions() -> None:
    """Forget the conventions found so far; the next lookup reads the entry points again."""
    _registry.cache_clear()


def get_convention(name: str = "native") -> Convention:
    """A registered convention by name (native, kfp, tfx, ...).

    Raises:
        UnknownNameError: no convention has that name; the message lists them.
        PluginConflictError: two installed plugins register that name.
    """
    from zen_mlmd.plugins import resolve

    conventions = _registry()
    if name not in conventions:
        raise UnknownNameError("convention", name, conventions)
    return resolve(conventions, name)


def writer_of(convention_name: str) -> str:
    """Who writes runs in the convention `convention_name` ("TFX"); the name if unknown."""
    try:
        return get_convention(convention_name).writer_label or convention_name
    except Exception:  # an unknown or clashing plugin: its name is all we can say
        return convention_name


def all_conventions() -> list[Convention]:
    """Every registered convention, native first, then plugins by name.

    A name registered by two plugins is left out with a warning: its runs
    are not read until one of the plugins is removed.
    """
    from zen_mlmd.plugins import usable

    return list(usable(_registry()).values())
