"""What zen_mlmd knows about a step that KFP's launcher records, and where it is kept.

On a cluster KFP's driver creates each task's `system.ContainerExecution`
and its launcher publishes it after the task's process exits, writing back
the copy it read before the process started (kubeflow/pipelines
`backend/src/v2/component/launcher_v2.go` `Execute`: `prePublish`, then
`publish` -> `metadata/client.go` `PublishExecution`): every custom property
the task added in between is gone (MLMD replaces the properties of an
execution it updates). What survives is what the launcher writes itself:

* the task's output parameters, in the execution's `outputs` struct: every
  zen_mlmd task has one, `zen_mlmd` (`FACTS_PARAMETER`), holding these facts;
* each output artifact's URI and metadata, which the task sets on its KFP
  output (`mergeRuntimeArtifacts`): the URI of the contents in the zen_mlmd
  artifact store (when it lies under the pipeline root) and, on a
  `system.Metrics` artifact, its numbers.

So a task writes its facts onto the execution (as top-level properties,
while it runs: readers and the heartbeat see them) AND returns them as its
`zen_mlmd` output. A failed task has no outputs: it leaves its facts (and
its error) in the artifact store instead, next to where its outputs would
be (`failure_uri`). The run's end task (`end_run`) then writes them back as
top-level properties of every step (one read, one write for the run), where
the cache lookup and the readers find them, exactly as in a run zen_mlmd
recorded alone. A reader also takes them from `outputs.zen_mlmd` before the
end task has run.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd_kfp.kfp_values import set_execution_properties

#: The output parameter of every zen_mlmd task (and its key in the execution's `outputs`).
FACTS_PARAMETER = "zen_mlmd"
#: Execution property: the step's parameters (KFP's `inputs` holds the task's own parameters).
PARAMETERS_PROPERTY = "zen_mlmd_parameters"
#: Execution property: the step's name (KFP's `display_name` may be the task key).
STEP_NAME = "zen_mlmd_step"
#: What a failed task leaves in the artifact store, in its step's folder.
FAILURE_FILE = "zen_mlmd_failure.json"
#: Step properties KFP's own execution already has (never overwritten by a task).
_KFP_OWNED = frozenset({"pod_name", "pod_uid", "namespace", "image", "task_name", "parent_dag_id",
                        "inputs", "outputs"})


def start_facts(run_name: str, step: records.StepStart, inputs_recorded: bool) -> dict[str, Any]:
    """The facts of a step that starts (or is served from the cache): JSON values only.

    Args:
        inputs_recorded: KFP's driver recorded the step's INPUT events; the
            input ids are kept only where events cannot tell them apart.
    """
    from zen_mlmd_kfp.writing import INPUTS_PROPERTY, RUN_NAME, STEP_TYPE

    facts: dict[str, Any] = {
        STEP_NAME: step.name, "display_name": step.name, RUN_NAME: run_name, STEP_TYPE: step.type_name,
        "code_fingerprint": step.code_fingerprint or None, "cache_fingerprint": step.cache_key or None,
        "cache_key_parts": dict(step.cache_key_parts) or None, PARAMETERS_PROPERTY: dict(step.parameters),
    }
    facts.update({k: v for k, v in step.properties.items() if k not in _KFP_OWNED})
    if not inputs_recorded and any(len(ids) > 1 for ids in step.inputs.values()):
        facts[INPUTS_PROPERTY] = {k: [int(i) for i in v] for k, v in step.inputs.items()}
    return {k: v for k, v in facts.items() if v is not None}


def output_facts(outputs: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """`zen_mlmd_outputs`: per output, in list order, what zen_mlmd recorded about it (with its URI)."""
    from zen_mlmd_kfp.writing import OUTPUTS_PROPERTY

    return {OUTPUTS_PROPERTY: {
        name: [{"kind": str(o.kind).upper(), "materializer": o.materializer, "data_type": o.data_type,
                "content_hash": o.content_hash, "size_bytes": o.size_bytes, "uri": o.uri} for o in items]
        for name, items in outputs.items()}}


def failure_uri(artifact_store, kfp_pipeline_name: str, run_id: str, step_name: str) -> str:
    """Where a failed task leaves its facts: `<store>/<KFP pipeline>/<run id>/<step>/zen_mlmd_failure.json`."""
    return artifact_store.uri_for(kfp_pipeline_name, run_id, step_name, FAILURE_FILE)


def write_failure(artifact_store, uri: str, facts: Mapping[str, Any]) -> None:
    """Leave a failed step's facts at `uri` (best effort: the step's own error matters more)."""
    import json
    import logging

    try:
        with artifact_store.open(uri, "w") as handle:
            json.dump(dict(facts), handle, default=str)
    except Exception as exc:
        logging.getLogger(__name__).warning("zen_mlmd: the failed step's facts were not saved at %s: %s",
                                            uri, exc)


def read_failure(artifact_store, uri: str) -> dict[str, Any] | None:
    """The facts a failed task left at `uri`, or None."""
    import json

    try:
        with artifact_store.open(uri, "r") as handle:
            facts = json.load(handle)
    except (OSError, ValueError):
        return None
    return facts if isinstance(facts, dict) else None


def with_facts(execution: pb.Execution, facts: Mapping[str, Any], state: str | None = None) -> pb.Execution:
    """A copy of `execution` with `facts` as top-level properties (and `state`, if given)."""
    updated = pb.Execution()
    updated.CopyFrom(execution)
    if state is not None:
        updated.last_known_state = pb.Execution.State.Value(state)
    set_execution_properties(updated.custom_properties, facts)
    return updated


def facts_of(props: Mapping[str, Any]) -> dict[str, Any]:
    """The facts a task handed to KFP's launcher (`outputs.zen_mlmd`), or {}."""
    outputs = props.get("outputs")
    facts = outputs.get(FACTS_PARAMETER) if isinstance(outputs, Mapping) else None
    return dict(facts) if isinstance(facts, Mapping) else {}


def restored(execution: pb.Execution) -> pb.Execution | None:
    """`execution` with the facts its launcher kept in `outputs` written back on top (None: nothing to do).

    A step served from zen_mlmd's cache becomes CACHED, as zen_mlmd records cache hits.
    """
    outputs = execution.custom_properties.get("outputs")
    if outputs is None or outputs.WhichOneof("value") != "struct_value":
        return None
    field = outputs.struct_value.fields.get(FACTS_PARAMETER)
    if field is None or field.WhichOneof("kind") != "struct_value":
        return None
    from google.protobuf.json_format import MessageToDict

    facts = MessageToDict(field.struct_value)
    state = records.CACHED if facts.get("cached_execution_id") and \
        execution.last_known_state == pb.Execution.COMPLETE else None
    return with_facts(execution, facts, state)
