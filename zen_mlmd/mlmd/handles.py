"""What a writer keeps of a run and of a step while they are being recorded.

`RunWriter` (`zen_mlmd.mlmd.writer`) returns these handles; they hold the
protos as written, so callers outside `zen_mlmd.mlmd` pass them back without
looking inside.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import WritableConvention
from zen_mlmd.mlmd.links import DeferredLinks


@dataclass
class RunHandle:
    """A run being recorded: its contexts, with their ids."""

    pipeline_name: str
    run_name: str
    pipeline_context: pb.Context
    run_context: pb.Context
    #: 0 when the convention links steps to no node context.
    node_type_id: int
    convention: WritableConvention
    node_contexts: dict[str, pb.Context] = field(default_factory=dict)
    #: The run-level execution of conventions that write one (else None).
    root_execution: pb.Execution | None = None
    #: Artifact ids of the outputs published so far, by `OutputRef`.
    published: dict[records.OutputRef, int] = field(default_factory=dict)
    #: Per-step context links that combined writes could not make (see `links`).
    deferred: DeferredLinks = field(default_factory=DeferredLinks)

    @property
    def run_id(self) -> int:
        return self.run_context.id


@dataclass
class StepHandle:
    """A started step: its execution as written."""

    run: RunHandle
    step: records.StepStart
    execution: pb.Execution
    #: Started in a write with another step: its node context is linked at the run's end.
    started_with_others: bool = False

    @property
    def execution_id(self) -> int:
        return self.execution.id
