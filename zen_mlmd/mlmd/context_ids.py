"""The ids of the contexts that runs share: a pipeline's, and its steps' `node` contexts.

A writer finds them by type and name once (one `put_lineage_subgraph` for
all of a run's, creating those that do not exist) and keeps their ids for
its later runs. A context can be deleted meanwhile, with the last run that
used it: MLMD then refuses its id (NotFound, or InvalidArgument for a
link), and it is found again by name, or created, and the write repeated.
"""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.mlmd.store_errors import is_invalid_argument, is_not_found

T = TypeVar("T")


class ContextIds:
    """Ids of shared contexts, by (type id, name), for the life of one writer."""

    def __init__(self, store: MetadataStore):
        self.store = store
        self._ids: dict[tuple[int, str], int] = {}

    def resolve(self, contexts: Sequence[pb.Context], again: bool = False) -> None:
        """Give each context its id: known from an earlier run, or found by type and
        name, creating those that do not exist (ONE call, none if all are known).

        An existing context is kept as it is (its properties are not rewritten).
        `again`: find them all by name. Each context is passed once.
        """
        missing = []
        for context in contexts:
            known = None if again else self._ids.get((context.type_id, context.name))
            if known:
                context.id = known
            else:
                context.ClearField("id")
                missing.append(context)
        if missing:  # a concurrent creation (MLMD's Aborted) is retried by the store
            _, _, ids = self.store.put_lineage_subgraph([], [], missing, [], reuse_context_if_already_exist=True)
            for context, context_id in zip(missing, ids):
                context.id = context_id
            self.remember(missing)

    def remember(self, contexts: Sequence[pb.Context]) -> None:
        """Keep the ids of `contexts` (those that have one) for later runs."""
        self._ids.update(((c.type_id, c.name), c.id) for c in contexts if c.id)

    def again_if_gone(self, contexts: Sequence[pb.Context], write: Callable[[], T]) -> T:
        """`write()`; if MLMD refuses an id as unknown, once more after finding
        `contexts` again by name (one was deleted since it was found)."""
        try:
            return write()
        except Exception as exc:
            if not (contexts and (is_not_found(exc) or is_invalid_argument(exc))):
                raise
            self.resolve(contexts, again=True)
            return write()
