"""The lineage of an artifact in ONE `get_lineage_subgraph` query.

MLMD walks the events from a starting artifact in the database; we ask only
for artifacts, executions and events (`field_mask_paths`), because fetching
contexts makes the query grow with history (every artifact of a pipeline
shares its pipeline context). The ml-metadata client fills in the node
details with one `GetArtifactsByID` and one `GetExecutionsByID`; types come
from the connection's type cache.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.errors import ConfigError, StoreError
from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import INPUT_EVENTS, OUTPUT_EVENTS
from zen_mlmd.mlmd.convention_registry import get_convention
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.mlmd.store_errors import is_not_found

DIRECTIONS = {
    "upstream": pb.LineageSubgraphQueryOptions.UPSTREAM,
    "downstream": pb.LineageSubgraphQueryOptions.DOWNSTREAM,
    "both": pb.LineageSubgraphQueryOptions.BIDIRECTIONAL,
}
FIELD_MASK = ["artifacts", "executions", "events"]
#: MLMD refuses deeper walks; a hop is one artifact -> execution (or back) edge.
MAX_HOPS = 100


@dataclass(frozen=True)
class LineageEvent:
    """One edge of the lineage: an artifact used or produced by an execution."""

    artifact_id: int
    execution_id: int
    #: "input" (artifact -> execution) or "output" (execution -> artifact).
    kind: str
    #: The input or output name, and the index inside a list input/output.
    key: str
    index: int


@dataclass(frozen=True)
class LineageRecords:
    """The lineage subgraph around one artifact, as plain records."""

    start_artifact_id: int
    direction: str
    artifacts: Mapping[int, records.ArtifactRecord]
    steps: Mapping[int, records.StepRecord]
    #: Run name of each step, by execution id ("" when not recorded).
    step_runs: Mapping[int, str]
    events: tuple[LineageEvent, ...]


def query_lineage(store: MetadataStore, artifact_id: int, direction: str = "upstream",
                  max_hops: int = 20) -> LineageRecords:
    """The lineage of `artifact_id` within `max_hops` edges, in one subgraph query.

    An unknown artifact id gives empty records (no artifacts).

    Args:
        direction: "upstream" (what it was made from), "downstream" (what was
            made from it) or "both".
        max_hops: how many artifact/execution edges to follow (1..100).

    Raises:
        ConfigError: a bad direction or hop count.
    """
    if direction not in DIRECTIONS:
        raise ConfigError("direction", direction, "is not a lineage direction",
                          f"use one of: {', '.join(DIRECTIONS)}")
    if not isinstance(max_hops, int) or not 0 <= max_hops <= MAX_HOPS:
        raise ConfigError("max_hops", max_hops, f"must be an integer from 0 to {MAX_HOPS}",
                          "pass a smaller number of hops")
    options = pb.LineageSubgraphQueryOptions(
        starting_artifacts=pb.LineageSubgraphQueryOptions.StartingNodes(
            filter_query=f"id = {int(artifact_id)}"),
        max_num_hops=max_hops,
        direction=DIRECTIONS[direction],
    )
    try:
        graph = store.get_lineage_subgraph(options, field_mask_paths=FIELD_MASK)
    except StoreError as error:
        if is_not_found(error):  # MLMD: no starting node with this id
            return LineageRecords(artifact_id, direction, {}, {}, {}, ())
        raise
    from zen_mlmd.mlmd.reader import StoreReader
    from zen_mlmd.mlmd.step_owners import decode_owned_steps

    # Each execution in the convention of its run, so that steps and runs of
    # TFX or Kubeflow Pipelines are named as `get_run` names them.
    owned = decode_owned_steps(StoreReader(store), list(graph.executions), list(graph.events))
    # what `get_run` hides is no step here either (TFX's sub-pipeline nodes, KFP's DAGs);
    # the steps inside them consume and produce the same artifacts
    execution_types = store.types_by_id("execution", {e.type_id for e in graph.executions})
    hidden = {e.id for e in graph.executions if e.id in owned.conventions and e.type_id in execution_types
              and not owned.conventions[e.id].is_step_type(execution_types[e.type_id].name)}
    steps = {i: s for i, s in owned.steps.items() if i not in hidden}
    step_runs = {i: r for i, r in owned.runs.items() if i not in hidden}
    convention_of_artifact: dict[int, object] = {}
    for event in graph.events:
        if event.type in OUTPUT_EVENTS and event.execution_id in owned.conventions:
            convention_of_artifact.setdefault(event.artifact_id, owned.conventions[event.execution_id])
    native = get_convention("native")
    artifact_types = store.types_by_id("artifact", {a.type_id for a in graph.artifacts})
    artifacts = {a.id: convention_of_artifact.get(a.id, native).decode_artifact(
        a, artifact_types.get(a.type_id)) for a in graph.artifacts}
    events = []
    for event in graph.events:
        if event.artifact_id not in artifacts or event.execution_id not in steps:
            continue  # an edge to a node beyond the hop limit
        if event.type in INPUT_EVENTS:
            kind = "input"
        elif event.type in OUTPUT_EVENTS:
            kind = "output"
        else:
            continue
        for key, index in owned.conventions.get(event.execution_id, native).event_keys(event):
            events.append(LineageEvent(event.artifact_id, event.execution_id, kind, key, index))
    events.sort(key=lambda e: (e.execution_id, e.kind, e.key, e.index, e.artifact_id))
    return LineageRecords(artifact_id, direction, artifacts, steps, step_runs, tuple(events))
