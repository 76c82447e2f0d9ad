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
        """Write every link: one MLMD call (two with contexts to resolve), then forget them."""
        missing: dict[tuple[int, str], pb.Context] = {}
        for _, contexts in self._links:
            for context in contexts:
                if not context.id:
                    missing.setdefault((context.type_id, context.name), context)
        created = {}
        if missing:  # found by type and name, or created
            _, _, ids = store.put_lineage_subgraph([], [], list(missing.values()), [],
                                                   reuse_context_if_already_exist=True)
            created = dict(zip(missing, ids))
        associations = {}
        for execution_id, contexts in self._links:
            for context in contexts:
                context.id = context.id or created[(context.type_id, context.name)]  # later writes pass it by id
                associations[(execution_id, context.id)] = None
        store.put_attributions_and_associations(
            [], [pb.Association(execution_id=e, context_id=c) for e, c in associations])
        self._links.clear()
