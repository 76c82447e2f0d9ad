"""Context links that a combined write leaves for the end of the run.

`put_lineage_subgraph` writes several executions in one transaction, but
links every one of them to every context it is given. Publishing step N and
starting step N+1 together therefore passes only the contexts both share
(pipeline and run): a killed run still lists its running step. The links of
each execution to its own `node` context are collected here and written
when the run ends, in one `put_attributions_and_associations` (after
one `put_lineage_subgraph` that creates the contexts that do not exist yet
and ends the run). Artifacts of such writes are attributed to the pipeline
and run contexts only: MLMD validates every link of
`put_attributions_and_associations` with several queries, and no reader
finds artifacts through a step's own contexts (TFX goes through executions
and events). A run whose process is killed keeps those links unwritten: its
steps are found through the run, not through their node context.
"""
from __future__ import annotations

from typing import Sequence

from ml_metadata.proto import metadata_store_pb2 as pb


class DeferredLinks:
    """Associations and attributions to contexts, some of them not created yet."""

    def __init__(self) -> None:
        # (execution id, contexts); a context without id is created at write
        # time (by type and name) and its proto gets the id.
        self._links: list[tuple[int, tuple[pb.Context, ...]]] = []

    def __bool__(self) -> bool:
        return bool(self._links)

    def add(self, execution_id: int, contexts: Sequence[pb.Context]) -> None:
        """Associate `execution_id` with each of `contexts`, later."""
        if contexts:
            self._links.append((execution_id, tuple(contexts)))

    def write(self, store, contexts_to_update: Sequence[pb.Context] = ()) -> None:
        """Write every link: at most two MLMD calls, then forget them.

        Args:
            contexts_to_update: contexts (with ids) to write in the same call
                that creates the missing ones, e.g. the run context as it ends.
        """
        missing: dict[tuple[int, str], pb.Context] = {}
        for _, contexts in self._links:
            for context in contexts:
                if not context.id:
                    missing.setdefault((context.type_id, context.name), context)
        if missing or contexts_to_update:
            written = [*contexts_to_update, *missing.values()]
            _, _, ids = store.put_lineage_subgraph([], [], written, [], reuse_context_if_already_exist=True)
            created = dict(zip(missing, ids[len(contexts_to_update):]))
        else:
            created = {}
        associations = {}
        for execution_id, contexts in self._links:
            for context in contexts:
                context.id = context.id or created[(context.type_id, context.name)]  # later writes pass it by id
                associations[(execution_id, context.id)] = None
        store.put_attributions_and_associations(
            [], [pb.Association(execution_id=e, context_id=c) for e, c in associations])
        self._links.clear()
