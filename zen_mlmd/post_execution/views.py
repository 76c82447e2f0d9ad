"""Read-only views of recorded steps and artifacts.

Views are built from records that were already read (a whole run, or one
artifact with its producer): following `step.inputs`, `artifact.producer_step`
or `step.original` never calls MLMD. Only `artifact.read()` touches the
artifact store and `artifact.lineage()` makes one lineage query.
"""
from __future__ import annotations

import datetime as _dt
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence, Union

from zen_mlmd.errors import UnknownNameError
from zen_mlmd.mlmd import records
from zen_mlmd.post_execution import status as _status

if TYPE_CHECKING:
    from zen_mlmd.artifacts import ArtifactStore
    from zen_mlmd.post_execution.lineage import LineageGraph
    from zen_mlmd.post_execution.session import ReadSession

EMPTY: Mapping[str, Any] = types.MappingProxyType({})


def to_datetime(ms: int | None) -> _dt.datetime | None:
    """MLMD milliseconds since the epoch as an aware UTC datetime."""
    if ms is None:
        return None
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc)


def frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(mapping)) if mapping else EMPTY


@dataclass(frozen=True)
class RecordIndex:
    """Records the views of one read resolve each other through (no MLMD calls)."""

    session: "ReadSession"
    artifacts: Mapping[int, records.ArtifactRecord]
    #: Step records by execution id: the run's steps and the original steps
    #: of its cached steps (or one producer, for a single artifact).
    steps: Mapping[int, records.StepRecord]
    #: For each artifact: (producing execution id, output name).
    producers: Mapping[int, tuple[int, str]]
    #: Run name of each step by execution id.
    step_runs: Mapping[int, str]
    #: Execution ids of steps whose run is interrupted.
    interrupted: frozenset[int] = frozenset()
    #: The convention each step was read in, by execution id ("kfp", "tfx"...).
    step_conventions: Mapping[int, str] = field(default_factory=dict)

    def artifact(self, artifact_id: int) -> "Artifact | None":
        record = self.artifacts.get(artifact_id)
        return Artifact.from_record(record, self) if record is not None else None

    def step(self, execution_id: int) -> "Step | None":
        record = self.steps.get(execution_id)
        return Step.from_record(record, self) if record is not None else None


@dataclass(frozen=True)
class StepError:
    """Why a step failed: the exception type name, its message and traceback."""

    type: str
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.type else self.message


@dataclass(frozen=True)
class Artifact:
    """One recorded artifact: where its contents are, and how to read them.

    Attributes:
        type: the MLMD artifact type name, e.g. ``zen_mlmd.Model``.
        base_type: MLMD's system base type (DATASET, MODEL, METRICS,
            STATISTICS) or None for generic data.
        name: the output name it was recorded under (``model``).
        materializer: the name of the materializer that wrote it.
        content_hash: ``sha256:<hex>`` of the bytes written.
    """

    id: int
    name: str
    uri: str
    type: str
    base_type: str | None
    state: str
    created_time: _dt.datetime | None
    materializer: str
    data_type: str
    content_hash: str
    properties: Mapping[str, Any]
    _index: RecordIndex = field(repr=False, compare=False)

    @classmethod
    def from_record(cls, record: records.ArtifactRecord, index: RecordIndex) -> "Artifact":
        # an unnamed artifact (KFP's importer) is named by the output that produced it
        producer_output = index.producers.get(record.id, (0, ""))[1]
        return cls(
            id=record.id, name=str(record.properties.get("display_name") or record.name or producer_output),
            uri=record.uri, type=record.type_name, base_type=record.base_type,
            state=record.state.lower(), created_time=to_datetime(record.created_ms),
            materializer=record.materializer, data_type=record.data_type,
            content_hash=record.content_hash, properties=frozen(record.properties), _index=index,
        )

    @property
    def kind(self) -> str:
        """The artifact kind: "dataset", "model", "metrics", "statistics" or "data"."""
        return (self.base_type or "data").lower()

    @property
    def producer_step(self) -> "Step | None":
        """The step execution that produced this artifact (None if not known)."""
        producer = self._index.producers.get(self.id)
        return self._index.step(producer[0]) if producer else None

    @property
    def run_name(self) -> str:
        """The run whose step produced this artifact ("" if not known)."""
        producer = self._index.producers.get(self.id)
        return self._index.step_runs.get(producer[0], "") if producer else ""

    def read(self, trusted: bool = False, artifact_store: "ArtifactStore | str | None" = None) -> Any:
        """Load the contents through the materializer that wrote them, once they are checked.

        The URI must lie in an artifact store registered on this machine (or
        in `artifact_store`), and the bytes must match the recorded content
        hash, before any materializer runs (see `zen_mlmd.artifacts.reading`).

        Args:
            trusted: you trust everyone who can write to the metadata store and
                to the artifact store: formats that run code when loaded
                (pickle) are allowed. Stores marked trusted need no flag.
            artifact_store: one more artifact store (an `ArtifactStore`, a
                directory or a URL) to read from, for artifacts outside the
                registered ones.

        Raises:
            ArtifactTrustError: outside every trusted store, or pickle without trust.
            ArtifactIntegrityError: the bytes changed since they were recorded.
            MaterializerError: the contents were deleted or cannot be read, or
                another tool (TFX, Kubeflow) wrote them in a format zen_mlmd
                does not know (Kubeflow metrics are returned from properties).
            UnknownNameError: the materializer is not registered here.
        """
        from zen_mlmd.artifacts import ArtifactStore
        from zen_mlmd.artifacts.trust import RecordedArtifact, read_recorded
        from zen_mlmd.mlmd.convention_registry import writer_of

        stores = self._index.session.artifact_stores()
        if artifact_store is not None:
            named = artifact_store if isinstance(artifact_store, ArtifactStore) else ArtifactStore(artifact_store)
            stores = stores.with_store("named for this read", named)
        producer = self.producer_step
        record = RecordedArtifact(
            self.id, self.uri, self.type, self.materializer, self.data_type, self.content_hash,
            self.properties, writer=f"step {producer.name!r} of run {self.run_name!r}" if producer else "",
            producer_type=producer.type_name if producer else "",
            writing_tool=writer_of(self._index.step_conventions[producer.id])
            if producer and producer.id in self._index.step_conventions else "")
        return read_recorded(record, stores, trusted=trusted)

    def lineage(self, direction: str = "upstream", max_hops: int = 20,
                include_cached: bool = False) -> "LineageGraph":
        """The steps and artifacts this artifact came from and/or led to (one lineage query).

        Args:
            direction: "upstream", "downstream" or "both".
            max_hops: how many artifact/step edges to follow.
            include_cached: keep cached executions as nodes of their own
                (by default they are folded into the step they reused).
        """
        from zen_mlmd.post_execution.lineage import artifact_lineage

        return artifact_lineage(self._index.session, self.id, direction, max_hops, include_cached)

    def __str__(self) -> str:
        return f"{self.name} ({self.type} #{self.id})"


InputValue = Union[Artifact, tuple[Artifact, ...]]


@dataclass(frozen=True)
class Step:
    """One step execution of a run.

    Attributes:
        status: "running", "completed", "failed", "cached", "canceled",
            "interrupted", "pending" or "unknown".
        type_name: the step's MLMD execution type (its function's import path).
        parameters: the step's parameters as recorded (typed values).
        error: why the step failed (also set for canceled steps), else None.
        run_name: the run this execution belongs to.
    """

    id: int
    name: str
    type_name: str
    status: str
    run_name: str
    parameters: Mapping[str, Any]
    code_fingerprint: str
    cache_key: str
    error: StepError | None
    start_time: _dt.datetime | None
    end_time: _dt.datetime | None
    _record: records.StepRecord = field(repr=False, compare=False)
    _index: RecordIndex = field(repr=False, compare=False)

    @classmethod
    def from_record(cls, record: records.StepRecord, index: RecordIndex) -> "Step":
        status = _status.step_status(record.state, record.id in index.interrupted)
        error = None
        if record.error_type or record.error_message:
            error = StepError(record.error_type, record.error_message,
                              str(record.properties.get("error_traceback", "") or ""))
        return cls(
            id=record.id, name=record.name, type_name=record.type_name, status=status,
            run_name=index.step_runs.get(record.id) or str(record.properties.get("run_name", "")),
            parameters=frozen(record.parameters), code_fingerprint=record.code_fingerprint,
            cache_key=record.cache_key, error=error,
            start_time=to_datetime(record.start_ms), end_time=to_datetime(record.end_ms),
            _record=record, _index=index,
        )

    @property
    def duration(self) -> _dt.timedelta | None:
        """End minus start; None while the step has not ended."""
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time

    @property
    def properties(self) -> Mapping[str, Any]:
        """Everything the writer recorded on the execution (Kubeflow's `pod_name`, `image`, ...)."""
        return frozen(self._record.properties)

    @property
    def is_cached(self) -> bool:
        """True when the outputs were reused from an earlier execution."""
        return self._record.state == records.CACHED

    @property
    def original(self) -> "Step | None":
        """For a cached step: the earlier execution that produced the reused outputs."""
        original_id = self._record.original_execution_id
        if original_id is None:
            return None
        return self._index.step(original_id)

    @property
    def inputs(self) -> Mapping[str, InputValue]:
        """Input artifacts by input name; a list input is a tuple of artifacts."""
        return self._artifacts(self._record.inputs)

    @property
    def outputs(self) -> Mapping[str, InputValue]:
        """Output artifacts by output name (for a cached step, the reused ones)."""
        outputs = self._record.outputs
        if not outputs:  # an original step read without its events: from the producers
            grouped: dict[str, list[int]] = {}
            for artifact_id, (execution_id, name) in sorted(self._index.producers.items()):
                if execution_id == self.id:
                    grouped.setdefault(name, []).append(artifact_id)
            outputs = {name: tuple(ids) for name, ids in grouped.items()}
        return self._artifacts(outputs)

    def _artifacts(self, ids_by_name: Mapping[str, Sequence[int]]) -> Mapping[str, InputValue]:
        found: dict[str, InputValue] = {}
        for name, ids in ids_by_name.items():
            artifacts = tuple(a for a in (self._index.artifact(i) for i in ids) if a is not None)
            if not artifacts:
                continue
            found[name] = artifacts[0] if len(artifacts) == 1 else artifacts
        return types.MappingProxyType(found)

    def __str__(self) -> str:
        return f"{self.name} [{self.status}]"


class StepList(Sequence[Step]):
    """The steps of a run in DAG order, also indexable by step name."""

    __slots__ = ("_steps", "_by_name")

    def __init__(self, steps: Sequence[Step]):
        self._steps = tuple(steps)
        self._by_name = {step.name: step for step in self._steps}

    def __getitem__(self, key):
        if isinstance(key, str):
            try:
                return self._by_name[key]
            except KeyError:
                raise UnknownNameError("step", key, self._by_name) from None
        return self._steps[key]

    def __len__(self) -> int:
        return len(self._steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self._steps)

    def __contains__(self, item) -> bool:
        return item in self._by_name if isinstance(item, str) else item in self._steps

    def names(self) -> list[str]:
        return [step.name for step in self._steps]

    def __repr__(self) -> str:
        return f"StepList({self.names()})"
