"""Context links that a combined write leaves for the end of the run.

`put_lineage_subgraph` writes several executions in one transaction, but
links every one of them to every context it is given. Publishing step N and
starting step N+1 together therefore passes only the contexts both share
(pipeline and run): a killed run still lists its running step. The links of
each execution to its own `node` context are collected here and written
just before the run's end, in one `put_attributions_and_associations`
(after one `put_lineage_subgraph` that resolves the node contexts the
orchestrator did not name when the run started). Artifacts of such writes are attributed to the pipeline
and run contexts only: MLMD validates every link of
`put_attributions_and_associations` with several queries, and no reader
finds artifacts through a step's own contexts (TFX goes through executions
and events). A run whose process is killed keeps those links unwritten: its
steps are found through the run, not through their node context.
"""
from __future__ import annotations

from typing import Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd.store import is_invalid_argument


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

    def write(self, store) -> None:
        """Write every link: one MLMD call (two with contexts to resolve), then forget them.

        A context found when the run started may be gone since (deleted with
        the last other run that used it): MLMD refuses the link, and the
        contexts are found, or created, again by type and name (two more calls).
        """
        self._resolve(store, only_missing=True)
        try:
            store.put_attributions_and_associations([], self._associations())
        except Exception as exc:
            if not is_invalid_argument(exc):  # what MLMD says of a link to a context id gone
                raise
            self._resolve(store, only_missing=False)
            store.put_attributions_and_associations([], self._associations())
        self._links.clear()

    def _resolve(self, store, only_missing: bool) -> None:
        """Give the contexts their ids (ONE call; none if all have one and `only_missing`)."""
        contexts: dict[tuple[int, str], list[pb.Context]] = {}
        for _, linked in self._links:
            for context in linked:
                if not (only_missing and context.id):
                    contexts.setdefault((context.type_id, context.name), []).append(context)
        if not contexts:
            return
        written = []
        for same in contexts.values():  # as first built (a new one gets its properties), without id
            written.append(pb.Context())
            written[-1].CopyFrom(same[0])
            written[-1].ClearField("id")
        _, _, ids = store.put_lineage_subgraph([], [], written, [], reuse_context_if_already_exist=True)
        for same, context_id in zip(contexts.values(), ids):
            for context in same:  # later writes of the run pass it by id
                context.id = context_id

    def _associations(self) -> list[pb.Association]:
        pairs = dict.fromkeys((execution_id, context.id) for execution_id, contexts in self._links
                              for context in contexts)
        return [pb.Association(execution_id=e, context_id=c) for e, c in pairs]
