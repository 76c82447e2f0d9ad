"""The registry's data: the sections of `config.yaml`, their entries and the default stack.

`RegistryFile` reads and writes the whole registry as one dict (through
`zen_mlmd.stack.config.ConfigFile`), creating the `default` stack on first
use: a SQLite store and a local artifact store under
`<config dir>/local_stores/default`, and the local orchestrator. The
functions below look entries up in that dict and turn them into components;
`zen_mlmd.stack.stack.StackRegistry` builds its operations on them.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterable, Iterator, Mapping

from zen_mlmd.errors import AlreadyExistsError, UnknownNameError
from zen_mlmd.stack.components import (
    ArtifactStoreComponent,
    MetadataStoreComponent,
    OrchestratorComponent,
)
from zen_mlmd.stack.config import ConfigFile, ensure_private_dir

DEFAULT_NAME = "default"

# kind (as users read it) -> config.yaml section, and the stack field naming it.
SECTIONS = {
    "metadata store": "metadata_stores",
    "artifact store": "artifact_stores",
    "orchestrator": "orchestrators",
    "stack": "stacks",
}
_STACK_FIELDS = {
    "metadata store": "metadata_store",
    "artifact store": "artifact_store",
    "orchestrator": "orchestrator",
}
_CLI_NOUNS = {"metadata store": "metadata-store", "artifact store": "artifact-store"}


class RegistryFile(ConfigFile):
    """The registry's config file, read and written as one dict with every section.

    Args:
        directory: the config directory; `zen_mlmd.stack.config.config_dir()` when None.
    """

    def load(self) -> dict[str, Any]:
        data = self.read()
        if data is None:
            with self.locked():
                data = self.read()  # another process may have just created it
                if data is None:
                    data = self.default_config()
                    self.write(data)
        return with_sections(data)

    @contextlib.contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        """Read, let the caller change, write: all under the lock; an error writes nothing."""
        with self.locked():
            data = self.read()
            data = with_sections(data if data is not None else self.default_config())
            yield data
            self.write(data)

    def default_config(self) -> dict[str, Any]:
        root = self.directory / "local_stores" / DEFAULT_NAME
        ensure_private_dir(root)
        return {
            "active_stack": DEFAULT_NAME,
            "metadata_stores": {
                DEFAULT_NAME: {"flavor": "sqlite", "options": {"path": str(root / "metadata.db")}}
            },
            # private to this user (see ensure_private_dir): nobody else writes there
            "artifact_stores": {DEFAULT_NAME: {"path": str(root / "artifacts"), "trusted": True}},
            "orchestrators": {DEFAULT_NAME: {"flavor": "local"}},
            "stacks": {
                DEFAULT_NAME: {
                    "metadata_store": DEFAULT_NAME,
                    "artifact_store": DEFAULT_NAME,
                    "orchestrator": DEFAULT_NAME,
                }
            },
        }


def get_entry(data: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    """The entry of component `name` of `kind` ("metadata store", ..., "stack").

    Raises:
        UnknownNameError: no such entry (with close matches).
    """
    section = data[SECTIONS[kind]]
    if name not in section:
        raise UnknownNameError(kind, name, section)
    return section[name]


def require_free(data: dict[str, Any], kind: str, name: str) -> None:
    """Raises AlreadyExistsError when `kind` `name` is registered already."""
    if name in data[SECTIONS[kind]]:
        noun = _CLI_NOUNS.get(kind)
        fix = f"choose another name, or delete it first with `zen-mlmd {noun} delete {name}`" \
            if noun else "choose another name"
        raise AlreadyExistsError(f"{kind} {name!r} already exists. Fix: {fix}")


def with_sections(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with every section present (an empty dict for a missing one)."""
    for section in SECTIONS.values():
        if not isinstance(data.get(section), dict):
            data[section] = {}
    return data


def stacks_using(data: dict[str, Any], kind: str, name: str) -> list[str]:
    """Names of the stacks that use component `name` of `kind`, sorted."""
    field = _STACK_FIELDS[kind]
    return sorted(s for s, entry in data["stacks"].items() if entry.get(field) == name)


# -- entries as components ---------------------------------------------------------
def metadata_store_of(name: str, entry: Mapping[str, Any]) -> MetadataStoreComponent:
    return MetadataStoreComponent(name, entry.get("flavor", ""), dict(entry.get("options") or {}))


def artifact_store_of(name: str, entry: Mapping[str, Any]) -> ArtifactStoreComponent:
    return ArtifactStoreComponent(name, entry.get("path", ""), entry.get("trusted") is True)


def orchestrator_of(name: str, entry: Mapping[str, Any]) -> OrchestratorComponent:
    # config files written before orchestrators had options have no `options` key
    return OrchestratorComponent(name, entry.get("flavor", "local"), dict(entry.get("options") or {}))


def merged_options(current: Mapping[str, Any] | None, changes: Mapping[str, Any] | None,
                   unset: Iterable[str]) -> dict[str, Any]:
    """`current` without the `unset` keys, updated with `changes`.

    Raises:
        UnknownNameError: an unset key is not set.
    """
    merged = dict(current or {})
    for key in unset:
        if key not in merged:
            raise UnknownNameError("option", key, merged)
        del merged[key]
    merged.update(changes or {})
    return merged
