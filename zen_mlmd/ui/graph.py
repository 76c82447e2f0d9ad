"""Graphs as the browser draws them: Cytoscape.js elements built from lineage graphs.

A run's steps inside Kubeflow sub-pipelines and loops are named by their
path (`evaluate-pipeline/report`, `for-loop-2[1]/train`). Each path prefix
becomes a compound node that holds what lies inside it, and a loop holds one
compound node per iteration, so the drawing shows the run's structure.
An output sits inside the group of the step that produced it.
"""
from __future__ import annotations

import json
import re
from typing import Any

from zen_mlmd.post_execution.lineage import ARTIFACT, LineageGraph, LineageNode
from zen_mlmd.ui.formatting import short_type

_ITERATION = re.compile(r"^(?P<loop>.+)\[(?P<index>\d+)\]$")


def group_path(step_name: str) -> list[tuple[str, str]]:
    """The compound groups a step sits in, outermost first, as (group id, label).

    ``for-loop-2[1]/train`` sits in the loop ``for-loop-2`` and its
    iteration ``for-loop-2[1]``; a name without ``/`` sits in no group.
    """
    parts = step_name.split("/")[:-1]
    groups: list[tuple[str, str]] = []
    prefix = ""
    for part in parts:
        iteration = _ITERATION.match(part)
        if iteration:
            loop = f"{prefix}{iteration['loop']}"
            if not groups or groups[-1][0] != f"group:{loop}":
                groups.append((f"group:{loop}", iteration["loop"]))
            groups.append((f"group:{prefix}{part}", f"iteration {iteration['index']}"))
        else:
            groups.append((f"group:{prefix}{part}", part))
        prefix += part + "/"
    return groups


def run_elements(graph: LineageGraph) -> list[dict[str, Any]]:
    """Cytoscape elements of a run's DAG (`Run.dag()`): groups, steps, artifacts, edges."""
    elements: list[dict[str, Any]] = []
    groups: dict[str, str | None] = {}
    parent_of: dict[str, str | None] = {}
    for node in graph.steps:
        path = group_path(node.name)
        parent = None
        for group_id, label in path:
            if group_id not in groups:
                groups[group_id] = parent
                elements.append({"data": {"id": group_id, "label": label, "parent": parent, "kind": "group"}})
            parent = group_id
        parent_of[node.key] = parent
        elements.append({"data": {
            "id": node.key, "label": node.name.rsplit("/", 1)[-1], "name": node.name, "kind": "step",
            "status": node.status, "type": short_type(node.type), "parent": parent, "execution_id": node.id,
        }, "classes": f"step {node.status}"})
    producers = {edge.target: edge.source for edge in graph.edges if edge.source.startswith("step:")}
    for node in graph.artifacts:
        parent = parent_of.get(producers.get(node.key, ""))
        elements.append(_artifact_element(node, parent))
    elements += _edges(graph)
    for element in elements:  # Cytoscape wants no `parent` key rather than a null one
        if element["data"].get("parent") is None:
            element["data"].pop("parent", None)
    return elements


def lineage_elements(graph: LineageGraph) -> list[dict[str, Any]]:
    """Cytoscape elements of an artifact's lineage: no groups, steps labelled with their run."""
    elements: list[dict[str, Any]] = []
    for node in graph.nodes:
        if node.kind == ARTIFACT:
            element = _artifact_element(node, None)
            element["data"].pop("parent")
            if node.key == graph.root:
                element["classes"] += " root"
            elements.append(element)
        else:
            reused = f" (+{len(node.reused_by)} cached)" if node.reused_by else ""
            elements.append({"data": {
                "id": node.key, "label": f"{node.name.rsplit('/', 1)[-1]}{reused}", "name": node.name,
                "kind": "step", "status": node.status, "run": node.run_name, "type": short_type(node.type),
                "execution_id": node.id,
            }, "classes": f"step {node.status}"})
    return elements + _edges(graph)


def _artifact_element(node: LineageNode, parent: str | None) -> dict[str, Any]:
    return {"data": {
        "id": node.key, "label": node.name, "kind": "artifact", "type": short_type(node.type),
        "artifact_id": node.id, "state": node.status, "parent": parent,
    }, "classes": "artifact"}


def _edges(graph: LineageGraph) -> list[dict[str, Any]]:
    return [{"data": {"id": f"edge:{i}", "source": edge.source, "target": edge.target, "label": edge.name}}
            for i, edge in enumerate(graph.edges)]


def script_json(data: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element (no ``</script>`` can end it)."""
    return json.dumps(data, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
