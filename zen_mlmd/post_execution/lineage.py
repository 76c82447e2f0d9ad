"""Lineage graphs: artifacts and the steps that used or produced them.

A graph is plain, immutable data: nodes (artifacts and steps) and edges
``artifact -> step`` (the step took it as an input) and ``step -> artifact``
(the step output it). `artifact_lineage` builds one from a single MLMD
lineage query; `run_graph` builds the DAG of a run from what was already read.
`zen_mlmd.post_execution.export` turns graphs into JSON, DOT, Mermaid, SVG
and text.
"""
from __future__ import annotations

import dataclasses

from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterable

from zen_mlmd.errors import UnknownNameError
from zen_mlmd.post_execution.status import CACHED as CACHED_STATUS
from zen_mlmd.post_execution.status import step_status

if TYPE_CHECKING:
    from zen_mlmd.post_execution.runs import Run
    from zen_mlmd.post_execution.session import ReadSession

ARTIFACT = "artifact"
STEP = "step"


@dataclass(frozen=True)
class LineageNode:
    """An artifact or a step execution in a lineage graph.

    Attributes:
        key: unique in the graph: ``artifact:<id>`` or ``step:<id>``.
        id: the MLMD artifact or execution id.
        name: the output name of an artifact, the step name of a step.
        type: the MLMD artifact type, or the step's execution type.
        status: the step status ("completed", "cached", ...), or the
            artifact state ("live", ...).
        run_name: the run of a step ("" for artifacts).
        reused_by: runs whose steps were served from this step's outputs
            (cached executions folded into the step that did the work).
    """

    key: str
    kind: str
    id: int
    name: str
    type: str
    status: str = ""
    run_name: str = ""
    uri: str = ""
    reused_by: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How people read the node: ``model (zen_mlmd.Model #12)`` or ``train [completed, run X]``."""
        if self.kind == ARTIFACT:
            return f"{self.name} ({self.type} #{self.id})"
        run = f", run {self.run_name}" if self.run_name else ""
        reused = f", reused by {len(self.reused_by)} run(s)" if self.reused_by else ""
        return f"{self.name} [{self.status}{run}{reused}]"


@dataclass(frozen=True)
class LineageEdge:
    """``artifact -> step`` (an input) or ``step -> artifact`` (an output).

    Attributes:
        name: the input or output name on the step's side.
    """

    source: str
    target: str
    name: str


@dataclass(frozen=True)
class LineageGraph:
    """Artifacts and steps connected by input/output edges.

    Attributes:
        root: the key of the artifact the lineage was asked for (None for a run's DAG).
        direction: "upstream", "downstream", "both" or "run" (a run's DAG).
    """

    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]
    root: str | None = None
    direction: str = "upstream"

    @cached_property
    def _by_key(self) -> dict[str, LineageNode]:
        return {node.key: node for node in self.nodes}

    @cached_property
    def _adjacent(self) -> tuple[dict[str, list[LineageEdge]], dict[str, list[LineageEdge]]]:
        into: dict[str, list[LineageEdge]] = {}
        out: dict[str, list[LineageEdge]] = {}
        for edge in self.edges:
            into.setdefault(edge.target, []).append(edge)
            out.setdefault(edge.source, []).append(edge)
        return into, out

    def node(self, key: str) -> LineageNode:
        """The node with this key (``artifact:<id>`` or ``step:<id>``)."""
        try:
            return self._by_key[key]
        except KeyError:
            raise UnknownNameError("lineage node", key, self._by_key) from None

    @property
    def artifacts(self) -> tuple[LineageNode, ...]:
        return tuple(n for n in self.nodes if n.kind == ARTIFACT)

    @property
    def steps(self) -> tuple[LineageNode, ...]:
        return tuple(n for n in self.nodes if n.kind == STEP)

    def edges_into(self, key: str) -> tuple[LineageEdge, ...]:
        """Edges ending at `key`: a step's inputs, or an artifact's producers."""
        return tuple(self._adjacent[0].get(key, ()))

    def edges_from(self, key: str) -> tuple[LineageEdge, ...]:
        """Edges starting at `key`: a step's outputs, or an artifact's consumers."""
        return tuple(self._adjacent[1].get(key, ()))

    # Exports (see zen_mlmd.post_execution.export), as methods for convenience.
    def to_text(self) -> str:
        from zen_mlmd.post_execution.export import to_text

        return to_text(self)

    def to_json(self) -> str:
        from zen_mlmd.post_execution.export import to_json

        return to_json(self)

    def to_dot(self) -> str:
        from zen_mlmd.post_execution.export import to_dot

        return to_dot(self)

    def to_mermaid(self) -> str:
        from zen_mlmd.post_execution.export import to_mermaid

        return to_mermaid(self)

    def to_svg(self, path) -> str:
        from zen_mlmd.post_execution.export import to_svg

        return to_svg(self, path)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what `to_json` writes)."""
        return {
            "root": self.root,
            "direction": self.direction,
            "nodes": [{**asdict(n), "label": n.label} for n in self.nodes],
            "edges": [asdict(e) for e in self.edges],
        }


def artifact_key(artifact_id: int) -> str:
    return f"{ARTIFACT}:{artifact_id}"


def step_key(execution_id: int) -> str:
    return f"{STEP}:{execution_id}"


def artifact_lineage(session: "ReadSession", artifact_id: int, direction: str = "upstream",
                     max_hops: int = 20, include_cached: bool = False) -> LineageGraph:
    """The lineage of one artifact, from one MLMD lineage query (plus cached type lookups).

    Every run served from the cache links its CACHED step to the reused
    artifacts, so a popular artifact would gather one producer per run. By
    default such a step is folded into the step that produced the outputs
    (listed in its `reused_by`) when that step is in the graph;
    `include_cached=True` keeps every execution as a node.

    Raises:
        UnknownNameError: no artifact has this id.
        ConfigError: a bad direction or hop count.
    """
    from zen_mlmd.mlmd.lineage_query import query_lineage

    found = query_lineage(session.store, int(artifact_id), direction, max_hops)
    if int(artifact_id) not in found.artifacts:
        raise UnknownNameError("artifact id", str(artifact_id), known=None,
                               fix="find artifact ids with `zen-mlmd run describe RUN`")
    # an unnamed artifact (TFX's, KFP's importer) is named by the output that
    # produced it, as `Artifact.name` names it
    output_names: dict[int, str] = {}
    for event in found.events:  # by execution id: the first producer names it
        if event.kind == "output":
            output_names.setdefault(event.artifact_id, event.key)
    nodes = [_artifact_node(a.id, a.properties.get("display_name") or a.name or output_names.get(a.id, ""),
                            a.type_name, a.state.lower(), a.uri)
             for a in sorted(found.artifacts.values(), key=lambda a: a.id)]
    nodes += [LineageNode(step_key(s.id), STEP, s.id, s.name, s.type_name,
                          step_status(s.state), found.step_runs.get(s.id, ""))
              for s in sorted(found.steps.values(), key=lambda s: s.id)]
    edges = [
        LineageEdge(artifact_key(e.artifact_id), step_key(e.execution_id), e.key)
        if e.kind == "input" else
        LineageEdge(step_key(e.execution_id), artifact_key(e.artifact_id), e.key)
        for e in found.events
    ]
    if not include_cached:
        nodes, edges = _fold_cached(nodes, edges)
    return LineageGraph(tuple(nodes), tuple(_unique(edges)), artifact_key(int(artifact_id)), direction)


def _fold_cached(nodes: list[LineageNode], edges: list[LineageEdge]):
    """Fold each CACHED step into the step that produced its outputs, when present."""
    by_key = {n.key: n for n in nodes}
    producers: dict[str, list[str]] = {}  # artifact -> steps that did the work
    for edge in edges:
        if edge.source.startswith(STEP) and by_key[edge.source].status != CACHED_STATUS:
            producers.setdefault(edge.target, []).append(edge.source)
    folded: dict[str, str] = {}  # cached step -> the step it reused
    for node in nodes:
        if node.kind != STEP or node.status != CACHED_STATUS:
            continue
        outputs = [e.target for e in edges if e.source == node.key]
        originals = {p for out in outputs for p in producers.get(out, ())}
        if outputs and all(out in producers for out in outputs) and len(originals) == 1:
            folded[node.key] = originals.pop()
    if not folded:
        return nodes, edges
    reused: dict[str, list[str]] = {}
    for cached, original in folded.items():
        reused.setdefault(original, []).append(by_key[cached].run_name)
    kept = [dataclasses.replace(n, reused_by=tuple(sorted(reused[n.key]))) if n.key in reused else n
            for n in nodes if n.key not in folded]
    return kept, [e for e in edges if e.source not in folded and e.target not in folded]


def run_graph(run: "Run") -> LineageGraph:
    """The DAG of a run: its steps in DAG order with their input and output artifacts."""
    nodes: dict[str, LineageNode] = {}
    edges: list[LineageEdge] = []
    for step in run.steps:
        key = step_key(step.id)
        nodes[key] = LineageNode(key, STEP, step.id, step.name, step.type_name,
                                 step.status, step.run_name)
        for direction, artifacts in (("input", step.inputs), ("output", step.outputs)):
            for name, value in artifacts.items():
                for artifact in (value if isinstance(value, tuple) else (value,)):
                    a_key = artifact_key(artifact.id)
                    nodes.setdefault(a_key, _artifact_node(artifact.id, artifact.name, artifact.type,
                                                           artifact.state, artifact.uri))
                    edges.append(LineageEdge(a_key, key, name) if direction == "input"
                                 else LineageEdge(key, a_key, name))
    return LineageGraph(tuple(nodes.values()), tuple(_unique(edges)), None, "run")


def _artifact_node(artifact_id: int, name: Any, type_name: str, state: str, uri: str) -> LineageNode:
    return LineageNode(artifact_key(artifact_id), ARTIFACT, artifact_id, str(name), type_name,
                       state, "", uri)


def _unique(edges: Iterable[LineageEdge]) -> list[LineageEdge]:
    return list(dict.fromkeys(edges))
