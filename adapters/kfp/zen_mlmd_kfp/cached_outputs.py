"""The cache lookup of runs recorded in the Kubeflow Pipelines convention: two filter queries.

A KFP artifact carries only KFP's properties (`zen_mlmd_kfp.writing`): the
cache key is on the producing execution, in `cache_fingerprint` where KFP's
driver keeps its own, and what zen_mlmd knows about the outputs is in the
execution's `zen_mlmd_outputs`. One query finds the newest COMPLETE
execution with the key (a condition on one custom property, flat as history
grows, as the native lookup); a second its OUTPUT artifacts, named by their
`display_name`.
"""
from __future__ import annotations

from typing import Any

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd.cache_query import CachedArtifact, CachedOutputs
from zen_mlmd.mlmd.convention import quote
from zen_mlmd.mlmd.values import from_value
from zen_mlmd_kfp.writing import OUTPUTS_PROPERTY

PAGE_SIZE = 100


def find_cached_outputs(store: Any, cache_key: str) -> CachedOutputs | None:
    """The newest completed execution's LIVE outputs for `cache_key` (two MLMD calls)."""
    from ml_metadata.metadata_store.metadata_store import ListOptions, OrderByField

    executions = store.get_executions(list_options=ListOptions(
        limit=PAGE_SIZE, order_by=OrderByField.ID, is_asc=False,
        filter_query=f"custom_properties.cache_fingerprint.string_value = {quote(cache_key)} "
                     f"AND last_known_state = COMPLETE"))
    # KFP's own executions may share a fingerprint format: only zen_mlmd's describe outputs
    newest = next((e for e in executions if OUTPUTS_PROPERTY in e.custom_properties), None)
    if newest is None:
        return None
    facts = from_value(newest.custom_properties[OUTPUTS_PROPERTY])
    artifacts = store.get_artifacts(list_options=ListOptions(
        filter_query=f"events_0.execution_id = {newest.id} AND events_0.type = OUTPUT"))
    by_name: dict[str, list[pb.Artifact]] = {}
    for artifact in sorted(artifacts, key=lambda a: a.id):
        if artifact.state != pb.Artifact.LIVE:
            return None  # an output was deleted: not a usable cache entry
        by_name.setdefault(artifact.custom_properties["display_name"].string_value, []).append(artifact)
    outputs = {}
    for name, found in by_name.items():
        described = facts.get(name) if isinstance(facts, dict) else None
        # one put_execution created a list output's artifacts in order: ids ascend with the index
        outputs[name] = tuple(
            CachedArtifact(a.id, str(_fact(described, i).get("uri") or a.uri),
                           str(_fact(described, i).get("materializer") or ""),
                           str(_fact(described, i).get("data_type") or ""),
                           str(_fact(described, i).get("content_hash") or ""))
            for i, a in enumerate(found))
    return CachedOutputs(newest.id, outputs)


def _fact(described: Any, index: int) -> dict:
    return described[index] if isinstance(described, list) and index < len(described) else {}
