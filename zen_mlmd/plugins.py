"""Loading plugins from entry points: one mechanism for every registry.

Metadata-store flavors (``zen_mlmd.flavors``), orchestrator flavors
(``zen_mlmd.orchestrators``), MLMD conventions (``zen_mlmd.conventions``) and
materializers (``zen_mlmd.materializers``) come in the same way: each entry
point names a class registered under the class's own `name` (materializers
also under each type they handle), read in (name, value) order whatever the
install order.

* A plugin that cannot be imported, is not the right kind of class or cannot
  be instantiated is skipped with a `FlavorPluginWarning` naming the entry
  point, its distribution and the reason: a broken plugin never breaks the CLI.
* Two plugins with one name (or one materializer type), or a plugin with a
  built-in's name, are a conflict: which one was meant cannot be guessed, so asking for that name
  raises `PluginConflictError` naming both sources and the fix, and listings
  leave it out with a warning. Other names keep working.

Only the standard library is imported here.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Collection, Iterable


class FlavorPluginWarning(UserWarning):
    """A plugin was skipped; the message names the entry point and why."""


class PluginConflict:
    """A name claimed twice: kept in a registry in place of a plugin (see `PluginConflictError`)."""

    def __init__(self, kind: str, name: str, sources: list[str], fix: str | None = None):
        self.kind, self.name, self.sources, self.fix = kind, name, sources, fix

    def error(self) -> "PluginConflictError":
        return PluginConflictError(self)

    def warn(self) -> None:
        warnings.warn(f"{self.error()}", FlavorPluginWarning, stacklevel=3)


class PluginConflictError(Exception):
    """Two plugins (or a plugin and a built-in) register the same name."""

    def __init__(self, conflict: PluginConflict):
        self.conflict = conflict
        sources = " and ".join(conflict.sources)
        fix = conflict.fix or ("uninstall one of them (pip uninstall ...), or rename the plugin's "
                               "entry point and its class's name")
        super().__init__(f"{conflict.kind} {conflict.name!r} is registered twice: by {sources}. Fix: {fix}")


def resolve(found: dict[str, Any], name: str) -> Any:
    """`found[name]`, raising `PluginConflictError` if the name is claimed twice (KeyError if absent)."""
    value = found[name]
    if isinstance(value, PluginConflict):
        raise value.error()
    return value


def usable(found: dict[str, Any]) -> dict[str, Any]:
    """The entries of `found` without conflicts; each conflict warns once per call."""
    out = {}
    for name, value in found.items():
        if isinstance(value, PluginConflict):
            value.warn()
        else:
            out[name] = value
    return out


def load_flavor_plugins(
    entry_points: Iterable[Any],
    *,
    kind: str,
    builtins: Collection[str],
    check_class: Callable[[Any], str | None],
) -> dict[str, Any]:
    """Instantiate the flavor classes named by `entry_points`, keyed by flavor name.

    Entry points are read in (name, value) order, so loading does not
    depend on the install order.

    Args:
        entry_points: `importlib.metadata.EntryPoint`-like objects (`name`,
            `value`, `load()`, optionally `dist`).
        kind: what a plugin provides, for warnings ("orchestrator flavor").
        builtins: names taken by built-ins (name -> where it is defined); a
            plugin claiming one is a conflict.
        check_class: returns why a loaded object is not a usable flavor class
            (e.g. "the class has no config_class"), or None when it is.

    Returns:
        Name -> instance; broken plugins are left out, each with one
        `FlavorPluginWarning`; a name claimed twice maps to a `PluginConflict`
        (look names up with `resolve`, list them with `usable`).
    """
    builtin_sources = {
        name: f"the built-in {builtins[name] if isinstance(builtins, dict) else name}" for name in builtins}
    claims = PluginClaims(kind, builtin_sources)
    for entry_point, source, flavor_class in load_plugin_classes(
            entry_points, kind=kind, check_class=check_class):
        name = getattr(flavor_class, "name", None)
        if name != entry_point.name:
            _skip(kind, entry_point, f"the class's flavor name is {name!r}: register it under that name")
        elif claims.taken(name):
            claims.claim(name, None, source)
        else:
            try:
                instance = flavor_class()
            except Exception as exc:  # an abstract method left out, a failing __init__
                _skip(kind, entry_point, f"cannot be instantiated: {type(exc).__name__}: {exc}")
                continue
            claims.claim(name, instance, source)
    return claims.found


def load_plugin_classes(
    entry_points: Iterable[Any], *, kind: str, check_class: Callable[[Any], str | None],
) -> list[tuple[Any, str, Any]]:
    """Load the objects `entry_points` name, in (name, value) order whatever the install order.

    Args:
        entry_points: `importlib.metadata.EntryPoint`-like objects.
        kind: what a plugin provides, for warnings ("materializer").
        check_class: returns why a loaded object is unusable, or None.

    Returns:
        (entry point, source, loaded object) for each usable plugin; `source`
        names the entry point and its distribution for conflict messages.
        Each broken plugin is left out with one `FlavorPluginWarning`.
    """
    loaded = []
    for entry_point in sorted(entry_points, key=lambda ep: (ep.name, ep.value)):
        try:
            plugin = entry_point.load()
        except Exception as exc:  # plugin code may raise anything while importing
            _skip(kind, entry_point, f"cannot be imported: {type(exc).__name__}: {exc}")
            continue
        problem = check_class(plugin)
        if problem:
            _skip(kind, entry_point, problem)
            continue
        loaded.append((entry_point, _source(entry_point), plugin))
    return loaded


class PluginClaims:
    """Names claimed by plugins: a second claim on a name turns it into a `PluginConflict`.

    Args:
        kind: what the names name, for messages ("materializer").
        taken: names already taken (by built-ins) -> their source, e.g.
            "the built-in zen_mlmd.mlmd.native:NativeConvention".
        fix: the fix a conflict message gives, if not the default one.
    """

    def __init__(self, kind: str, taken: dict[str, str] | None = None, fix: str | None = None):
        self.kind, self.fix = kind, fix
        self.found: dict[str, Any] = {}
        self._sources: dict[str, str] = dict(taken or {})

    def taken(self, name: str) -> bool:
        """Whether `name` is claimed already (by a built-in or a plugin)."""
        return name in self._sources

    def claim(self, name: str, value: Any, source: str) -> None:
        """Give `name` to `value`, or record a conflict if `name` is taken."""
        if name not in self._sources:
            self.found[name] = value
            self._sources[name] = source
            return
        previous = self.found.get(name)
        sources = previous.sources if isinstance(previous, PluginConflict) else [self._sources[name]]
        self.found[name] = PluginConflict(self.kind, name, [*sources, source], self.fix)


def _source(entry_point: Any) -> str:
    dist = getattr(entry_point, "dist", None)
    origin = f" (from {dist.name})" if dist is not None and getattr(dist, "name", None) else ""
    return f"the plugin {entry_point.name} = {entry_point.value}{origin}"


def _skip(kind: str, entry_point: Any, reason: str) -> None:
    dist = getattr(entry_point, "dist", None)
    source = f" (from {dist.name})" if dist is not None and getattr(dist, "name", None) else ""
    warnings.warn(
        f"skipping {kind} plugin {entry_point.name} = {entry_point.value}{source}: {reason}",
        FlavorPluginWarning, stacklevel=6,
    )
