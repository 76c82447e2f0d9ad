"""Stacks and the registry of components, persisted in the config directory.

A stack names one metadata store, one artifact store and one orchestrator
(of any installed orchestrator flavor, with its options); one stack is active. `StackRegistry` registers, lists, updates and deletes
components and stacks. On first use it creates the `default` stack: a SQLite
store and a local artifact store under `<config dir>/local_stores/default`,
and the local orchestrator. How the registry is kept in `config.yaml` (its
sections, lookups and the default stack) is in `zen_mlmd.stack.registry_file`.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from zen_mlmd.errors import ConfigError, InUseError
from zen_mlmd.stack.components import (
    ArtifactStoreComponent,
    MetadataStoreComponent,
    OrchestratorComponent,
)
from zen_mlmd.stack.registry_file import (
    DEFAULT_NAME,
    SECTIONS,
    RegistryFile,
    artifact_store_of,
    get_entry,
    merged_options,
    metadata_store_of,
    orchestrator_of,
    require_free,
    stacks_using,
)
from zen_mlmd.stack.validation import (
    normalize_artifact_path, validate_name, validated_orchestrator_options, validated_store_options)


class SharedStoreWarning(UserWarning):
    """Two registered metadata-store names point at the same database."""


@dataclass(frozen=True)
class Stack:
    """A named combination of a metadata store, an artifact store and an orchestrator."""

    name: str
    metadata_store: MetadataStoreComponent
    artifact_store: ArtifactStoreComponent
    orchestrator: OrchestratorComponent

    def describe(self) -> dict[str, Any]:
        """The stack and its components as plain data; secrets masked.

        Raises:
            ConfigError / UnknownNameError: the metadata store's config is no
                longer valid for its flavor (e.g. the flavor was uninstalled).
        """
        return {
            "name": self.name,
            "metadata_store": self.metadata_store.describe(),
            "artifact_store": self.artifact_store.describe(),
            "orchestrator": self.orchestrator.describe(),
        }


class StackRegistry:
    """The registered components and stacks, and which stack is active.

    Every method reads the config file afresh, so separate processes see each
    other's changes; every change is one atomic write under a lock.

    Args:
        directory: the config directory; `zen_mlmd.stack.config.config_dir()` when None.
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        self._file = RegistryFile(directory)

    @property
    def directory(self) -> Path:
        return self._file.directory

    @property
    def config_path(self) -> Path:
        """The YAML file that holds everything (mode 0600)."""
        return self._file.path

    # -- metadata stores ------------------------------------------------------
    def register_metadata_store(
        self, name: str, flavor: str, options: Mapping[str, Any] | None = None
    ) -> MetadataStoreComponent:
        """Validate `options` through the flavor, then register the store.

        Options are stored as given (unset ones are left to the flavor's
        defaults); a secret stays exactly as given, literal or reference.
        A SQLite store given no path gets its own file,
        ``<config dir>/local_stores/<name>/metadata.db``. A store whose
        database is already registered under another name is registered with
        a `SharedStoreWarning` naming it.

        Raises:
            ConfigError: a bad name or option; nothing is written.
            UnknownNameError: the flavor does not exist.
            AlreadyExistsError: a metadata store with this name exists.
        """
        from zen_mlmd.flavors.registry import get_flavor

        validate_name("metadata store", name)
        options = get_flavor(flavor).options_for_new_store(name, str(self.directory), options or {})
        stored = validated_store_options(flavor, options)
        component = MetadataStoreComponent(name, flavor, stored)
        with self._file.edit() as data:
            require_free(data, "metadata store", name)
            _warn_if_shared(data, component)
            data["metadata_stores"][name] = {"flavor": flavor, "options": stored}
        return component

    def update_metadata_store(
        self, name: str, options: Mapping[str, Any] | None = None, unset: Iterable[str] = ()
    ) -> MetadataStoreComponent:
        """Change some options of a store (others are kept), or `unset` them.

        Raises:
            UnknownNameError: no such store, or an unset option that is not set.
            ConfigError: the resulting config is invalid; nothing is written.
        """
        with self._file.edit() as data:
            entry = get_entry(data, "metadata store", name)
            merged = merged_options(entry.get("options"), options, unset)
            stored = validated_store_options(entry["flavor"], merged)
            component = MetadataStoreComponent(name, entry["flavor"], stored)
            if component.database_location() != metadata_store_of(name, entry).database_location():
                _warn_if_shared(data, component)
            entry["options"] = stored
        return component

    def get_metadata_store(self, name: str) -> MetadataStoreComponent:
        """Raises UnknownNameError (with close matches) for an unknown name."""
        return metadata_store_of(name, get_entry(self._file.load(), "metadata store", name))

    def list_metadata_stores(self) -> list[MetadataStoreComponent]:
        data = self._file.load()
        return [metadata_store_of(n, e) for n, e in sorted(data["metadata_stores"].items())]

    def delete_metadata_store(self, name: str) -> None:
        """Unregister a store; its database is not touched.

        Raises:
            InUseError: naming the stacks that use it.
        """
        self._delete("metadata store", name)

    # -- artifact stores --------------------------------------------------------
    def register_artifact_store(self, name: str, path: str, trusted: bool = False) -> ArtifactStoreComponent:
        """Register a local directory (made absolute) or an fsspec URL.

        Args:
            trusted: mark it trusted: pickle artifacts are read from it
                without an explicit opt-in (see `ArtifactStoreComponent`).
        """
        validate_name("artifact store", name)
        path = normalize_artifact_path(path)
        with self._file.edit() as data:
            require_free(data, "artifact store", name)
            data["artifact_stores"][name] = {"path": path, **({"trusted": True} if trusted else {})}
        return ArtifactStoreComponent(name, path, trusted)

    def set_artifact_store_trust(self, name: str, trusted: bool) -> ArtifactStoreComponent:
        """Mark a registered artifact store trusted, or no longer trusted."""
        with self._file.edit() as data:
            entry = get_entry(data, "artifact store", name)
            entry.pop("trusted", None)
            if trusted:
                entry["trusted"] = True
        return artifact_store_of(name, entry)

    def get_artifact_store(self, name: str) -> ArtifactStoreComponent:
        return artifact_store_of(name, get_entry(self._file.load(), "artifact store", name))

    def list_artifact_stores(self) -> list[ArtifactStoreComponent]:
        data = self._file.load()
        return [artifact_store_of(n, e) for n, e in sorted(data["artifact_stores"].items())]

    def delete_artifact_store(self, name: str) -> None:
        """Unregister an artifact store; its contents are not touched."""
        self._delete("artifact store", name)

    # -- orchestrators -------------------------------------------------------------
    def register_orchestrator(
        self, name: str, flavor: str = "local", options: Mapping[str, Any] | None = None
    ) -> OrchestratorComponent:
        """Validate `options` through the orchestrator flavor, then register it.

        Raises:
            ConfigError: a bad name or option; nothing is written.
            UnknownNameError: the flavor is not installed (the message lists those that are).
            AlreadyExistsError: an orchestrator with this name exists.
        """
        validate_name("orchestrator", name)
        stored = validated_orchestrator_options(flavor, options or {})
        with self._file.edit() as data:
            require_free(data, "orchestrator", name)
            data["orchestrators"][name] = {"flavor": flavor, "options": stored}
        return OrchestratorComponent(name, flavor, stored)

    def update_orchestrator(
        self, name: str, options: Mapping[str, Any] | None = None, unset: Iterable[str] = ()
    ) -> OrchestratorComponent:
        """Change some options of an orchestrator (others are kept), or `unset` them.

        Raises:
            UnknownNameError: no such orchestrator, or an unset option that is not set.
            ConfigError: the resulting options are invalid; nothing is written.
        """
        with self._file.edit() as data:
            entry = get_entry(data, "orchestrator", name)
            flavor = entry.get("flavor", "local")
            merged = merged_options(entry.get("options"), options, unset)
            stored = validated_orchestrator_options(flavor, merged)
            entry["options"] = stored
        return OrchestratorComponent(name, flavor, stored)

    def get_orchestrator(self, name: str) -> OrchestratorComponent:
        """Raises UnknownNameError (with close matches) for an unknown name."""
        return orchestrator_of(name, get_entry(self._file.load(), "orchestrator", name))

    def list_orchestrators(self) -> list[OrchestratorComponent]:
        data = self._file.load()
        return [orchestrator_of(n, e) for n, e in sorted(data["orchestrators"].items())]

    def delete_orchestrator(self, name: str) -> None:
        """Unregister an orchestrator.

        Raises:
            InUseError: naming the stacks that use it.
        """
        self._delete("orchestrator", name)

    # -- stacks ----------------------------------------------------------------------
    def register_stack(
        self,
        name: str,
        metadata_store: str,
        artifact_store: str,
        orchestrator: str = DEFAULT_NAME,
    ) -> Stack:
        """Register a stack of existing components.

        Raises:
            UnknownNameError: a component does not exist.
            AlreadyExistsError: a stack with this name exists.
        """
        validate_name("stack", name)
        parts = {
            "metadata_store": metadata_store,
            "artifact_store": artifact_store,
            "orchestrator": orchestrator,
        }
        with self._file.edit() as data:
            require_free(data, "stack", name)
            data["stacks"][name] = parts
            stack = self._stack(data, name)  # checks every component exists
        return stack

    def update_stack(
        self,
        name: str,
        metadata_store: str | None = None,
        artifact_store: str | None = None,
        orchestrator: str | None = None,
    ) -> Stack:
        """Point a stack at other components; None keeps the current one."""
        changes = {
            "metadata_store": metadata_store,
            "artifact_store": artifact_store,
            "orchestrator": orchestrator,
        }
        with self._file.edit() as data:
            entry = get_entry(data, "stack", name)
            entry.update({k: v for k, v in changes.items() if v is not None})
            stack = self._stack(data, name)
        return stack

    def get_stack(self, name: str) -> Stack:
        return self._stack(self._file.load(), name)

    def list_stacks(self) -> list[Stack]:
        data = self._file.load()
        return [self._stack(data, n) for n in sorted(data["stacks"])]

    def delete_stack(self, name: str) -> None:
        """Unregister a stack (its components stay).

        Raises:
            InUseError: the stack is the active one.
        """
        with self._file.edit() as data:
            get_entry(data, "stack", name)
            if data.get("active_stack") == name:
                raise InUseError(
                    f"stack {name!r} is the active stack and cannot be deleted. "
                    "Fix: activate another stack first with `zen-mlmd stack set OTHER`"
                )
            del data["stacks"][name]

    @property
    def active_stack_name(self) -> str:
        return self._active_name(self._file.load())

    def get_active_stack(self) -> Stack:
        data = self._file.load()
        return self._stack(data, self._active_name(data))

    def set_active_stack(self, name: str) -> Stack:
        with self._file.edit() as data:
            stack = self._stack(data, name)
            data["active_stack"] = name
        return stack

    def stacks_using(self, kind: str, name: str) -> list[str]:
        """Names of the stacks that use component `name` of `kind` ("metadata store", ...)."""
        return stacks_using(self._file.load(), kind, name)

    # -- lookups -------------------------------------------------------------------------
    def _stack(self, data: dict[str, Any], name: str) -> Stack:
        entry = get_entry(data, "stack", name)
        return Stack(
            name=name,
            metadata_store=metadata_store_of(
                entry["metadata_store"],
                get_entry(data, "metadata store", entry["metadata_store"]),
            ),
            artifact_store=artifact_store_of(
                entry["artifact_store"],
                get_entry(data, "artifact store", entry["artifact_store"]),
            ),
            orchestrator=orchestrator_of(
                entry["orchestrator"], get_entry(data, "orchestrator", entry["orchestrator"])
            ),
        )

    def _active_name(self, data: dict[str, Any]) -> str:
        name = data.get("active_stack")
        if not name or name not in data["stacks"]:
            raise ConfigError(
                "active_stack", name, f"is not a registered stack in {self.config_path}",
                "activate one with `zen-mlmd stack set NAME`",
            )
        return name

    def _delete(self, kind: str, name: str) -> None:
        with self._file.edit() as data:
            get_entry(data, kind, name)
            users = stacks_using(data, kind, name)
            if users:
                listed = ", ".join(repr(s) for s in users)
                flag = {"metadata store": "-m", "artifact store": "-a", "orchestrator": "-o"}[kind]
                raise InUseError(
                    f"{kind} {name!r} is used by stack(s) {listed}. Fix: delete those stacks, "
                    f"or point them elsewhere with `zen-mlmd stack update STACK {flag} OTHER`"
                )
            del data[SECTIONS[kind]][name]


def _warn_if_shared(data: dict[str, Any], component: MetadataStoreComponent) -> None:
    """A `SharedStoreWarning` when another registered store uses `component`'s database."""
    location = component.database_location()
    if location is None:
        return
    for other, entry in sorted(data["metadata_stores"].items()):
        if other != component.name and metadata_store_of(other, entry).database_location() == location:
            warnings.warn(
                f"metadata store {component.name!r} uses the same database as {other!r} "
                f"({component.target()}): both names read and record the same runs. To keep "
                f"them apart, give {component.name!r} its own "
                f"{'--path' if component.flavor_name == 'sqlite' else 'database'}",
                SharedStoreWarning, stacklevel=3)
            return


def get_active_stack() -> Stack:
    """The active stack of the config directory (`$ZEN_MLMD_CONFIG_DIR` or the user's default).

    The first call creates the `default` stack.
    """
    return StackRegistry().get_active_stack()
