"""Plain, immutable records of what is stored in MLMD.

These are what the `mlmd` layer hands to the rest of zen_mlmd: no protos.
Times are milliseconds since the epoch, as MLMD keeps them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# Execution states, as MLMD names them (`Execution.State`).
RUNNING = "RUNNING"
COMPLETE = "COMPLETE"
FAILED = "FAILED"
CACHED = "CACHED"
CANCELED = "CANCELED"
NEW = "NEW"
UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class PipelineRecord:
    id: int
    name: str
    created_ms: int
    properties: Mapping[str, Any] = field(default_factory=dict)
    convention: str = "native"


@dataclass(frozen=True)
class RunRecord:
    """A pipeline run: its context and what the writer said about it."""

    id: int
    name: str
    pipeline_name: str
    created_ms: int
    updated_ms: int
    #: The status the writer recorded when the run ended ("completed",
    #: "failed", ...), or "" while it has not ended (or was interrupted).
    recorded_status: str = ""
    end_ms: int | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    #: Who runs it: {"host": ..., "pid": ..., "pid_started": ...}; lets a
    #: reader on the same host tell a live run from an interrupted one.
    owner: Mapping[str, Any] = field(default_factory=dict)
    properties: Mapping[str, Any] = field(default_factory=dict)
    convention: str = "native"
    #: The writer's id of the run where its context is named by it rather
    #: than by `name` (Kubeflow Pipelines' run ID); "" otherwise.
    run_id: str = ""
    #: When a soft delete over gRPC marked the run (ISO 8601 UTC), "" if it
    #: did not: its rows remain; listings hide it, `get_run` still finds it.
    deleted_at: str = ""


@dataclass(frozen=True)
class StepRecord:
    """One step execution of a run."""

    id: int
    name: str
    type_name: str
    state: str
    created_ms: int
    updated_ms: int
    parameters: Mapping[str, Any] = field(default_factory=dict)
    #: Input / output artifact ids by name, in event-path index order.
    inputs: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    outputs: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    code_fingerprint: str = ""
    cache_key: str = ""
    original_execution_id: int | None = None
    error_type: str = ""
    error_message: str = ""
    start_ms: int | None = None
    end_ms: int | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArtifactRecord:
    """One artifact: where its contents are and how to read them."""

    id: int
    name: str
    uri: str
    type_name: str
    base_type: str | None
    state: str
    created_ms: int
    materializer: str = ""
    data_type: str = ""
    content_hash: str = ""
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputArtifact:
    """An output whose contents are already in the artifact store, to be published."""

    uri: str
    kind: str  # an ArtifactKind value: "dataset", "model", ...
    materializer: str
    data_type: str
    content_hash: str = ""
    size_bytes: int | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunData:
    """Everything recorded about one run, read in a bounded number of calls."""

    run: RunRecord
    steps: tuple[StepRecord, ...]
    artifacts: Mapping[int, ArtifactRecord]
    #: For every artifact of the run: (producing execution id, output name).
    producers: Mapping[int, tuple[int, str]]
    #: Steps outside the run that produced reused outputs (cached steps).
    original_steps: Mapping[int, StepRecord] = field(default_factory=dict)
    #: Run name of each step in `original_steps`, by execution id.
    original_runs: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StepStart:
    """What is known about a step when it starts (or is served from the cache)."""

    name: str
    #: The step's execution type: its function's import path (as TFX uses a
    #: component's class path), shared by every pipeline that uses the step.
    type_name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    #: Input artifact ids by input name (a list input keeps its order); an
    #: `OutputRef` stands for an output whose publish is not written yet.
    inputs: Mapping[str, tuple["int | OutputRef", ...]] = field(default_factory=dict)
    code_fingerprint: str = ""
    cache_key: str = ""
    #: The parts the cache key was computed from, to explain a cache miss.
    cache_key_parts: Mapping[str, Any] = field(default_factory=dict)
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputRef:
    """An output of a step whose publish is held back, named before its artifact id exists.

    A held-back publish is written together with the next step's start (one
    MLMD transaction), so the consumer of an output names it this way; the
    writer turns it into the artifact's id (see `zen_mlmd.mlmd.writer`).
    """

    #: The execution that produces the output.
    execution_id: int
    output_name: str
    index: int = 0
