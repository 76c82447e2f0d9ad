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


# -- DOT ---------------------------------------------------------------------------------
def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: LineageGraph, name: str = "lineage") -> str:
    """The graph in Graphviz DOT: artifacts as notes, steps as boxes coloured by status."""
    lines = [f"digraph {_dot_quote(name)} {{", "  rankdir=LR;",
             '  node [fontname="Helvetica", fontsize=11];', '  edge [fontname="Helvetica", fontsize=9];']
    for node in graph.nodes:
        extra = ", penwidth=2" if node.key == graph.root else ""
        if node.kind == ARTIFACT:
            label = f"{node.name}\n{node.type} #{node.id}"
            lines.append(f"  {_dot_quote(node.key)} [label={_dot_quote(label)}, shape=note, "
                         f'style=filled, fillcolor="{ARTIFACT_COLOR}"{extra}];')
        else:
            run = f"\nrun {node.run_name}" if node.run_name else ""
            label = f"{node.name}\n{node.status}{run}"
            color = STATUS_COLORS.get(node.status, "#ffffff")
            lines.append(f"  {_dot_quote(node.key)} [label={_dot_quote(label)}, shape=box, "
                         f'style="rounded,filled", fillcolor="{color}"{extra}];')
    for edge in graph.edges:
        lines.append(f"  {_dot_quote(edge.source)} -> {_dot_quote(edge.target)} "
                     f"[label={_dot_quote(edge.name)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- Mermaid -----------------------------------------------------------------------------
def _mermaid_id(node_key: str) -> str:
    kind, _, number = node_key.partition(":")
    return ("a" if kind == ARTIFACT else "s") + number


def _mermaid_text(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;").replace("|", "#124;"))


def to_mermaid(graph: LineageGraph) -> str:
    """The graph as a Mermaid flowchart (renders in GitHub/GitLab markdown)."""
    lines = ["flowchart LR"]
    for node in graph.nodes:
        node_id = _mermaid_id(node.key)
        if node.kind == ARTIFACT:
            text = _mermaid_text(f"{node.name}\n{node.type} #{node.id}")
            lines.append(f'  {node_id}[/"{text.replace(chr(10), "<br/>")}"/]')
        else:
            run = f"\nrun {node.run_name}" if node.run_name else ""
            text = _mermaid_text(f"{node.name}\n{node.status}{run}")
            lines.append(f'  {node_id}["{text.replace(chr(10), "<br/>")}"]')
            lines.append(f"  class {node_id} {_status_class(node.status)}")
    for edge in graph.edges:
        label = f"|{_mermaid_text(edge.name)}|" if edge.name else ""
        lines.append(f"  {_mermaid_id(edge.source)} -->{label} {_mermaid_id(edge.target)}")
    for status, color in STATUS_COLORS.items():
        lines.append(f"  classDef {_status_class(status)} fill:{color},stroke:#555")
    return "\n".join(lines) + "\n"


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
