"""Lineage graphs as JSON, Graphviz DOT, Mermaid, SVG and a terminal tree.

Every exporter takes a `LineageGraph` (an artifact's lineage or a run's DAG).
SVG is rendered by the Graphviz `dot` program; the other formats need
nothing beyond the standard library.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Callable

from zen_mlmd.errors import ZenMLMDError
from zen_mlmd.post_execution.lineage import ARTIFACT, LineageEdge, LineageGraph, LineageNode

INSTALL_GRAPHVIZ = (
    "install Graphviz, which provides it: `apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS) or `conda install -c conda-forge graphviz`; "
    "or export DOT instead (--format dot) and render it elsewhere"
)
#: Fill colours of step nodes by status (DOT and Mermaid).
STATUS_COLORS = {
    "completed": "#d4edda", "cached": "#d1ecf1", "failed": "#f8d7da", "running": "#fff3cd",
    "interrupted": "#fde2c8", "canceled": "#e2e3e5", "pending": "#e2e3e5", "unknown": "#ffffff",
}
ARTIFACT_COLOR = "#eef2ff"


class GraphvizError(ZenMLMDError):
    """The Graphviz `dot` program is missing or could not render a graph."""


# -- JSON --------------------------------------------------------------------------------
def to_json(graph: LineageGraph, indent: int | None = 2) -> str:
    """The graph as JSON: ``{"root", "direction", "nodes": [...], "edges": [...]}``."""
    return json.dumps(graph.to_dict(), indent=indent)


# -- layout shared by DOT and Mermaid ---------------------------------------------------
#: A chain longer than this many nodes is drawn top to bottom: left to right it
#: would be wider than a screen.
MAX_NODES_LEFT_TO_RIGHT = 5
#: Node labels are wrapped at this many characters.
LABEL_WIDTH = 24


def direction_of(graph: LineageGraph) -> str:
    """``LR`` for short chains, ``TB`` when the longest path has more than
    `MAX_NODES_LEFT_TO_RIGHT` nodes."""
    depth: dict[str, int] = {}

    def longest(key: str, seen: frozenset = frozenset()) -> int:
        if key not in depth:
            # `seen` guards against a cycle, which MLMD's events cannot form but a bad record could
            children = [e.target for e in graph.edges_from(key) if e.target not in seen]
            depth[key] = 1 + max((longest(c, seen | {key}) for c in children), default=0)
        return depth[key]

    deepest = max((longest(node.key) for node in graph.nodes), default=0)
    return "TB" if deepest > MAX_NODES_LEFT_TO_RIGHT else "LR"


def runs_of(graph: LineageGraph) -> dict[str, list[LineageNode]]:
    """The nodes drawn inside each run's box: its steps and the artifacts they produced.

    An artifact belongs to the run of its producing step; one with no producer
    in the graph (or several) is drawn outside every box.
    """
    by_run: dict[str, list[LineageNode]] = {}
    for node in graph.nodes:
        run = node.run_name
        if node.kind == ARTIFACT:
            producers = {graph.node(e.source).run_name for e in graph.edges_into(node.key)}
            run = producers.pop() if len(producers) == 1 else ""
        if run:
            by_run.setdefault(run, []).append(node)
    return by_run


def _wrap(text: str, width: int = LABEL_WIDTH) -> list[str]:
    """`text` in lines of at most `width` characters, broken after ``_ . - `` or a space.

    Generated names have no spaces (``preprocess_training_features``), so
    they break where their parts join; a part longer than a line is cut.
    """
    import re

    lines = [""]
    for part in re.findall(r"[^_.\-\s]+[_.\-\s]*|[_.\-\s]+", text):
        while len(part) > width:  # a single part longer than a line
            if lines[-1]:
                lines.append("")
            lines[-1], part = part[:width], part[width:]
            lines.append("")
        if len(lines[-1]) + len(part.rstrip()) > width and lines[-1]:
            lines.append("")
        lines[-1] += part
    return [line.strip() for line in lines if line.strip()] or [""]


def _node_lines(node: LineageNode) -> list[str]:
    """A node's label lines: no run name (the node sits in its run's box)."""
    if node.kind == ARTIFACT:
        return [*_wrap(node.name), *_wrap(f"{node.type} #{node.id}")]
    lines = [*_wrap(node.name), node.status]
    if node.reused_by:
        count = len(node.reused_by)
        lines.append(f"reused by {count} run{'s' if count > 1 else ''}")
    return lines


def _edge_label(graph: LineageGraph, edge: LineageEdge) -> str:
    """The input/output name, only where it differs from the artifact's own name."""
    artifact = graph.node(edge.target if edge.source.startswith("step") else edge.source)
    return "" if edge.name == artifact.name else edge.name


def _title(graph: LineageGraph) -> str:
    if graph.root is None:
        return ""
    root = graph.node(graph.root)
    direction = {"both": "upstream and downstream"}.get(graph.direction, graph.direction)
    return f"Lineage of {root.name} (artifact #{root.id}), {direction}"


# -- DOT ---------------------------------------------------------------------------------
def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: LineageGraph, name: str = "lineage") -> str:
    """The graph in Graphviz DOT, laid out to stay legible at screen width.

    Long chains run top to bottom (`direction_of`); each run is a box named
    once (`runs_of`) holding its steps and their outputs; artifacts are notes
    and steps rounded boxes coloured by status; labels are wrapped, and an
    edge is labelled only when its input/output name differs from the
    artifact's name.
    """
    lines = [f"digraph {_dot_quote(name)} {{", f"  rankdir={direction_of(graph)};",
             "  nodesep=0.25; ranksep=0.35;",
             '  node [fontname="Helvetica", fontsize=11, margin="0.12,0.05"];',
             '  edge [fontname="Helvetica", fontsize=9, color="#555555"];']
    title = _title(graph)
    if title:
        lines.append(f'  labelloc=t; fontname="Helvetica"; fontsize=13; label={_dot_quote(title)};')
    boxed = runs_of(graph)
    in_box = {node.key for nodes in boxed.values() for node in nodes}
    for index, (run, nodes) in enumerate(sorted(boxed.items())):
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f'    label={_dot_quote("run " + run)}; labeljust=l; fontname="Helvetica"; '
                     'fontsize=10; style="rounded,dashed"; color="#8a94a6";')
        lines += [f"  {_dot_node(graph, node)}" for node in nodes]
        lines.append("  }")
    lines += [_dot_node(graph, node) for node in graph.nodes if node.key not in in_box]
    for edge in graph.edges:
        label = _edge_label(graph, edge)
        lines.append(f"  {_dot_quote(edge.source)} -> {_dot_quote(edge.target)}"
                     + (f" [label={_dot_quote(label)}];" if label else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_node(graph: LineageGraph, node: LineageNode) -> str:
    extra = ", penwidth=2" if node.key == graph.root else ""
    label = _dot_quote("\n".join(_node_lines(node)))
    if node.kind == ARTIFACT:
        return (f"  {_dot_quote(node.key)} [label={label}, shape=note, style=filled, "
                f'fillcolor="{ARTIFACT_COLOR}"{extra}];')
    color = STATUS_COLORS.get(node.status, "#ffffff")
    return (f"  {_dot_quote(node.key)} [label={label}, shape=box, "
            f'style="rounded,filled", fillcolor="{color}"{extra}];')


# -- Mermaid -----------------------------------------------------------------------------
def _mermaid_id(node_key: str) -> str:
    kind, _, number = node_key.partition(":")
    return ("a" if kind == ARTIFACT else "s") + number


def _mermaid_text(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;").replace("|", "#124;"))


def to_mermaid(graph: LineageGraph) -> str:
    """The graph as a Mermaid flowchart (renders in GitHub/GitLab markdown).

    Laid out like `to_dot`: each run a subgraph named once, long chains top to bottom.
    """
    lines = [f"flowchart {direction_of(graph)}"]
    boxed = runs_of(graph)
    in_box = {node.key for nodes in boxed.values() for node in nodes}
    for index, (run, nodes) in enumerate(sorted(boxed.items())):
        lines.append(f'  subgraph run{index}["run {_mermaid_text(run)}"]')
        lines += [f"  {line}" for node in nodes for line in _mermaid_node(node)]
        lines.append("  end")
    lines += [line for node in graph.nodes if node.key not in in_box for line in _mermaid_node(node)]
    for edge in graph.edges:
        name = _edge_label(graph, edge)
        label = f"|{_mermaid_text(name)}|" if name else ""
        lines.append(f"  {_mermaid_id(edge.source)} -->{label} {_mermaid_id(edge.target)}")
    for status, color in STATUS_COLORS.items():
        lines.append(f"  classDef {_status_class(status)} fill:{color},stroke:#555")
    return "\n".join(lines) + "\n"


def _mermaid_node(node: LineageNode) -> list[str]:
    node_id = _mermaid_id(node.key)
    text = "<br/>".join(_mermaid_text(line) for line in _node_lines(node))
    if node.kind == ARTIFACT:
        return [f'  {node_id}[/"{text}"/]']
    return [f'  {node_id}["{text}"]', f"  class {node_id} {_status_class(node.status)}"]


def _status_class(status: str) -> str:
    return "st_" + (status if status in STATUS_COLORS else "unknown")


# -- SVG ---------------------------------------------------------------------------------
def to_svg(graph: LineageGraph, path: str | os.PathLike) -> str:
    """Render the graph to an SVG file with Graphviz `dot`; returns the path written.

    Raises:
        GraphvizError: `dot` is not installed (the message says how to get it)
            or it failed.
    """
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizError(f"rendering SVG needs the Graphviz `dot` program, which is not on PATH. "
                            f"Fix: {INSTALL_GRAPHVIZ}")
    path = os.fspath(path)
    result = subprocess.run([dot, "-Tsvg", "-o", path], input=to_dot(graph),
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise GraphvizError(f"`dot -Tsvg` failed ({result.returncode}): {result.stderr.strip()}. "
                            "Fix: export DOT instead (--format dot) and check it with `dot` by "
                            "hand; a graph zen-mlmd wrote that dot refuses is a bug to report")
    return path


# -- text --------------------------------------------------------------------------------
def to_text(graph: LineageGraph) -> str:
    """An indented tree a person can read in a terminal.

    An artifact's lineage reads from the artifact outwards, e.g.::

        model (zen_mlmd.Model #12)
        └── <- train [completed, run X]
            └── <- train (zen_mlmd.Dataset #9) as train_set
                └── <- split [completed, run X]

    A run's DAG lists each step with its inputs (<-) and outputs (->).
    Nodes reached twice are printed once and then marked "(see above)".
    """
    if graph.root is None:
        return _run_text(graph)
    lines: list[str] = []
    sections = {"upstream": ["upstream"], "downstream": ["downstream"],
                "both": ["upstream", "downstream"]}.get(graph.direction, ["upstream"])
    for section in sections:
        if len(sections) > 1:
            lines.append(f"{section}:")
        if section == "upstream":
            _tree(graph, graph.root, lines, "", "", set(), graph.edges_into, lambda e: e.source, "<-")
        else:
            _tree(graph, graph.root, lines, "", "", set(), graph.edges_from, lambda e: e.target, "->")
    return "\n".join(lines) + "\n"


def _tree(graph: LineageGraph, key: str, lines: list[str], prefix: str, lead: str, seen: set[str],
          edges_of: Callable[[str], tuple[LineageEdge, ...]], other: Callable[[LineageEdge], str],
          arrow: str, via: LineageEdge | None = None) -> None:
    node = graph.node(key)
    text = node.label
    if via is not None and node.kind == ARTIFACT and via.name and via.name != node.name:
        text += f" as {via.name}"
    if via is not None:
        text = f"{arrow} {text}"
    if key in seen:
        lines.append(f"{prefix}{lead}{text} (see above)")
        return
    seen.add(key)
    lines.append(f"{prefix}{lead}{text}")
    edges = sorted(edges_of(key), key=lambda e: (e.name, graph.node(other(e)).id))
    child_prefix = prefix + ("" if not lead else ("    " if lead.startswith("└") else "│   "))
    for i, edge in enumerate(edges):
        last = i == len(edges) - 1
        _tree(graph, other(edge), lines, child_prefix, "└── " if last else "├── ", seen,
              edges_of, other, arrow, via=edge)


def _run_text(graph: LineageGraph) -> str:
    lines = []
    for step in graph.steps:
        lines.append(step.label)
        for edge in graph.edges_into(step.key):
            lines.append(f"  <- {edge.name}: {_short(graph.node(edge.source))}")
        for edge in graph.edges_from(step.key):
            lines.append(f"  -> {edge.name}: {_short(graph.node(edge.target))}")
    return "\n".join(lines) + "\n"


def _short(node: LineageNode) -> str:
    return f"{node.type} #{node.id}"
