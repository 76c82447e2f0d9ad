"""Context links that a combined write leaves for the end of the run.

`put_lineage_subgraph` writes several executions in one transaction, but
links every one of them to every context it is given. Publishing step N and
starting step N+1 together therefore passes only the contexts both share
(pipeline and run): a killed run still lists its running step. The links of
each execution to its own `node` context are collected here and written
just before the run's end, in one `put_attributions_and_associations`
(after one `put_lineage_subgraph` that finds the node contexts neither the
orchestrator named when the run started nor an earlier run found).
Artifacts of such writes are attributed to the pipeline and run contexts
only: MLMD validates every link of
`put_attributions_and_associations` with several queries, and no reader
finds artifacts through a step's own contexts (TFX goes through executions
and events). A run whose process is killed keeps those links unwritten: its
steps are found through the run, not through their node context.
"""
from __future__ import annotations

from typing import Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd.context_ids import ContextIds


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

    def write(self, store, context_ids: ContextIds) -> None:
        """Write every link: one MLMD call, then forget them.

        `context_ids` gives the contexts their ids (those earlier runs found;
        the others found or created by type and name in one call). A context
        found when the run started may be gone since (deleted with the last
        other run that used it): MLMD refuses the link, and the contexts are
        found again and the links written again.
        """
        contexts = list({id(c): c for _, linked in self._links for c in linked}.values())
        context_ids.resolve([c for c in contexts if not c.id])
        context_ids.again_if_gone(
            contexts, lambda: store.put_attributions_and_associations([], self._associations()))
        self._links.clear()

    def _associations(self) -> list[pb.Association]:
        pairs = dict.fromkeys((execution_id, context.id) for execution_id, contexts in self._links
                              for context in contexts)
        return [pb.Association(execution_id=e, context_id=c) for e, c in pairs]
