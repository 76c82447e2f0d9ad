"""The cache lookup of runs recorded in the Kubeflow Pipelines convention: ONE lineage query.

A KFP artifact carries only KFP's properties (`zen_mlmd_kfp.writing`): the
cache key is the producing execution's `cache_fingerprint`, as KFP's driver
keeps it, and what zen_mlmd knows about the outputs is in the execution's
`zen_mlmd_outputs`. One `get_lineage_subgraph` call starts from the
COMPLETE executions with the key and takes, one hop away, their events and
artifacts; the newest execution that zen_mlmd recorded wins.
"""
from __future__ import annotations

from typing import Any

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd.cache_query import CachedArtifact, CachedOutputs
from zen_mlmd.mlmd.convention import quote
from zen_mlmd.mlmd.store import is_not_found
from zen_mlmd.mlmd.values import from_value
from zen_mlmd_kfp.writing import OUTPUTS_PROPERTY


def find_cached_outputs(store: Any, cache_key: str) -> CachedOutputs | None:
    """The newest completed execution's LIVE outputs for `cache_key` (one MLMD call)."""
    query = pb.LineageSubgraphQueryOptions(max_num_hops=1)
    query.starting_executions.filter_query = (
        f"custom_properties.cache_fingerprint.string_value = {quote(cache_key)} "
        f"AND last_known_state = COMPLETE")
    try:
        graph = store.get_lineage_subgraph(query, ["executions", "events", "artifacts"])
    except Exception as error:
        if is_not_found(error):  # MLMD: no execution has the key
            return None
        raise
    ours = [e for e in graph.executions
            if OUTPUTS_PROPERTY in e.custom_properties and e.last_known_state == pb.Execution.COMPLETE]
    if not ours:
        return None
    newest = max(ours, key=lambda e: e.id)
    facts = from_value(newest.custom_properties[OUTPUTS_PROPERTY])
    artifacts = {a.id: a for a in graph.artifacts}
    by_name: dict[str, list[int]] = {}
    for event in graph.events:
        if event.execution_id == newest.id and event.type == pb.Event.OUTPUT and event.path.steps:
            by_name.setdefault(event.path.steps[0].key, []).append(event.artifact_id)
    outputs: dict[str, tuple[CachedArtifact, ...]] = {}
    for name, ids in by_name.items():
        described = facts.get(name) if isinstance(facts, dict) else None
        found = []
        # one put_execution created a list output's artifacts in order: ids ascend with the index
        for index, artifact_id in enumerate(sorted(ids)):
            artifact = artifacts.get(artifact_id)
            if artifact is None or artifact.state != pb.Artifact.LIVE:
                return None
            fact = described[index] if isinstance(described, list) and index < len(described) else {}
            found.append(CachedArtifact(artifact.id, artifact.uri, str(fact.get("materializer") or ""),
                                        str(fact.get("data_type") or "")))
        outputs[name] = tuple(found)
    return CachedOutputs(newest.id, outputs)
