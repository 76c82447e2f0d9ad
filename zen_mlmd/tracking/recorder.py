"""The recorder: the write API any orchestrator calls to record its runs.

Our local orchestrator uses it, and so can a TFX- or Kubeflow-style one::

    recorder = Recorder(stack.metadata_store.open(), stack.artifact_store.open())
    with recorder.start_run("training", config={...}) as run:
        step = run.start_step("train", type_name="my.module.train",
                              parameters={"lr": 0.1}, inputs={"data": (7,)})
        try:
            step.save_output("model", model)        # contents -> artifact store
            ids = step.publish()                    # COMPLETE + LIVE outputs
        except Exception as exc:
            step.fail(exc)                          # FAILED, outputs removed
            raise

Each step costs two MLMD writes (start, publish) however many inputs and
outputs it has; a cache hit costs one. An orchestrator that starts the next
step as soon as one is done holds the publish back, `step.publish(defer=True)`:
it is then written in ONE transaction with the next `start_step` (or alone
by the run's next other write, at the latest by `finish`), so a run of S
steps costs S+1 step writes. A run that ends with an exception inside the
`with` block is recorded as failed; a process that is killed leaves a run
that readers report as interrupted (see `owner.py`). An orchestrator whose
steps run on other hosts records a heartbeat instead of its own process
(`Recorder(..., owner=heartbeat_owner(current_owner()))`, and
`with Heartbeat(step.heartbeat, 30):` around long work; see `heartbeat.py`).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from zen_mlmd.errors import PublishFailedError, StoreUnavailableError
from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.mlmd.handles import RunHandle
from zen_mlmd.mlmd.writer import RunWriter
from zen_mlmd.tracking.names import default_run_name, validate_name
from zen_mlmd.tracking.owner import current_owner
from zen_mlmd.tracking.step_recorder import StepRecorder

__all__ = ["Recorder", "RunRecorder", "StepRecorder", "default_run_name", "validate_name"]

RUN_COMPLETED = "completed"
RUN_FAILED = "failed"


class Recorder:
    """Records runs into one metadata store, contents into one artifact store.

    Args:
        store: an open `zen_mlmd.mlmd.store.MetadataStore`.
        artifact_store: a `zen_mlmd.artifacts.ArtifactStore` (needed only to
            save outputs through materializers; publishing outputs an
            orchestrator wrote itself does not need it).
        convention: the `zen_mlmd.mlmd.convention.Convention` to record in
            (`get_convention("kfp")` for Kubeflow Pipelines' schema); native
            by default.
        owner: who records the runs it starts; by default this process (its
            host and pid, which a reader on this host checks). An orchestrator
            whose steps run on other hosts passes
            `tracking.heartbeat.heartbeat_owner(...)` and has each step call
            `StepRecorder.heartbeat` during long work.

    Raises:
        ConfigError: the convention cannot be written.
    """

    def __init__(self, store: MetadataStore, artifact_store=None, convention=None,
                 owner: Mapping[str, Any] | None = None):
        self.store = store
        self.artifact_store = artifact_store
        self._writer = RunWriter(store, convention)
        #: Recorded with each run started: this process, unless the caller says
        #: otherwise (`tracking.heartbeat.heartbeat_owner` for steps run elsewhere).
        self.owner = dict(owner) if owner is not None else None

    @property
    def convention(self):
        """The convention runs are recorded in."""
        return self._writer.convention

    def start_run(
        self,
        pipeline_name: str,
        run_name: str | None = None,
        config: Mapping[str, Any] | None = None,
        pipeline_properties: Mapping[str, Any] | None = None,
        step_names: Sequence[str] = (),
    ) -> "RunRecorder":
        """Record the start of a run: its pipeline config snapshot and start time.

        Args:
            step_names: the names of the steps the run will start, where the
                orchestrator knows them (a hint: other steps may start too).
                Their per-step contexts are then found in the call that finds
                the pipeline's, instead of at the run's end.

        Raises:
            AlreadyExistsError: `run_name` is taken (run names are unique).
            ConfigError: a name is not valid.
        """
        validate_name("pipeline", pipeline_name)
        run_name = validate_name("run", run_name or default_run_name(pipeline_name))
        handle = self._writer.start_run(
            pipeline_name, run_name, dict(config or {}), self.owner or current_owner(), pipeline_properties,
            [validate_name("step", name) for name in step_names],
        )
        return RunRecorder(self, handle)


class RunRecorder:
    """One run being recorded. Use it as a context manager to end it."""

    def __init__(self, recorder: Recorder, handle: RunHandle):
        self._recorder = recorder
        self._writer = recorder._writer
        self._handle = handle
        self.failed_steps: list[str] = []
        self.ended = False
        #: A step whose publish is held back, with the outputs to publish.
        self._held: tuple[StepRecorder, dict[str, list[records.OutputArtifact]]] | None = None

    @property
    def name(self) -> str:
        return self._handle.run_name

    @property
    def pipeline_name(self) -> str:
        return self._handle.pipeline_name

    @property
    def id(self) -> int:
        """The MLMD id of the run's context."""
        return self._handle.run_id

    @property
    def store(self) -> MetadataStore:
        return self._recorder.store

    def start_step(
        self,
        name: str,
        type_name: str,
        parameters: Mapping[str, Any] | None = None,
        inputs: Mapping[str, int | Sequence[int]] | None = None,
        code_fingerprint: str = "",
        cache_key: str = "",
        cache_key_parts: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> "StepRecorder":
        """Record a RUNNING step with its INPUT events (one MLMD write).

        Args:
            inputs: input artifact ids by input name; a sequence for a list input.
        """
        return self.begin_step(self.step_start(name, type_name, parameters, inputs, code_fingerprint,
                                               cache_key, cache_key_parts, properties))

    def begin_step(self, start: records.StepStart) -> "StepRecorder":
        """Record a RUNNING step from a prepared `step_start` record (one MLMD write).

        A held-back publish goes out in the same transaction; `start` may name
        that step's outputs by the `OutputRef`s its `publish` returned.

        Raises:
            PublishFailedError: the held-back publish could not be written (the
                step is recorded failed); this step was not started.
        """
        if self._held is None:
            return StepRecorder(self, self._writer.start_step(self._handle, start))
        held, outputs = self._held
        try:
            ids, handle = self._writer.publish_and_start(held._handle, outputs, start)
        except StoreUnavailableError:
            raise  # it may have been written: the run will read as interrupted
        except Exception as exc:
            held.raise_if_published(exc)
            # Nothing was written: find out which of the two writes fails on its own.
            self.flush()
            return StepRecorder(self, self._writer.start_step(self._handle, start))
        self._held = None
        held.output_ids = ids
        return StepRecorder(self, handle)

    @property
    def held_step(self) -> str | None:
        """The step whose publish is held back (see `StepRecorder.publish`), if any."""
        return self._held[0].name if self._held is not None else None

    @property
    def held_step_cache_key(self) -> str:
        """The cache key of the step whose publish is held back ("" if none)."""
        return self._held[0]._handle.step.cache_key if self._held is not None else ""

    def flush(self) -> None:
        """Write a held-back publish now, alone (one MLMD write; nothing if none is held).

        Raises:
            PublishFailedError: it could not be written; the step is recorded
                failed and its saved outputs are removed.
        """
        if self._held is None:
            return
        held, outputs = self._held
        self._held = None
        try:
            held.output_ids = self._writer.publish_step(held._handle, outputs)
        except StoreUnavailableError:
            raise
        except Exception as exc:
            held.raise_if_published(exc)
            held.fail(exc)  # nothing was written: the saved outputs go too
            raise PublishFailedError(held.name, exc) from exc

    def step_start(
        self, name, type_name, parameters=None, inputs=None, code_fingerprint="",
        cache_key="", cache_key_parts=None, properties=None,
    ) -> records.StepStart:
        """The record of a step start, validated (no MLMD call)."""
        validate_name("step", name)
        normalized = {}
        for key, ids in (inputs or {}).items():
            validate_name("input", key)
            normalized[key] = (ids,) if isinstance(ids, (int, records.OutputRef)) else tuple(ids)
        return records.StepStart(
            name=name, type_name=type_name, parameters=dict(parameters or {}),
            inputs=normalized, code_fingerprint=code_fingerprint, cache_key=cache_key,
            cache_key_parts=dict(cache_key_parts or {}), properties=dict(properties or {}),
        )

    def record_cached_step(
        self, start: records.StepStart, original_execution_id: int,
        outputs: Mapping[str, Sequence[int]],
    ) -> int:
        """Record a step served from the cache: CACHED, linked to the reused outputs (one write).

        A held-back publish is written first (see `flush`).
        """
        self.flush()
        return self._writer.record_cached_step(self._handle, start, original_execution_id, outputs)

    def cancel_step(self, start: records.StepStart, reason: str) -> int:
        """Record a step that will not run because an upstream step failed (one write).

        A held-back publish is written first (see `flush`).
        """
        self.flush()
        return self._writer.cancel_step(self._handle, start, reason)

    def finish(self, status: str | None = None) -> None:
        """Record the end of the run: "failed" if a step failed, else "completed".

        A held-back publish is written in the same transaction (one MLMD
        write). If that fails, the publish is written alone: if it fails
        again, its step is recorded failed, the run ends as failed and the
        `PublishFailedError` is raised after.
        """
        if self.ended:
            return
        if self._held is not None:
            held, outputs = self._held
            try:
                held.output_ids = self._writer.end_run(
                    self._handle, status or (RUN_FAILED if self.failed_steps else RUN_COMPLETED),
                    publish=(held._handle, outputs))
            except StoreUnavailableError:
                raise  # it may have been written: the run will read as interrupted
            except Exception as exc:
                held.raise_if_published(exc)  # else nothing was written: the two apart, below
            else:
                self._held = None
                self.ended = True
                return
        error = None
        try:
            self.flush()
        except PublishFailedError as exc:
            error = exc
        status = status or (RUN_FAILED if self.failed_steps else RUN_COMPLETED)
        self._writer.end_run(self._handle, status)
        self.ended = True
        if error is not None:
            raise error

    def __enter__(self) -> "RunRecorder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and issubclass(exc_type, StoreUnavailableError):
            return  # the store is gone: the run will read as interrupted
        try:
            self.finish(RUN_FAILED if exc_type is not None else None)
        except PublishFailedError:
            if exc_type is None:
                raise  # else the exception already on its way is the one to see
