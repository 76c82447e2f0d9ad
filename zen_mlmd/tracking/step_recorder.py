"""One running step of a run being recorded: save its outputs, then publish it or fail it.

`RunRecorder.start_step` / `begin_step` return a `StepRecorder`
(`zen_mlmd.tracking.recorder`); the run holds a publish back on its behalf.
"""
from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from zen_mlmd.artifacts.kinds import ArtifactKind
from zen_mlmd.artifacts.writing import write_artifact
from zen_mlmd.errors import ConfigError, PublishWrittenError
from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.handles import StepHandle
from zen_mlmd.tracking.names import validate_name

if TYPE_CHECKING:
    from zen_mlmd.tracking.recorder import RunRecorder


class StepRecorder:
    """One running step: save its outputs, then publish it or fail it."""

    def __init__(self, run: "RunRecorder", handle: StepHandle):
        self._run = run
        self._handle = handle
        self._saved: dict[str, list[records.OutputArtifact]] = {}
        self.output_ids: dict[str, tuple[int, ...]] = {}

    @property
    def name(self) -> str:
        return self._handle.step.name

    @property
    def execution_id(self) -> int:
        return self._handle.execution_id

    @property
    def saved_outputs(self) -> dict[str, list[records.OutputArtifact]]:
        """Outputs saved so far, by output name."""
        return self._saved

    def raise_if_published(self, error: BaseException) -> None:
        """After a publish raised `error`: stop here if the store holds it anyway (one MLMD read).

        A write can be committed and its answer lost (a connection dropped
        after the commit). Recording the step FAILED then, or removing its
        outputs, would leave LIVE artifacts without files under a failed step.

        Raises:
            PublishWrittenError: the publish was written (the step is
                COMPLETE, its outputs LIVE and kept), or the store cannot
                tell: nothing more is recorded, the run reads interrupted.
        """
        try:
            state = self._run._writer.step_state(self._handle)
        except Exception as exc:
            raise PublishWrittenError(
                f"step {self.name!r}: its publish failed ({type(error).__name__}: {error}) and the store "
                f"cannot say whether it was written ({exc}); its outputs are kept. Fix: once the "
                "store answers, read the run back (`zen-mlmd run describe RUN`) before recording "
                "more") from error
        if state == records.COMPLETE:
            raise PublishWrittenError(
                f"step {self.name!r}: its publish was written, but the store's answer was lost "
                f"({type(error).__name__}: {error}); the step is COMPLETE with its outputs LIVE and "
                "kept. Fix: read the run back (`zen-mlmd run describe RUN`) before recording more") from error

    def heartbeat(self) -> None:
        """Record that the step is still running (one MLMD write; see `tracking.heartbeat`).

        Safe to call from another thread while the step's function runs; not
        after `publish` or `fail`.
        """
        self._run._writer.heartbeat_step(self._handle)

    def output_uri(self, output_name: str, index: int = 0) -> str:
        """Where the artifact store keeps this output: `<root>/<pipeline>/<run>/<step>/<output>`."""
        store = self._require_artifact_store()
        validate_name("output", output_name)
        uri = store.uri_for(self._run.pipeline_name, self._run.name, self.name, output_name)
        return f"{uri}/{index}" if index else uri

    def save_output(self, output_name: str, value: Any, kind=None, materializer=None,
                    index: int = 0) -> records.OutputArtifact:
        """Write `value` through its materializer; it is published with the step."""
        store = self._require_artifact_store()
        written = write_artifact(value, self.output_uri(output_name, index), store, materializer)
        kind_name = ArtifactKind.parse(kind).value if kind is not None else written.kind.value
        output = records.OutputArtifact(
            uri=written.uri, kind=kind_name,
            materializer=written.materializer, data_type=written.data_type,
            content_hash=written.content_hash, size_bytes=written.size_bytes,
            # the key on the output too: a cache lookup finds outputs in one call
            properties={**self._run._recorder.convention.output_metadata(kind_name, value),
                        "cache_key": self._handle.step.cache_key or None},
        )
        self._saved.setdefault(output_name, []).append(output)
        return output

    def publish(
        self, outputs: Mapping[str, records.OutputArtifact | Sequence[records.OutputArtifact]] | None = None,
        *, defer: bool = False,
    ) -> dict[str, tuple]:
        """Record the step COMPLETE with its outputs LIVE (one MLMD write).

        Args:
            outputs: outputs an orchestrator wrote itself; by default the ones
                saved with `save_output`.
            defer: hold the publish back and write it with the run's next
                write: in the same transaction as the next `begin_step` /
                `start_step`, else alone before any other write or by
                `finish` (`flush` writes it at once). Until then the step
                reads as RUNNING.

        Returns:
            The output artifact ids by output name; with `defer`, an
            `OutputRef` for each (pass them as the next steps' inputs;
            `output_ids` holds the ids once written).
        """
        if outputs is None:
            grouped = dict(self._saved)
        else:
            grouped = {name: ([out] if isinstance(out, records.OutputArtifact) else list(out))
                       for name, out in outputs.items()}
        run = self._run
        if run._held is not None and run._held[0] is not self:
            run.flush()
        if not defer:
            run._held = None
            self.output_ids = run._writer.publish_step(self._handle, grouped)
            return self.output_ids
        for name in grouped:
            validate_name("output", name)
        run._held = (self, grouped)
        return {name: tuple(records.OutputRef(self.execution_id, name, index) for index in range(len(items)))
                for name, items in grouped.items()}

    def fail(self, error: BaseException | str, error_type: str | None = None,
             remove_outputs: bool = True) -> None:
        """Record the step FAILED with the error and its traceback (one write).

        Args:
            remove_outputs: delete the outputs saved so far from the artifact
                store (nothing half-written stays behind). Keep them when the
                failure came from publishing: the publish may have committed.
        """
        run = self._run
        if run._held is not None:
            if run._held[0] is self:
                run._held = None  # its publish is not written: the step fails instead
            else:
                run.flush()
        if remove_outputs:
            remove_saved_outputs(run._recorder.artifact_store, self._saved)
        self._saved.clear()
        error_type, message, trace = describe_error(error, error_type)
        self._run._writer.fail_step(self._handle, error_type, message, trace)
        self._run.failed_steps.append(self.name)

    def _require_artifact_store(self):
        store = self._run._recorder.artifact_store
        if store is None:
            raise ConfigError(
                "artifact_store", None, "this recorder has no artifact store to save outputs in",
                "pass artifact_store= to Recorder, or publish outputs you wrote yourself",
            )
        return store


def remove_saved_outputs(store, saved: Mapping[str, Sequence[records.OutputArtifact]]) -> None:
    """Delete the files of outputs saved but not published (a failing step leaves nothing half-written)."""
    for outputs in saved.values():
        for output in outputs:
            try:
                store.delete(output.uri)
            except Exception:  # a missing file must not hide the step's own error
                pass


def describe_error(error: BaseException | str, error_type: str | None = None) -> tuple[str, str, str]:
    """(error type, message, traceback text) of what made a step fail; "" when there is no traceback."""
    if not isinstance(error, BaseException):
        return error_type or "Error", error, ""
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return error_type or type(error).__name__, str(error), trace
