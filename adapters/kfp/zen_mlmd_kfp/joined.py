"""A KFP task that records its step in the execution KFP's own launcher records: one record per task.

On a cluster KFP's driver has created the run context, the root DAG and
this task's `system.ContainerExecution` before the task's process starts,
and the driver has recorded its INPUT events; the launcher will publish
the execution and record the output artifacts when the process exits. The
task adds zen_mlmd's facts to that execution (`step_facts`), never a second
execution:

* start (or a cache hit): ONE `put_execution`, the execution as the launcher
  pre-published it plus the step's facts (run name, step type, code
  fingerprint, cache key, parameters), still RUNNING;
* a heartbeat during a long step: ONE `put_execution` per interval;
* a failure: ONE `put_execution`, FAILED with the error (the launcher
  records FAILED too once the process exits non-zero, without it: the facts
  are also left in the artifact store for the run's end task);
* a success: no write here: the facts of the outputs go out as the task's
  `zen_mlmd` output parameter and the KFP outputs' URIs, which the
  launcher's publish records (`step_facts`).

`JoinedRun` and `JoinedStep` have the methods `StepRunner` calls on a
`RunRecorder` and a `StepRecorder`.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import quote
from zen_mlmd.tracking.names import validate_name
from zen_mlmd.tracking.step_recorder import describe_error, remove_saved_outputs

from zen_mlmd_kfp.step_facts import failure_uri, output_facts, start_facts, with_facts, write_failure

#: Set by KFP on every task pod (`backend/src/v2/compiler/argocompiler/common.go`, `commonEnvs`).
POD_NAME_VARIABLE = "KFP_POD_NAME"


def find_task_execution(store, run_id: str) -> pb.Execution | None:
    """The execution KFP's driver created for this pod's task, in run `run_id` (one call).

    KFP's launcher writes the pod's name into it (`prePublish`) before it
    starts the task's command. None outside a KFP pod (kfp.local), or when
    this KFP records nothing in MLMD.
    """
    from ml_metadata.metadata_store.metadata_store import ListOptions

    pod = os.environ.get(POD_NAME_VARIABLE)
    if not pod or not run_id:
        return None
    found = store.get_executions(list_options=ListOptions(filter_query=(
        f"contexts_a.type = 'system.PipelineRun' AND contexts_a.name = {quote(run_id)} "
        f"AND custom_properties.pod_name.string_value = {quote(pod)}")))
    return max(found, key=lambda e: e.id) if found else None  # a retried pod: its newest attempt


class JoinedRun:
    """The run as one task sees it when KFP records it (see the module docstring).

    Args:
        run: the run (`recording.attach_run`), its root DAG adopted.
        execution: this task's execution, as KFP's launcher pre-published it.
        run_id: the KFP run ID. Outputs are saved under
            `<artifact store>/<KFP pipeline name>/<run id>/<step>/<output>`:
            with the artifact store as KFP's pipeline root, that is inside the
            run's own root (`<root>/<pipeline>/<run id>`), the only place the
            launcher records an output at a URI the task gives
            (`objectstore.Config.KeyFromURI`).
    """

    held_step = None
    held_step_cache_key = ""

    def __init__(self, run, execution: pb.Execution, artifact_store, kfp_pipeline_name: str, run_id: str):
        self._run = run
        self.execution = execution
        self.artifact_store = artifact_store
        self.place = (kfp_pipeline_name, run_id)
        self.facts: dict[str, Any] = {}
        self.ended = False

    @property
    def name(self) -> str:
        return self._run.name

    @property
    def pipeline_name(self) -> str:
        return self._run.pipeline_name

    @property
    def store(self):
        return self._run.store

    def step_start(self, name, type_name, parameters=None, inputs=None, code_fingerprint="",
                   cache_key="", cache_key_parts=None, properties=None) -> records.StepStart:
        """The record of a step start, validated (no MLMD call)."""
        validate_name("step", name)
        return records.StepStart(
            name=name, type_name=type_name, parameters=dict(parameters or {}),
            inputs={k: tuple(v) for k, v in (inputs or {}).items()}, code_fingerprint=code_fingerprint,
            cache_key=cache_key, cache_key_parts=dict(cache_key_parts or {}), properties=dict(properties or {}))

    def flush(self) -> None:
        """Nothing is held back: each write goes out at once."""

    def record_cached_step(self, start: records.StepStart, original_execution_id: int,
                           outputs: Mapping[str, Sequence[int]]) -> int:
        """The step's facts with the execution whose outputs it reuses (one write)."""
        self.facts = {**start_facts(self.name, start, inputs_recorded=True),
                      "cached_execution_id": str(original_execution_id)}
        self._write(self.facts)
        return self.execution.id

    def begin_step(self, start: records.StepStart) -> "JoinedStep":
        """The step's facts on KFP's execution, RUNNING (one write)."""
        self.facts = start_facts(self.name, start, inputs_recorded=True)
        self._write(self.facts)
        return JoinedStep(self, start)

    def finish(self, status: str | None = None) -> None:
        """Left to the run's end task, which runs once every task has ended."""

    def _write(self, facts: Mapping[str, Any], state: str | None = None) -> None:
        self.execution = with_facts(self.execution, facts, state)
        self.store.put_execution(self.execution, [], [])


class JoinedStep:
    """One running step of a `JoinedRun`."""

    def __init__(self, run: JoinedRun, start: records.StepStart):
        self._run = run
        self._start = start
        self._saved: dict[str, list[records.OutputArtifact]] = {}

    @property
    def name(self) -> str:
        return self._start.name

    @property
    def execution_id(self) -> int:
        return self._run.execution.id

    @property
    def saved_outputs(self) -> dict[str, list[records.OutputArtifact]]:
        return self._saved

    def heartbeat(self) -> None:
        """The execution again, stamped now (one write; see `zen_mlmd.tracking.heartbeat`)."""
        import time

        from zen_mlmd.tracking.heartbeat import PROPERTY

        beat = pb.Execution()
        beat.CopyFrom(self._run.execution)
        beat.custom_properties[PROPERTY].double_value = time.time()
        self._run.store.put_execution(beat, [], [])

    def save_output(self, output_name: str, value: Any, kind=None, materializer=None,
                    index: int = 0) -> records.OutputArtifact:
        """Write `value` into the zen_mlmd artifact store, under the KFP run's place (see `JoinedRun`)."""
        from zen_mlmd.artifacts import write_artifact
        from zen_mlmd.artifacts.kinds import ArtifactKind

        validate_name("output", output_name)
        store = self._run.artifact_store
        uri = store.uri_for(*self._run.place, self.name, output_name)
        written = write_artifact(value, f"{uri}/{index}" if index else uri, store, materializer)
        kind_name = ArtifactKind.parse(kind).value if kind is not None else written.kind.value
        output = records.OutputArtifact(uri=written.uri, kind=kind_name, materializer=written.materializer,
                                        data_type=written.data_type, content_hash=written.content_hash,
                                        size_bytes=written.size_bytes)
        self._saved.setdefault(output_name, []).append(output)
        return output

    def publish(self, outputs=None, *, defer: bool = False) -> dict[str, tuple]:
        """The outputs' facts, for the task's `zen_mlmd` output; KFP's launcher records the artifacts.

        Returns no artifact ids: they exist once the launcher has recorded them.
        """
        self._run.facts.update(output_facts(self._saved))
        return {name: (None,) * len(items) for name, items in self._saved.items()}

    def fail(self, error: BaseException | str, error_type: str | None = None,
             remove_outputs: bool = True) -> None:
        """FAILED with the error (one write); outputs saved but never published are removed."""
        if remove_outputs:
            remove_saved_outputs(self._run.artifact_store, self._saved)
        self._saved.clear()
        error_type, message, trace = describe_error(error, error_type)
        self._run.facts.update({"error_type": error_type, "error_message": message[:4000],
                                "error_traceback": trace[-8000:] or None})
        self._run._write(self._run.facts, records.FAILED)
        # KFP's launcher publishes the execution it read before the task ran: these
        # facts go, and a failed task has no outputs to carry them (`step_facts`)
        write_failure(self._run.artifact_store, failure_uri(self._run.artifact_store, *self._run.place, self.name),
                      {k: v for k, v in self._run.facts.items() if v is not None})
