"""Loading flavor plugins from entry points: one mechanism for every flavor registry.

Metadata-store flavors (``zen_mlmd.flavors``) and orchestrator flavors
(``zen_mlmd.orchestrators``) come in the same way: each entry point names a
flavor class registered under the flavor's own name. A plugin that cannot be
imported, is not the right kind of class, takes a name already in use or
cannot be instantiated is skipped with a `FlavorPluginWarning` naming the
entry point, its distribution and the reason: a broken plugin never breaks
the CLI. Only the standard library is imported here.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Collection, Iterable


class FlavorPluginWarning(UserWarning):
    """A flavor plugin was skipped; the message names the entry point and why."""


def load_flavor_plugins(
    entry_points: Iterable[Any],
    *,
    kind: str,
    builtins: Collection[str],
    check_class: Callable[[Any], str | None],
) -> dict[str, Any]:
    """Instantiate the flavor classes named by `entry_points`, keyed by flavor name.

    Entry points are read in (name, value) order, so the first of two
    plugins claiming one name wins whatever the install order.

    Args:
        entry_points: `importlib.metadata.EntryPoint`-like objects (`name`,
            `value`, `load()`, optionally `dist`).
        kind: what a plugin provides, for warnings ("orchestrator flavor").
        builtins: names taken by built-in flavors; a plugin cannot shadow them.
        check_class: returns why a loaded object is not a usable flavor class
            (e.g. "the class has no config_class"), or None when it is.

    Returns:
        Flavor name -> flavor instance; broken plugins are left out, each
        with one `FlavorPluginWarning`.
    """
    found: dict[str, Any] = {}
    taken_by: dict[str, str] = {}
    for entry_point in sorted(entry_points, key=lambda ep: (ep.name, ep.value)):
        try:
            flavor_class = entry_point.load()
        except Exception as exc:  # plugin code may raise anything while importing
            _skip(kind, entry_point, f"cannot be imported: {type(exc).__name__}: {exc}")
            continue
        problem = check_class(flavor_class)
        if problem:
            _skip(kind, entry_point, problem)
            continue
        name = getattr(flavor_class, "name", None)
        if name != entry_point.name:
            _skip(kind, entry_point, f"the class's flavor name is {name!r}: register it under that name")
        elif name in builtins:
            _skip(kind, entry_point, f"the name {name!r} is taken by the built-in flavor")
        elif name in found:
            _skip(kind, entry_point, f"the name {name!r} is taken by the plugin {taken_by[name]}")
        else:
            try:
                found[name] = flavor_class()
            except Exception as exc:  # an abstract method left out, a failing __init__
                _skip(kind, entry_point, f"cannot be instantiated: {type(exc).__name__}: {exc}")
                continue
            taken_by[name] = entry_point.value
    return found


def _skip(kind: str, entry_point: Any, reason: str) -> None:
    dist = getattr(entry_point, "dist", None)
    source = f" (from {dist.name})" if dist is not None and getattr(dist, "name", None) else ""
    warnings.warn(
        f"skipping {kind} plugin {entry_point.name} = {entry_point.value}{source}: {reason}",
        FlavorPluginWarning, stacklevel=6,
    )
