"""The cache lookup: ONE filter query on an artifact custom property.

Published outputs carry the cache key of the step execution that produced
them and, among their facts, that execution's id; their name holds the
output name and index. Outputs only
become LIVE when their step completes (in the same transaction), so
"LIVE artifacts with this key" are exactly the outputs of completed
executions with this key. A condition on a single custom property stays
flat as history grows; joins on types or contexts do not.
"""
from __future__ import annotations

from dataclasses import dataclass

from zen_mlmd.mlmd.native import output_facts
from zen_mlmd.mlmd.record_names import artifact_output
from zen_mlmd.mlmd.reader import PAGE_SIZE, _quote
from zen_mlmd.mlmd.store import MetadataStore


@dataclass(frozen=True)
class CachedOutputs:
    """Outputs of one completed execution with a given cache key."""

    execution_id: int
    #: output name -> (CachedArtifact, ...) in output-index order
    outputs: dict[str, tuple["CachedArtifact", ...]]


@dataclass(frozen=True)
class CachedArtifact:
    id: int
    uri: str
    materializer: str
    data_type: str
    #: ``sha256:<hex>`` recorded when the output was written ("" if none was)
    content_hash: str = ""


def find_cached_executions(store: MetadataStore, cache_key: str) -> list[CachedOutputs]:
    """Completed executions' outputs for `cache_key`, newest first (one MLMD call).

    At most `PAGE_SIZE` artifacts are read: the newest executions' outputs.
    An execution whose outputs were cut by the page limit is left out.
    """
    from ml_metadata.metadata_store.metadata_store import ListOptions, OrderByField

    query = f"custom_properties.cache_key.string_value = {_quote(cache_key)} AND state = LIVE"
    artifacts = store.get_artifacts(list_options=ListOptions(
        limit=PAGE_SIZE, order_by=OrderByField.ID, is_asc=False, filter_query=query))
    grouped: dict[int, dict[str, list[tuple[int, CachedArtifact]]]] = {}
    for artifact in artifacts:
        facts = output_facts(artifact)
        producer = facts.get("producer_execution_id")
        if not isinstance(producer, int):
            continue  # not an output zen_mlmd recorded: nothing to reuse it from
        cached = CachedArtifact(artifact.id, artifact.uri, str(facts.get("materializer", "")),
                                str(facts.get("data_type", "")), str(facts.get("content_hash", "")))
        # schema 2 keeps the output name and index in the artifact name, schema 1 in properties
        output, index = artifact_output(artifact)
        grouped.setdefault(producer, {}).setdefault(output, []).append((index, cached))
    executions = sorted(grouped, reverse=True)
    if len(artifacts) >= PAGE_SIZE and len(executions) > 1:
        executions = executions[:-1]  # the oldest may be missing outputs beyond the page
    return [CachedOutputs(execution, {
        name: tuple(c for _, c in sorted(items, key=lambda item: item[0]))
        for name, items in grouped[execution].items()
    }) for execution in executions]


def find_cached_outputs(store: MetadataStore, cache_key: str) -> CachedOutputs | None:
    """The newest completed execution's outputs for `cache_key` (one MLMD call)."""
    found = find_cached_executions(store, cache_key)
    return found[0] if found else None
