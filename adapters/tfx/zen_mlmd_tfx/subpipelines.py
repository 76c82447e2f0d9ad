"""TFX sub-pipelines as TFX's compiler and orchestrator record them, read back whole.

A node of sub-pipeline ``training`` inside pipeline ``outer`` is compiled
(tfx ``dsl/compiler/node_contexts_compiler.compile_node_contexts``) with the
contexts, registered by ``orchestration/portable/mlmd/context_lib.prepare_contexts``:

* ``pipeline`` ``training`` and ``outer``;
* ``pipeline_run`` ``training_<run id>`` and ``<run id>``, and TFX's
  orchestrator renames the first ``training_<run id>_<execution id>``
  (``subpipeline_utils.subpipeline_ir_rewrite``); `prepare_contexts` makes
  EVERY pipeline context a parent of EVERY run context of the node, so both
  run contexts have both pipelines as parents;
* ``node`` ``outer.training`` (the sub-pipeline as a node of ``outer``) and
  ``training.<node id>``.

Read naively, ``training_<run id>`` is a second run, the run may be given to
``training``, and the step is named ``training`` after the first node
context. Here: a pipeline is a sub-pipeline of another when a ``node``
context ``<parent>.<pipeline>`` exists; a run context with two or more
parent pipelines belongs to the one that is no other's sub-pipeline, and is
a sub-pipeline run (not listed) when its name starts with ``<sub-pipeline>_``.
Steps are named by their path from the root: ``training/<node id>``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import quote

PIPELINE_CONTEXT = "pipeline"
NODE_CONTEXT = "node"


def step_path(contexts: Sequence[pb.Context]) -> str | None:
    """`sub/.../node id` from an execution's contexts; None without a node context.

    The leaf is the node context whose node id is not itself a pipeline of
    the execution; each pipeline's parent is found through the node context
    ``<parent>.<pipeline>``.
    """
    pipelines = {c.name for c in contexts if c.type == PIPELINE_CONTEXT}
    nodes = [c.name for c in contexts if c.type == NODE_CONTEXT]
    parent_of: dict[str, str] = {}
    leaf: tuple[str, str] | None = None
    for name in nodes:
        owner = _owner(name, pipelines)
        if owner is None:
            continue
        node_id = name[len(owner) + 1:]
        if node_id in pipelines and node_id != owner:
            parent_of[node_id] = owner
        elif leaf is None:
            leaf = (owner, node_id)
    if leaf is None:
        return None
    owner, path = leaf
    seen = {owner}
    while owner in parent_of:  # climb to the root, guarding against cycles
        path = f"{owner}/{path}"
        owner = parent_of[owner]
        if owner in seen:
            break
        seen.add(owner)
    return path


def _owner(node_context_name: str, pipelines: Iterable[str]) -> str | None:
    """The pipeline a node context belongs to: the longest pipeline name that prefixes it."""
    owners = [p for p in pipelines if node_context_name.startswith(p + ".")]
    return max(owners, key=len) if owners else None


def screen_runs(store: Any, runs: Sequence[records.RunRecord],
                pipeline_name: str | None) -> list[records.RunRecord]:
    """Runs with their root pipeline; sub-pipeline run contexts dropped (see the module docstring).

    One call for the parent pipelines of the page, one per parent when
    there are several, and one for the ``node`` contexts linking them.
    """
    if not runs:
        return []
    parents = _parent_pipelines(store, [r.id for r in runs])
    # only a run with several parent pipelines can be a sub-pipeline's
    shared = {name for found in parents.values() if len(found) > 1 for name in found}
    sub_of = _sub_pipelines(store, shared) if shared else {}
    kept = []
    for run in runs:
        found = parents.get(run.id, [])
        subs = {p for p in found if sub_of.get(p, set()) & set(found)}
        if any(run.name.startswith(sub + "_") for sub in subs):
            continue  # the inner run of a sub-pipeline: part of the root run
        roots = sorted(p for p in found if p not in subs)
        root = roots[0] if roots else run.pipeline_name
        if pipeline_name is not None and root != pipeline_name:
            continue
        kept.append(dataclasses.replace(run, pipeline_name=root))
    return kept


def _parent_pipelines(store: Any, run_ids: Sequence[int]) -> Mapping[int, list[str]]:
    ids = ", ".join(str(i) for i in run_ids)
    pipelines = _contexts(store, f"type = {quote(PIPELINE_CONTEXT)} AND child_contexts_a.id IN ({ids})")
    if len(pipelines) == 1:
        return {run_id: [pipelines[0].name] for run_id in run_ids}
    out: dict[int, list[str]] = {}
    for pipeline in pipelines:
        for child in _contexts(store, f"id IN ({ids}) AND parent_contexts_a.id = {pipeline.id}"):
            out.setdefault(child.id, []).append(pipeline.name)
    return out


def _sub_pipelines(store: Any, names: set[str]) -> dict[str, set[str]]:
    """Pipeline -> the pipelines it is a sub-pipeline of, from ``<parent>.<sub>`` node contexts."""
    pairs = {f"{a}.{b}": (a, b) for a in names for b in names if a != b}
    if not pairs:
        return {}
    listed = ", ".join(quote(name) for name in sorted(pairs))
    out: dict[str, set[str]] = {}
    for context in _contexts(store, f"type = {quote(NODE_CONTEXT)} AND name IN ({listed})"):
        parent, sub = pairs[context.name]
        out.setdefault(sub, set()).add(parent)
    return out


def _contexts(store: Any, filter_query: str) -> list[pb.Context]:
    from ml_metadata.metadata_store.metadata_store import ListOptions

    return store.get_contexts(list_options=ListOptions(filter_query=filter_query))
