"""The shared read context: one open store, its reader, and artifact stores.

Every view keeps a reference to the `ReadSession` it was read through, so
that reading an artifact or following its producer uses the same connection
(and its type cache) as the rest of the read.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zen_mlmd.artifacts import ArtifactStore
    from zen_mlmd.artifacts.trust import TrustedStores
    from zen_mlmd.mlmd.reader import StoreReader
    from zen_mlmd.mlmd.store import MetadataStore


class ReadSession:
    """A metadata store being read, with the artifact stores to read contents from.

    Args:
        store: an open `MetadataStore`.
        artifact_store: an `ArtifactStore` to read artifacts from besides the
            ones registered on this machine (see `artifact_stores`).
    """

    def __init__(self, store: "MetadataStore", artifact_store: "ArtifactStore | None" = None):
        from zen_mlmd.mlmd.reader import StoreReader

        self.store = store
        self.reader: StoreReader = StoreReader(store)
        self._artifact_store = artifact_store
        self._trusted_stores: "TrustedStores | None" = None

    def artifact_store_for(self, uri: str) -> "ArtifactStore":
        """The trusted artifact store to read `uri` with (see `artifact_stores`).

        Raises:
            ArtifactTrustError: `uri` is outside every trusted artifact store.
        """
        return self.artifact_stores().store_for(uri)

    def artifact_stores(self) -> "TrustedStores":
        """The artifact stores artifacts are read from, looked up once per session.

        The session's own artifact store (given when it was made) and every
        artifact store registered on this machine (`zen-mlmd artifact-store
        register`). An artifact outside all of them is never opened: its
        URI comes from a record that anyone who can write the metadata store
        could have forged.
        """
        if self._trusted_stores is None:
            from zen_mlmd.artifacts.trust import TrustedStores

            stores = TrustedStores(_registered_artifact_stores())
            if self._artifact_store is not None:
                stores.add("the session's artifact store", self._artifact_store)
            self._trusted_stores = stores
        return self._trusted_stores


def _registered_artifact_stores() -> list:
    """``(name, ArtifactStore)`` of every artifact store registered on this machine."""
    from zen_mlmd.errors import ZenMLMDError
    from zen_mlmd.stack import StackRegistry

    try:
        components = StackRegistry().list_artifact_stores()
    except (ZenMLMDError, OSError):  # no readable config: only the stores given explicitly
        return []
    return [(component.name, component.open()) for component in components]


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

    Artifacts are read from the artifact stores registered on this machine.

    The store is opened read-only (see `MetadataStoreComponent.open`).

    Raises:
        UnknownNameError: no metadata store is registered under `store_name`.
        StoreNotCreatedError / PreflightError: as for `open_session`.
    """
    if store_name is None:
        return open_session(None)
    from zen_mlmd.stack import StackRegistry

    return ReadSession(StackRegistry().get_metadata_store(store_name).open(read_only=True))
