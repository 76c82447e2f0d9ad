"""The one materializer registry: Python type -> materializer, name -> materializer.

Types are matched by ``"module.QualName"`` strings, so that numpy and pandas
materializers are registered without importing numpy or pandas. For an
object, the classes of its MRO are tried from the most specific; at each
class, materializers registered by the user win over plugins, which win over
built-ins; within a layer the latest registration for a type comes first
(built-ins in `BUILTIN_MATERIALIZERS` order), and a candidate that answers
`can_save(obj)` False is passed over for the next one (so a dict of arrays
goes past JSON to ``.npz``, and a dict of sets on to pickle).
`object` maps to the pickle fallback.

Plugins register through the entry-point group ``zen_mlmd.materializers``,
loaded by the one plugin loader (`zen_mlmd.plugins`): each entry point names
a `Materializer` subclass whose `for_types` lists the types it handles.
Plugins load on the first lookup, in entry-point name order whatever the
install order; a broken one warns and is skipped. Two plugins with one
materializer name (or a plugin with a built-in's name), or two plugins
claiming one type, are a conflict: using that name or type raises
`PluginConflictError` naming both plugins, and `names()` warns about it.
"""
from __future__ import annotations

import threading
from typing import Iterable, Optional, Union

from zen_mlmd.artifacts.materializers import (
    BytesMaterializer,
    JSONMaterializer,
    Materializer,
    PickleMaterializer,
    TextMaterializer,
    type_names_of,
)
from zen_mlmd.artifacts.materializers_ml import (
    NumpyArchiveMaterializer,
    NumpyMaterializer,
    PandasDataFrameMaterializer,
    PandasSeriesMaterializer,
    SklearnSkopsMaterializer,
)
from zen_mlmd.errors import ConfigError, MaterializerError, UnknownNameError
from zen_mlmd.plugins import PluginConflict, resolve

ENTRY_POINT_GROUP = "zen_mlmd.materializers"
BUILTIN_MATERIALIZERS = (
    JSONMaterializer,
    TextMaterializer,
    BytesMaterializer,
    NumpyMaterializer,
    NumpyArchiveMaterializer,
    PandasDataFrameMaterializer,
    PandasSeriesMaterializer,
    SklearnSkopsMaterializer,
    PickleMaterializer,
)
_CUSTOM, _PLUGIN, _BUILTIN = "custom", "plugin", "builtin"

TypeSpec = Union[type, str]


def data_type_of(obj: object) -> str:
    """The ``module.QualName`` of the type of `obj`, e.g. ``"builtins.dict"``."""
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def _type_name(spec: TypeSpec) -> str:
    if isinstance(spec, type):
        return f"{spec.__module__}.{spec.__qualname__}"
    if isinstance(spec, str) and "." in spec.strip(".") and not spec.startswith(" "):
        return spec
    raise ConfigError(
        "for_types", spec, "is neither a type nor a 'module.QualName' string",
        "pass the class itself or its full name such as 'pandas.core.frame.DataFrame'",
    )


#: How many object types the registry remembers the candidates of.
_CANDIDATE_TYPES_KEPT = 1024


class MaterializerRegistry:
    """Maps types to materializers and materializer names to materializers.

    Args:
        builtins: the built-in materializer classes, registered by their `for_types`.
        entry_point_group: the plugin group to load on first lookup, or None for none.
    """

    def __init__(
        self,
        builtins: Iterable[type[Materializer]] = BUILTIN_MATERIALIZERS,
        entry_point_group: Optional[str] = ENTRY_POINT_GROUP,
    ):
        # layer -> type name -> candidates, tried in order
        self._by_type: dict[str, dict[str, tuple[type[Materializer], ...]]] = {
            _CUSTOM: {}, _PLUGIN: {}, _BUILTIN: {}}
        self._by_name: dict[str, type[Materializer]] = {}
        self._instances: dict[type[Materializer], Materializer] = {}
        # type of an object -> the candidates of its type and bases, in order (rebuilt after a registration)
        self._candidates: dict[type, tuple[type[Materializer], ...]] = {}
        self._lock = threading.RLock()
        self._entry_point_group = entry_point_group
        self._plugins_loaded = entry_point_group is None
        self._loading_plugins = False
        for cls in reversed(tuple(builtins)):  # each goes first: the first listed is tried first
            self._register(cls, (), _BUILTIN)

    def register(self, materializer_cls: type[Materializer],
                 for_types: Iterable[TypeSpec] = ()) -> None:
        """Registers a materializer for types; it comes before built-ins, plugins and
        earlier registrations for them (which still take what it cannot save).

        Args:
            materializer_cls: a concrete `Materializer` subclass with a unique `name`.
            for_types: types or ``"module.QualName"`` strings; defaults to the
                class's `for_types`.

        Raises:
            ConfigError: not a concrete Materializer, no types, or its `name`
                is already taken by another materializer.
        """
        self._register(materializer_cls, for_types, _CUSTOM)

    def materializer_for(self, obj: object) -> Materializer:
        """The materializer that writes `obj`: most specific type first, pickle last."""
        self._load_plugins()
        candidates = self._candidates.get(type(obj))
        if candidates is None:
            candidates = self._candidates_for(obj)
        for cls in candidates:
            materializer = self._instance(self._resolve(cls))
            if materializer.can_save(obj):
                return materializer
        raise MaterializerError(
            f"no materializer can write an object of type {data_type_of(obj)}. Fix: register "
            "one with `zen_mlmd.artifacts.register_materializer(MyMaterializer, "
            f"for_types=({type(obj).__name__},))`"
        )

    def _candidates_for(self, obj: object) -> tuple[type[Materializer], ...]:
        """The materializers registered for the type of `obj` and its bases, most specific first.

        Kept under the lock: a registration (which clears what is kept) cannot
        come between reading the registrations and keeping the result.
        """
        with self._lock:
            candidates = tuple(dict.fromkeys(
                cls
                for type_name in type_names_of(obj)
                for layer in (_CUSTOM, _PLUGIN, _BUILTIN)
                for cls in self._by_type[layer].get(type_name, ())))
            if len(self._candidates) >= _CANDIDATE_TYPES_KEPT:  # types made on the fly must not pile up
                self._candidates.clear()
            self._candidates[type(obj)] = candidates
        return candidates

    def get(self, name: str) -> Materializer:
        """The materializer called `name` (the name stored with an artifact).

        Raises:
            UnknownNameError: no such materializer; the message names close
                ones and says how to list them all.
        """
        self._load_plugins()
        cls = self._by_name.get(name)
        if cls is None:
            raise UnknownNameError(
                "materializer", name, self._by_name,
                fix="install the package that registers it (a plugin); "
                    "`zen_mlmd.artifacts.registry.default_registry.names()` lists the registered ones")
        return self._instance(self._resolve(cls))

    def names(self) -> list[str]:
        """The names of all registered materializers, sorted."""
        self._load_plugins()
        from zen_mlmd.plugins import usable

        usable({t: found[0] for t, found in self._by_type[_PLUGIN].items()})  # warns about clashes
        return sorted(usable(self._by_name))

    def _register(self, cls: type[Materializer], for_types: Iterable[TypeSpec],
                  layer: str) -> None:
        concrete = (isinstance(cls, type) and issubclass(cls, Materializer)
                    and not getattr(cls, "__abstractmethods__", None))
        if not concrete:
            raise ConfigError(
                "materializer", cls, "is not a concrete Materializer subclass",
                "subclass zen_mlmd.artifacts.Materializer and implement save() and load()",
            )
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"{cls.__qualname__}.name", name, "must be a non-empty string",
                "set a stable class attribute such as name = 'mylib.MyType'",
            )
        type_names = [_type_name(spec) for spec in (tuple(for_types) or cls.for_types)]
        if not type_names:
            raise ConfigError(
                f"{cls.__qualname__}.for_types", (), "no types to register for",
                "pass for_types=(MyType,) or set the class attribute for_types",
            )
        with self._lock:
            taken = self._by_name.get(name)
            if taken is not None and _qualified(taken) != _qualified(cls):
                raise ConfigError(
                    f"{cls.__qualname__}.name", name,
                    f"is already the name of materializer {_qualified(taken)}",
                    "give the new materializer its own name (artifacts store it, so "
                    "it must stay the same once used)",
                )
            self._by_name[name] = cls
            self._instances.pop(taken, None)
            self._candidates.clear()
            for type_name in type_names:
                others = self._by_type[layer].get(type_name, ())
                # a new tuple, not a changed one: a lookup in another thread sees either
                self._by_type[layer][type_name] = (cls, *(c for c in others if c.name != name))

    def _instance(self, cls: type[Materializer]) -> Materializer:
        materializer = self._instances.get(cls)
        if materializer is None:
            materializer = self._instances.setdefault(cls, cls())
        return materializer

    def _resolve(self, cls):
        """`cls`; raises the `PluginConflictError` of a type or of a name two plugins claim."""
        if isinstance(cls, PluginConflict):
            raise cls.error()
        resolve(self._by_name, cls.name)
        return cls

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        with self._lock:  # another thread waits here until the plugins are in
            if self._plugins_loaded or self._loading_plugins:
                return
            self._loading_plugins = True  # a lookup made while loading (same thread) returns
            try:
                self._add_plugins()
            finally:
                self._candidates.clear()
                self._plugins_loaded = True

    def _add_plugins(self) -> None:
        from importlib import metadata  # ~15 ms: only paid on the first lookup

        from zen_mlmd.plugins import PluginClaims, load_plugin_classes

        builtin_names = {name: f"the materializer {_qualified(cls)}" for name, cls in self._by_name.items()}
        names = PluginClaims("materializer", builtin_names)
        types = PluginClaims("materializer plugin for type", fix=(
            "uninstall one of them (pip uninstall ...), or choose one for this type with "
            "zen_mlmd.artifacts.register_materializer(TheMaterializer, for_types=(...)), "
            "which wins over plugins"))
        seen = {_qualified(cls) for cls in self._by_name.values()}
        for _, source, cls in load_plugin_classes(
                metadata.entry_points(group=self._entry_point_group),
                kind="materializer", check_class=_plugin_class_problem):
            if _qualified(cls) in seen:  # one class under two entry points is no conflict
                continue
            seen.add(_qualified(cls))
            names.claim(cls.name, cls, source)
            for type_name in dict.fromkeys(_type_name(spec) for spec in cls.for_types):
                types.claim(type_name, cls, source)
        self._by_name.update(names.found)
        # one candidate per type (a clash is a `PluginConflict`), as tuples like the other layers
        self._by_type[_PLUGIN].update((t, (found,)) for t, found in types.found.items())


def _plugin_class_problem(loaded) -> str | None:
    """Why an entry point's object cannot be a materializer plugin, or None."""
    if not (isinstance(loaded, type) and issubclass(loaded, Materializer)) or getattr(
            loaded, "__abstractmethods__", None):
        return f"{loaded!r} is not a concrete zen_mlmd Materializer subclass"
    if not isinstance(getattr(loaded, "name", None), str) or not loaded.name:
        return f"{_qualified(loaded)}.name must be a non-empty string"
    if not loaded.for_types:
        return f"{_qualified(loaded)}.for_types names no types"
    try:
        [_type_name(spec) for spec in loaded.for_types]
    except ConfigError as error:
        return str(error)
    return None


def _qualified(cls) -> str:
    if not isinstance(cls, type):  # a PluginConflict: a name two plugins claim
        return " and ".join(cls.sources)
    return f"{cls.__module__}.{cls.__qualname__}"


default_registry = MaterializerRegistry()


def register_materializer(materializer_cls: type[Materializer],
                          for_types: Iterable[TypeSpec] = ()) -> None:
    """Registers a materializer in the default registry (see `MaterializerRegistry.register`)."""
    default_registry.register(materializer_cls, for_types)


def materializer_for(obj: object) -> Materializer:
    """The materializer the default registry picks to write `obj`."""
    return default_registry.materializer_for(obj)


def get_materializer(name: str) -> Materializer:
    """The registered materializer called `name`; UnknownNameError lists the valid names."""
    return default_registry.get(name)
