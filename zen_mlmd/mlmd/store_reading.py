"""Every record of a store (or of some of its runs), read in pages through MLMD's API.

The source side of copies and archives: works for every flavor, a gRPC
endpoint included. Records come in the order a writer needs them: types,
contexts, parent links, artifacts (with their attributions), executions
(with their events and associations). Each page holds at most 100 nodes
(MLMD's page cap; lineage queries drop starting nodes beyond ~100).

Nodes carry their type by name (`type`), so that a destination resolves it
to its own type id.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb
from ml_metadata.proto import metadata_store_service_pb2 as spb

from zen_mlmd.mlmd.store import MetadataStore

PAGE_SIZE = 100
KINDS = ("artifact", "execution", "context")


@dataclass
class Batch:
    """One step of a transfer.

    `what` is "types" (`kind` set, `nodes` are types), "contexts",
    "parents" (`links` of (child id, parent id)), "artifacts" (with
    `attributions` of (context id, artifact id)) or "executions" (with
    `events` and `associations` of (context id, execution id)).
    """

    what: str
    nodes: list = field(default_factory=list)
    kind: str = ""
    links: list[tuple[int, int]] = field(default_factory=list)
    events: list = field(default_factory=list)
    attributions: list[tuple[int, int]] = field(default_factory=list)
    associations: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Selection:
    """Which records to read: everything, or what some runs hold.

    Attributes:
        run_ids: run context ids; None for the whole store.
        label: how the selection is named in markers and messages.
    """

    run_ids: tuple[int, ...] | None = None
    label: str = "all"


def select_runs(store: MetadataStore, pipeline: str | None = None,
                since_ms: int | None = None) -> Selection:
    """The runs of `pipeline` (any convention) created at or after `since_ms`; all when both are None."""
    if pipeline is None and since_ms is None:
        return Selection()
    from zen_mlmd.mlmd.reader import StoreReader

    reader = StoreReader(store)
    if pipeline is not None and reader.get_pipeline(pipeline) is None:
        from zen_mlmd.errors import UnknownNameError

        raise UnknownNameError("pipeline", pipeline, [p.name for p in reader.list_pipelines()],
                               fix="list pipelines with `zen-mlmd pipeline list`")
    ids = tuple(r.id for r in reader.iter_runs(pipeline)
                if since_ms is None or r.created_ms >= since_ms)
    return Selection(ids, f"pipeline={pipeline or '*'} since={since_ms or '-'}")


class StoreSource:
    """Reads the records of `selection` from `store`, page by page."""

    def __init__(self, store: MetadataStore, selection: Selection | None = None):
        self.store = store
        self.selection = selection or Selection()
        self.counts: dict[str, int] = {}
        self._ids: dict[str, list[int]] | None = None

    # -- what is selected ---------------------------------------------------------------
    def _selected(self) -> dict[str, list[int]] | None:
        """Ids per kind of a run selection (None: everything), found once."""
        if self.selection.run_ids is None:
            return None
        if self._ids is None:
            runs = sorted(self.selection.run_ids)
            executions: set[int] = set()
            for start in range(0, len(runs), PAGE_SIZE):
                query = f"contexts_a.id IN ({_ids(runs[start:start + PAGE_SIZE])})"
                executions |= {e.id for page in self._pages("execution", query) for e in page}
            artifacts = set()
            contexts = set(runs)
            for page in _chunks(sorted(executions)):
                artifacts |= {e.artifact_id for e in self.store.get_events_by_execution_ids(page)}
                contexts |= {c for c, _ in self._links("execution", page)}
            for page in _chunks(runs):  # their pipelines
                contexts |= {c.id for c in self._all(f"child_contexts_a.id IN ({_ids(page)})")}
            self._ids = {"execution": sorted(executions), "artifact": sorted(artifacts),
                         "context": sorted(contexts)}
        return self._ids

    def node_total(self) -> int | None:
        """Contexts, artifacts and executions a run selection reads; None for the whole store.

        Known without extra calls: the ids are what `batches` reads anyway
        (found once). MLMD has no count RPC, so the whole store's is unknown.
        """
        selected = self._selected()
        return None if selected is None else sum(len(ids) for ids in selected.values())

    # -- the batches ----------------------------------------------------------------------
    def batches(self) -> Iterator[Batch]:
        """Types, contexts, parent links, artifacts, executions, in pages; counts in `counts`."""
        self.counts = {k: 0 for k in ("context", "parent_context", "artifact", "execution",
                                      "event", "attribution", "association")}
        type_names: dict[str, dict[int, str]] = {}
        for kind in KINDS:
            types = list(getattr(self.store.raw, f"get_{kind}_types")())
            type_names[kind] = {t.id: t.name for t in types}
            yield Batch("types", types, kind=kind)
        selected = self._selected()
        context_ids: list[int] = []
        for page in self._node_pages("context", selected):
            _name_types(page, type_names["context"])
            context_ids += [c.id for c in page]
            self.counts["context"] += len(page)
            yield Batch("contexts", page)
        chosen = set(context_ids)
        for page in _chunks(context_ids):
            links = [(c, p) for c, p in self._parent_links(page) if p in chosen]
            self.counts["parent_context"] += len(links)
            yield Batch("parents", links=links)
        for page in self._node_pages("artifact", selected):
            _name_types(page, type_names["artifact"])
            links = [(c, a) for c, a in self._links("artifact", [a.id for a in page]) if c in chosen]
            self.counts["artifact"] += len(page)
            self.counts["attribution"] += len(links)
            yield Batch("artifacts", page, attributions=links)
        for page in self._node_pages("execution", selected):
            _name_types(page, type_names["execution"])
            ids = [e.id for e in page]
            events = list(self.store.get_events_by_execution_ids(ids))
            links = [(c, e) for c, e in self._links("execution", ids) if c in chosen]
            self.counts["execution"] += len(page)
            self.counts["event"] += len(events)
            self.counts["association"] += len(links)
            yield Batch("executions", page, events=events, associations=links)

    # -- reading ------------------------------------------------------------------------------
    def _node_pages(self, kind: str, selected) -> Iterator[list]:
        if selected is None:
            yield from self._pages(kind, "")
            return
        for page in _chunks(selected[kind]):
            found = list(getattr(self.store, f"get_{kind}s_by_id")(page))
            yield sorted(found, key=lambda n: n.id)

    def _pages(self, kind: str, filter_query: str) -> Iterator[list]:
        """Every `kind` matching `filter_query`, by id, one RPC per page of 100."""
        name = {"artifact": "Artifacts", "execution": "Executions", "context": "Contexts"}[kind]
        request = getattr(spb, f"Get{name}Request")()
        request.options.max_result_size = PAGE_SIZE
        request.options.order_by_field.field = pb.ListOperationOptions.OrderByField.ID
        request.options.order_by_field.is_asc = True
        if filter_query:
            request.options.filter_query = filter_query
        while True:
            response = getattr(spb, f"Get{name}Response")()
            self.store.raw._call(f"Get{name}", request, response)
            page = list(getattr(response, f"{kind}s"))
            if page:
                yield page
            if not response.next_page_token:
                return
            request.options.next_page_token = response.next_page_token

    def _all(self, filter_query: str) -> list:
        return [c for page in self._pages("context", filter_query) for c in page]

    def _links(self, kind: str, ids: Sequence[int]) -> list[tuple[int, int]]:
        """(context id, node id) of the attributions or associations of some nodes (one call)."""
        if not ids:
            return []
        query = pb.LineageSubgraphQueryOptions(max_num_hops=0)
        starting = query.starting_artifacts if kind == "artifact" else query.starting_executions
        starting.filter_query = f"id IN ({_ids(ids)})"
        field_name = "attributions" if kind == "artifact" else "associations"
        graph = self.store.get_lineage_subgraph(query, ["contexts", field_name])
        key = "artifact_id" if kind == "artifact" else "execution_id"
        wanted = set(ids)
        return sorted({(link.context_id, getattr(link, key)) for link in getattr(graph, field_name)
                       if getattr(link, key) in wanted})

    def _parent_links(self, child_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(child, parent) links of some contexts: one call, plus one per distinct parent."""
        links = []
        for parent in self._all(f"child_contexts_a.id IN ({_ids(child_ids)})"):
            children = self._all(f"parent_contexts_a.id = {parent.id} AND id IN ({_ids(child_ids)})")
            links += [(child.id, parent.id) for child in children]
        return sorted(links)


def _name_types(nodes, names: dict[int, str]) -> None:
    for node in nodes:
        if not node.type:
            node.type = names.get(node.type_id, "")


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    ids = list(ids)
    for start in range(0, len(ids), PAGE_SIZE):
        yield ids[start:start + PAGE_SIZE]


def _ids(ids: Sequence[int]) -> str:
    return ", ".join(str(int(i)) for i in ids)
