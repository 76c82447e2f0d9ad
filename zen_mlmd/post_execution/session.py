"""The shared read context: one open store, its reader, and artifact stores.

Every view keeps a reference to the `ReadSession` it was read through, so
that reading an artifact or following its producer uses the same connection
(and its type cache) as the rest of the read.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zen_mlmd.artifacts import ArtifactStore
    from zen_mlmd.mlmd.reader import StoreReader
    from zen_mlmd.mlmd.store import MetadataStore

_UNSET = object()


class ReadSession:
    """A metadata store being read, with the artifact stores to read contents from.

    Args:
        store: an open `MetadataStore`.
        artifact_store: the `ArtifactStore` artifacts are usually under; by
            default the active stack's, looked up when an artifact is first read.
    """

    def __init__(self, store: "MetadataStore", artifact_store: "ArtifactStore | None" = None):
        from zen_mlmd.mlmd.reader import StoreReader

        self.store = store
        self.reader: StoreReader = StoreReader(store)
        self._artifact_store = artifact_store if artifact_store is not None else _UNSET

    def artifact_store_for(self, uri: str) -> "ArtifactStore":
        """The artifact store to read `uri` with.

        The session's (or the active stack's) artifact store when `uri` is
        under its root; otherwise a store rooted at the artifact's parent
        directory or URL, so artifacts written elsewhere stay readable.
        """
        from zen_mlmd.artifacts import ArtifactStore

        known = self._known_artifact_store()
        if known is not None and _is_under(uri, known.root):
            return known
        parent = uri.rstrip("/").rsplit("/", 1)[0] if "://" in uri else os.path.dirname(uri.rstrip("/"))
        return ArtifactStore(parent or uri)

    def _known_artifact_store(self) -> "ArtifactStore | None":
        if self._artifact_store is _UNSET:
            try:
                from zen_mlmd.stack import get_active_stack

                self._artifact_store = get_active_stack().artifact_store.open()
            except Exception:  # no usable stack: artifacts are read from their own location
                self._artifact_store = None
        return self._artifact_store


def _is_under(uri: str, root: str) -> bool:
    root = root.rstrip("/")
    return uri == root or uri.startswith(root + "/")


def open_session(store: "MetadataStore | ReadSession | None" = None) -> ReadSession:
    """A read session on `store`; None opens the active stack's metadata store read-only.

    Raises:
        StoreNotCreatedError: nothing was recorded in the active stack's store
            yet (reading never creates a store).
        PreflightError: the store's file or database is not an MLMD store.
    """
    if isinstance(store, ReadSession):
        return store
    if store is not None:
        return ReadSession(store)
    from zen_mlmd.stack import get_active_stack

    stack = get_active_stack()
    return ReadSession(stack.metadata_store.open(read_only=True), stack.artifact_store.open())


def open_named_session(store_name: str | None = None) -> ReadSession:
    """A read session on a registered metadata store by name (None: the active stack's).

    Artifacts are read through the active stack's artifact store when they are
    under its root, else from their own location.

    The store is opened read-only (see `MetadataStoreComponent.open`).

    Raises:
        UnknownNameError: no metadata store is registered under `store_name`.
        StoreNotCreatedError / PreflightError: as for `open_session`.
    """
    if store_name is None:
        return open_session(None)
    from zen_mlmd.stack import StackRegistry

    return ReadSession(StackRegistry().get_metadata_store(store_name).open(read_only=True))
