"""Orchestrator flavors: the built-in `local` one, then plugins from entry points.

An orchestrator flavor is a name, a validated config class, `parse_config(raw)`
and `implementation(stack, options, quiet)`, which returns an object whose
``run(graph, run_name=...)`` runs a traced pipeline. Third-party flavors are
registered in the entry-point group ``zen_mlmd.orchestrators`` under their
name (zen-mlmd-kfp ships `kubeflow` this way)::

    [options.entry_points]
    zen_mlmd.orchestrators =
        kubeflow = zen_mlmd_kfp.flavor:KubeflowOrchestratorFlavor

A plugin need not subclass `OrchestratorFlavor`; it needs the members listed
in `REQUIRED_MEMBERS`. A broken plugin is skipped with a `FlavorPluginWarning`
(the same loading as for metadata-store flavors, `zen_mlmd.plugins`).
Importing this module imports neither ml-metadata nor any orchestrator SDK.
"""
from __future__ import annotations

import abc
from importlib import metadata
from typing import Any, ClassVar, Mapping, Protocol

import pydantic

from zen_mlmd.errors import UnknownNameError
from zen_mlmd.flavors.base import FlavorConfig, config_error_from_validation
from zen_mlmd.plugins import FlavorPluginWarning, load_flavor_plugins, resolve, usable

__all__ = [
    "ENTRY_POINT_GROUP", "FlavorPluginWarning", "LocalOrchestratorConfig",
    "LocalOrchestratorFlavor", "Orchestrator", "OrchestratorFlavor", "REQUIRED_MEMBERS",
    "get_orchestrator_flavor", "list_orchestrator_flavors", "load_plugins", "reload_plugins",
]

ENTRY_POINT_GROUP = "zen_mlmd.orchestrators"
#: What a plugin class must have to be an orchestrator flavor.
REQUIRED_MEMBERS = ("name", "config_class", "parse_config", "implementation")


class Orchestrator(Protocol):
    """What `OrchestratorFlavor.implementation` returns."""

    def run(self, graph, run_name: str | None = None) -> Any:
        """Run a traced pipeline (`zen_mlmd.pipelines.pipeline.PipelineGraph`)."""


class OrchestratorFlavor(abc.ABC):
    """A kind of orchestrator: how a stack runs pipelines.

    Subclasses set `name` and `config_class` (a frozen pydantic model that
    forbids unknown options) and implement `implementation`. Keep the module
    light: import the orchestrator's SDK inside `implementation`, so that the
    flavor is listed and its options validated without the SDK.
    """

    name: ClassVar[str]
    integration: ClassVar[str] = "built-in"
    notes: ClassVar[str] = ""
    config_class: ClassVar[type[pydantic.BaseModel]]

    def parse_config(self, raw: Mapping[str, Any] | None) -> pydantic.BaseModel:
        """Validate raw options into this flavor's config.

        Raises:
            ConfigError: naming the first bad option, its value and the fix.
        """
        try:
            return self.config_class.model_validate(dict(raw or {}))
        except pydantic.ValidationError as exc:
            raise config_error_from_validation(self.name, self.config_class, exc) from None

    @abc.abstractmethod
    def implementation(self, stack, options: Mapping[str, Any] | None = None,
                       quiet: bool = False) -> Orchestrator:
        """The orchestrator that runs pipelines on `stack` with these options.

        Raises:
            ConfigError: the options are invalid for this flavor.
        """


class LocalOrchestratorConfig(FlavorConfig):
    """Options of the `local` orchestrator.

    Attributes:
        convention: the MLMD convention runs are recorded in: "native"
            (zen_mlmd's own) or any installed convention that supports
            writing ("kfp" with zen-mlmd-kfp installed).
    """

    convention: str = "native"

    @pydantic.field_validator("convention")
    @classmethod
    def _writable_convention(cls, value: str) -> str:
        # Imported here: conventions build MLMD protos, so they load ml-metadata.
        from zen_mlmd.mlmd.convention_registry import all_conventions

        writable = sorted(c.name for c in all_conventions() if c.supports_writing)
        if value not in writable:
            raise ValueError(f"is not a convention zen_mlmd can record in. "
                             f"Fix: use one of: {', '.join(writable)}")
        return value


class LocalOrchestratorFlavor(OrchestratorFlavor):
    """Runs every step in this process, in DAG order (`LocalOrchestrator`)."""

    name = "local"
    notes = "Runs every step in this process, in DAG order."
    config_class = LocalOrchestratorConfig

    def implementation(self, stack, options=None, quiet=False):
        from zen_mlmd.pipelines.orchestrator import LocalOrchestrator

        config = self.parse_config(options)
        return LocalOrchestrator(stack, quiet=quiet, convention=config.convention)


_BUILTINS: dict[str, type[OrchestratorFlavor]] = {"local": LocalOrchestratorFlavor}
_builtin_flavors: dict[str, OrchestratorFlavor] = {}
_plugin_flavors: dict[str, Any] | None = None


def get_orchestrator_flavor(name: str) -> OrchestratorFlavor:
    """The orchestrator flavor called `name` (built-in or plugin).

    Raises:
        UnknownNameError: no such flavor; the message lists the valid ones.
    """
    plugins = _plugins()
    if name in plugins:  # a plugin with a built-in's name is a conflict: resolve raises
        return resolve(plugins, name)
    if name in _BUILTINS:
        return _builtin(name)
    raise UnknownNameError("orchestrator flavor", name, [*_BUILTINS, *plugins])


def list_orchestrator_flavors() -> list[OrchestratorFlavor]:
    """Every orchestrator flavor: the built-in `local`, then plugins by name."""
    return [_builtin(name) for name in _BUILTINS] + list(usable(_plugins()).values())


def reload_plugins() -> None:
    """Forget the plugins found so far; the next lookup reads the entry points again."""
    global _plugin_flavors
    _plugin_flavors = None


def load_plugins(entry_points) -> dict[str, Any]:
    """Orchestrator flavors from `entry_points`, by name; each broken one warns and is skipped."""
    return load_flavor_plugins(entry_points, kind="orchestrator flavor", builtins=_BUILTINS,
                               check_class=_flavor_class_problem)


def _builtin(name: str) -> OrchestratorFlavor:
    if name not in _builtin_flavors:
        _builtin_flavors[name] = _BUILTINS[name]()
    return _builtin_flavors[name]


def _plugins() -> dict[str, Any]:
    global _plugin_flavors
    if _plugin_flavors is None:
        _plugin_flavors = load_plugins(metadata.entry_points(group=ENTRY_POINT_GROUP))
    return _plugin_flavors


def _flavor_class_problem(loaded) -> str | None:
    if not isinstance(loaded, type):
        return f"{loaded!r} is not a class"
    missing = [member for member in REQUIRED_MEMBERS if not hasattr(loaded, member)]
    if missing:
        return f"the class has no {', '.join(missing)} (an orchestrator flavor needs " \
               f"{', '.join(REQUIRED_MEMBERS)})"
    if not (callable(loaded.parse_config) and callable(loaded.implementation)):
        return "parse_config and implementation must be methods"
    return None
