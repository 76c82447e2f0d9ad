"""Context links that a combined write leaves for the end of the run.

`put_lineage_subgraph` writes several executions in one transaction, but
links every one of them to every context it is given. Publishing step N and
starting step N+1 together therefore passes only the contexts both share
(pipeline and run): a killed run still lists its running step. What each
step alone would have been linked to besides (its `node` context, the
`execution_cache` context of a completed step, the attributions of its
inputs and outputs) is collected here and written when the run ends, in one
`put_attributions_and_associations` (after one `put_lineage_subgraph` that
creates the contexts that do not exist yet and ends the run). A run whose
process is killed keeps those links unwritten: its steps are found through
the run, not through their node context.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb


class DeferredLinks:
    """Associations and attributions to contexts, some of them not created yet."""

    def __init__(self) -> None:
        # (execution id or None, artifact ids, contexts); a context without id is
        # created at write time (by type and name) and its proto gets the id.
        self._links: list[tuple[int | None, tuple[int, ...], tuple[pb.Context, ...]]] = []

    def __bool__(self) -> bool:
        return bool(self._links)

    def add(self, execution_id: int | None, artifact_ids: Iterable[int],
            contexts: Sequence[pb.Context]) -> None:
        """Link `execution_id` (if any) and `artifact_ids` to each of `contexts`, later."""
        artifact_ids = tuple(artifact_ids)
        if contexts and (execution_id is not None or artifact_ids):
            self._links.append((execution_id, artifact_ids, tuple(contexts)))

    def write(self, store, contexts_to_update: Sequence[pb.Context] = ()) -> None:
        """Write every link: at most two MLMD calls, then forget them.

        Args:
            contexts_to_update: contexts (with ids) to write in the same call
                that creates the missing ones, e.g. the run context as it ends.
        """
        missing: dict[tuple[int, str], pb.Context] = {}
        for _, _, contexts in self._links:
            for context in contexts:
                if not context.id:
                    missing.setdefault((context.type_id, context.name), context)
        if missing or contexts_to_update:
            written = [*contexts_to_update, *missing.values()]
            _, _, ids = store.put_lineage_subgraph([], [], written, [], reuse_context_if_already_exist=True)
            created = dict(zip(missing, ids[len(contexts_to_update):]))
        else:
            created = {}
        associations, attributions = {}, {}
        for execution_id, artifact_ids, contexts in self._links:
            for context in contexts:
                context_id = context.id or created[(context.type_id, context.name)]
                context.id = context_id  # later writes pass it by id
                if execution_id is not None:
                    associations[(execution_id, context_id)] = None
                for artifact_id in artifact_ids:
                    attributions[(artifact_id, context_id)] = None
        store.put_attributions_and_associations(
            [pb.Attribution(artifact_id=a, context_id=c) for a, c in attributions],
            [pb.Association(execution_id=e, context_id=c) for e, c in associations])
        self._links.clear()
