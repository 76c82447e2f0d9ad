"""The records zen_mlmd writes in the Kubeflow Pipelines convention, shaped as KFP's driver writes them.

Each rule follows kubeflow/pipelines `backend/src/v2/metadata/client.go`
(`GetPipeline`, `CreateExecution`, `PublishExecution`, `RecordArtifact`) and
the v2 UI that reads them (`frontend/src/mlmd/MlmdUtils.ts`,
`frontend/src/lib/v2/DynamicFlow.ts`,
`frontend/src/components/viewers/MetricsVisualizations.tsx`):

* the run context is named by the KFP run ID (the cluster's, or a new UUID)
  and carries `namespace`, `resource_name`, `pipeline_root`
  (`<root>/<pipeline>/<run id>`) and `store_session_info`; the pipeline
  context is named as KFP's compiler names the pipeline (`k8s_name`);
* the root DAG `run/<run id>` has `task_name` and `display_name` ""; it
  also keeps zen_mlmd's run name (its `external_id`, unique), config, owner
  and end status, where KFP's own writes never overwrite them;
* a step is a `system.ContainerExecution` with `task_name` = its KFP task
  key, `display_name` = the step name, `parent_dag_id` = the root DAG,
  `namespace`, `pod_name`, `pod_uid`, `image`, `inputs`, `outputs`;
* an artifact is unnamed, with `display_name`, `store_session_info` and its
  metadata (numbers as doubles): nothing else, since the UI shows every
  other property of a `system.Metrics` artifact as a metric. What zen_mlmd
  knows about an output (materializer, data type, content hash, kind) is on
  the execution that produced it, in `zen_mlmd_outputs`.

zen_mlmd's own facts about a step (`run_name`, `step_type`,
`code_fingerprint`, ...) are further execution properties, which KFP ignores.
"""
from __future__ import annotations

import uuid
from typing import Any, Mapping, Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import properties_of, set_properties
from zen_mlmd_kfp import names
from zen_mlmd_kfp.kfp_values import metadata_value, set_execution_properties, struct_value

PIPELINE_CONTEXT = "system.Pipeline"
RUN_CONTEXT = "system.PipelineRun"
CONTAINER_EXECUTION = "system.ContainerExecution"
DAG_EXECUTION = "system.DAGExecution"
ROOT_DAG_PREFIX = "run/"
#: Execution property: zen_mlmd's facts about each output, by output name, in list order.
OUTPUTS_PROPERTY = "zen_mlmd_outputs"
#: Execution property: input artifact ids by input name, in list order (events
#: have no index in KFP, and MLMD keeps one event per artifact and execution).
INPUTS_PROPERTY = "zen_mlmd_inputs"
#: Execution property marking a step zen_mlmd recorded: its function's import path.
STEP_TYPE = "step_type"
#: Execution property: zen_mlmd's run name (on the root DAG and every step).
RUN_NAME = "run_name"
#: Root DAG property: the convention zen_mlmd recorded this KFP run in, when not `kfp`
#: (earlier versions recorded cluster runs natively and marked KFP's root DAG so).
RECORDED_IN = "zen_mlmd_recorded_in"
#: Output properties that are zen_mlmd's bookkeeping (the recorder's), never metadata.
BOOKKEEPING = frozenset({
    "display_name", "materializer", "data_type", "content_hash", "size_bytes", "kind",
    "producer_execution_id", "output_index", "cache_key", "store_session_info",
})
_SUCCEEDED_RUN_STATUSES = frozenset({"completed", "cached"})


class KfpWriting:
    """The writing half of `KfpConvention` (see the module docstring)."""

    def pipeline_context_name(self, pipeline_name: str) -> str:
        return names.k8s_name(pipeline_name) or pipeline_name

    def execution_type(self, type_name: str) -> pb.ExecutionType:
        # Every step is a container execution, whatever its step function.
        return pb.ExecutionType(name=DAG_EXECUTION if type_name == DAG_EXECUTION else CONTAINER_EXECUTION)

    def artifact_type(self, kind: str) -> pb.ArtifactType:
        from zen_mlmd_kfp.artifact_types import schema_title_for_kind

        return pb.ArtifactType(name=schema_title_for_kind(kind))

    # -- the run -------------------------------------------------------------------
    def pipeline_context(self, type_id: int, name: str, properties: Mapping[str, Any]) -> pb.Context:
        context = pb.Context(type_id=type_id, name=name)
        set_properties(context.custom_properties, properties)
        return context

    def run_context(self, type_id: int, pipeline_name: str, run_name: str,
                    config: Mapping[str, Any], owner: Mapping[str, Any]) -> pb.Context:
        """The run context as KFP's driver makes it (`GetPipeline`): named by the run ID, KFP's properties only.

        On a cluster KFP's launcher writes the run context it read before a
        task ran with every task it publishes (`PublishExecution` passes it
        to `PutExecution`, which rewrites it): nothing of zen_mlmd's would
        stay there. zen_mlmd's facts about the run are on the root DAG.
        """
        kfp = dict(config.get("kfp") or {})
        run_id = str(kfp.get("run_id") or uuid.uuid4())
        context = pb.Context(type_id=type_id, name=run_id)
        root = str(kfp.get("pipeline_root") or _artifact_root(config))
        set_execution_properties(context.custom_properties, {
            "namespace": str(kfp.get("namespace") or ""),
            "resource_name": str(kfp.get("resource_name") or run_name),
            "pipeline_root": names.run_pipeline_root(root, self.pipeline_context_name(pipeline_name), run_id)
            if root else "",
            "store_session_info": names.store_session_info(root) if root else "",
        })
        return context

    def ended_run_context(self, context: pb.Context, status: str, end_ms: int) -> pb.Context:
        ended = pb.Context()
        ended.CopyFrom(context)  # the end is recorded on the root DAG
        return ended

    def root_execution(self, type_id: int, pipeline_name: str, run_name: str, run_id: str,
                       config: Mapping[str, Any], owner: Mapping[str, Any]) -> pb.Execution:
        """The root DAG `run/<run id>` (`RootDAG`: empty task and display names), with zen_mlmd's facts."""
        execution = pb.Execution(type_id=type_id, name=ROOT_DAG_PREFIX + run_id,
                                 last_known_state=pb.Execution.RUNNING)
        set_execution_properties(execution.custom_properties, {"display_name": "", "task_name": ""})
        execution.custom_properties["inputs"].CopyFrom(struct_value(config.get("parameters") or {}))
        return self.adopted_root_execution(execution, pipeline_name, run_name, config, owner)

    def adopted_root_execution(self, execution: pb.Execution, pipeline_name: str, run_name: str,
                               config: Mapping[str, Any], owner: Mapping[str, Any]) -> pb.Execution:
        """A root DAG (KFP's own, on a cluster) with zen_mlmd's run name, config and owner.

        KFP never updates its root DAG after creating it. The run name is its
        `external_id`, which MLMD keeps unique among executions.
        """
        adopted = pb.Execution()
        adopted.CopyFrom(execution)
        adopted.external_id = run_name
        set_execution_properties(adopted.custom_properties, {RUN_NAME: run_name, "pipeline_name": pipeline_name})
        set_properties(adopted.custom_properties, {"config": dict(config), "owner": dict(owner)})
        return adopted

    def ended_root_execution(self, execution: pb.Execution, status: str, end_ms: int) -> pb.Execution:
        ended = pb.Execution()
        ended.CopyFrom(execution)
        succeeded = status.lower() in _SUCCEEDED_RUN_STATUSES
        ended.last_known_state = pb.Execution.COMPLETE if succeeded else pb.Execution.FAILED
        # A double: milliseconds overflow MLMD's 32-bit int column on MySQL/PostgreSQL.
        set_properties(ended.custom_properties, {"status": status, "end_time": float(end_ms)})
        return ended

    # -- steps ------------------------------------------------------------------------
    def run_step_execution(self, type_id: int, run: Any, step: records.StepStart, state: str) -> pb.Execution:
        execution = pb.Execution(type_id=type_id, last_known_state=pb.Execution.State.Value(state))
        props = execution.custom_properties
        root = getattr(run, "root_execution", None)
        extra = dict(step.properties)
        root_props = properties_of(root) if root is not None else {}
        run_props = properties_of(run.run_context)
        set_execution_properties(props, {
            "display_name": step.name,
            "task_name": task_key(root_props.get("config"), step.name),
            "parent_dag_id": root.id if root is not None else None,
            "pod_name": str(extra.pop("pod_name", "") or ""),
            "pod_uid": str(extra.pop("pod_uid", "") or ""),
            "namespace": str(run_props.get("namespace") or ""),
            "image": str(extra.pop("image", "") or ""),
            "cache_fingerprint": step.cache_key or None,
            RUN_NAME: run.run_name,
            STEP_TYPE: step.type_name,
            "code_fingerprint": step.code_fingerprint or None,
        })
        set_properties(props, {"cache_key_parts": dict(step.cache_key_parts) or None, **extra})
        props["inputs"].CopyFrom(struct_value(step.parameters))
        if self.start_records_input_ids(step.inputs):
            props[INPUTS_PROPERTY].CopyFrom(struct_value({k: list(v) for k, v in step.inputs.items()}))
        return execution

    def start_records_input_ids(self, inputs: Mapping[str, Sequence[Any]]) -> bool:
        """A list input, or one artifact feeding several inputs: events alone cannot tell them."""
        return any(len(ids) > 1 for ids in inputs.values()) or _repeats(inputs)

    def ended_execution(self, execution: pb.Execution, state: str, **properties: Any) -> pb.Execution:
        ended = pb.Execution()
        ended.CopyFrom(execution)
        ended.last_known_state = pb.Execution.State.Value(state)
        original = properties.pop("original_execution_id", None)
        if original is not None:
            # KFP keeps the id of the execution a cached task reuses as a string.
            properties["cached_execution_id"] = str(original)
        if state in (records.COMPLETE, records.CACHED):
            ended.custom_properties["outputs"].CopyFrom(struct_value({}))  # no output parameters
        set_execution_properties(ended.custom_properties, properties)
        return ended

    def describe_outputs(self, execution: pb.Execution,
                         outputs: Mapping[str, Sequence[records.OutputArtifact]]) -> None:
        facts = {name: [{"kind": o.kind.upper(), "materializer": o.materializer, "data_type": o.data_type,
                         "content_hash": o.content_hash, "size_bytes": o.size_bytes} for o in items]
                 for name, items in outputs.items()}
        execution.custom_properties[OUTPUTS_PROPERTY].CopyFrom(struct_value(facts))

    def output_artifact(self, type_id: int, run_name: str, step_name: str, output_name: str,
                        index: int, output: records.OutputArtifact, producer_execution_id: int) -> pb.Artifact:
        # the producer is the OUTPUT event's execution, as KFP keeps it
        # Unnamed, as KFP's launcher leaves its artifacts (`RecordArtifact`).
        artifact = pb.Artifact(type_id=type_id, uri=output.uri, state=pb.Artifact.LIVE)
        props = artifact.custom_properties
        props["display_name"].string_value = output_name
        props["store_session_info"].string_value = names.store_session_info(output.uri)
        for key, value in output.properties.items():
            if key not in BOOKKEEPING and value is not None:
                props[key].CopyFrom(metadata_value(value))
        return artifact

    def output_metadata(self, kind: str, value: Any) -> dict[str, Any]:
        """What KFP records as an output's metadata: the numbers of a metrics dict."""
        if kind.upper() != "METRICS" or not isinstance(value, Mapping):
            return {}
        return {k: v for k, v in value.items() if isinstance(k, str) and k not in BOOKKEEPING
                and isinstance(v, (int, float)) and not isinstance(v, bool)}

    def event(self, event_type: int, key: str, index: int, artifact_id: int | None = None) -> pb.Event:
        # KFP paths are one step, the input/output name (client.go `eventPath`).
        event = pb.Event(type=event_type)
        if artifact_id is not None:
            event.artifact_id = artifact_id
        event.path.steps.add().key = key
        return event


def task_key(config: Any, step_name: str) -> str:
    """The KFP task key of a step: unique among the run's steps, in the config's DAG order."""
    steps = config.get("steps") if isinstance(config, Mapping) else None
    ordered = [str(s["name"]) for s in steps if isinstance(s, Mapping) and "name" in s] \
        if isinstance(steps, (list, tuple)) else []
    return names.task_keys([*ordered, step_name])[step_name]


def _artifact_root(config: Mapping[str, Any]) -> str:
    stack = config.get("stack")
    store = stack.get("artifact_store") if isinstance(stack, Mapping) else None
    return str(store.get("path") or "") if isinstance(store, Mapping) else ""


def _repeats(inputs: Mapping[str, Sequence[int]]) -> bool:
    ids = [i for values in inputs.values() for i in values]
    return len(ids) != len(set(ids))
