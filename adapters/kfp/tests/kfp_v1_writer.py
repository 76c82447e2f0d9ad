"""What Kubeflow Pipelines' v1 metadata writer records for the pods of a run, call for call.

The v1 metadata writer (kubeflow/pipelines `backend/metadata_writer/src/`)
watches the Argo pods of a run and writes MLMD with plain ml_metadata calls.
It cannot run here (it needs a Kubernetes API), so `record_pod` follows its
main loop in `metadata_writer.py` for one pod event, and the helpers below
follow `metadata_helpers.py` function by function:

* the run: a `KfpRun` context named by the Argo workflow, typed properties
  `pipeline_name` and `run_id` (both the workflow name) —
  `get_or_create_run_context`, `get_or_create_context_with_type`;
* each pod: one execution of type `components.<component name>@sha256=<digest
  of its component spec>`, typed properties `pipeline_name`, `run_id`,
  `component_id` (the component name), custom `kfp_pod_name` and
  `input:<name>` per parameter argument, no state, associated with the run
  — `create_new_execution_in_existing_run_context`;
* its input artifacts: found by URI, linked with an INPUT event whose path
  is the input name — `link_execution_to_input_artifact`;
* once the pod has outputs: one artifact per Argo output artifact, typed by
  the component's output type (`NoType` without one), custom `name`,
  `pipeline_name`, `run_id`, `argo_artifact`, an OUTPUT event and an
  attribution to the run — `create_new_output_artifact`.

No zen_mlmd code writes any of it.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ml_metadata import errors as mlmd_errors
from ml_metadata.proto import metadata_store_pb2 as pb

RUN_CONTEXT_TYPE = "KfpRun"
EXECUTION_TYPE_PREFIX = "components."


def _get_or_create_type(store, kind: str, type_name: str, properties: dict | None):
    """metadata_helpers.py `get_or_create_{artifact,execution,context}_type`."""
    try:
        return getattr(store, f"get_{kind}_type")(type_name)
    except mlmd_errors.NotFoundError:
        proto = {"artifact": pb.ArtifactType, "execution": pb.ExecutionType, "context": pb.ContextType}[kind](
            name=type_name, properties=properties)
        proto.id = getattr(store, f"put_{kind}_type")(proto)
        return proto


def get_or_create_run_context(store, run_id: str) -> pb.Context:
    """metadata_helpers.py `get_or_create_run_context` / `get_or_create_context_with_type`."""
    matching = [c for c in store.get_contexts() if c.name == run_id]  # `get_context_by_name`
    if matching:
        [context] = matching
        [context_type] = store.get_context_types_by_id([context.type_id])
        assert context_type.name == RUN_CONTEXT_TYPE
        return context
    context_type = _get_or_create_type(store, "context", RUN_CONTEXT_TYPE,
                                       {"pipeline_name": pb.STRING, "run_id": pb.STRING})
    context = pb.Context(name=run_id, type_id=context_type.id, properties={
        "pipeline_name": pb.Value(string_value=run_id), "run_id": pb.Value(string_value=run_id)})
    context.id = store.put_contexts([context])[0]
    return context


def create_execution_in_run(store, type_name: str, context_id: int, pod_name: str, run_id: str,
                            component_id: str, custom: dict[str, Any]) -> pb.Execution:
    """metadata_helpers.py `create_new_execution_in_existing_run_context` (and what it calls)."""
    values = {k: _value(v) for k, v in custom.items()}
    values["kfp_pod_name"] = pb.Value(string_value=pod_name)
    execution_type = _get_or_create_type(store, "execution", type_name, {
        "pipeline_name": pb.STRING, "run_id": pb.STRING, "component_id": pb.STRING})
    execution = pb.Execution(type_id=execution_type.id, properties={
        "pipeline_name": pb.Value(string_value=run_id), "run_id": pb.Value(string_value=run_id),
        "component_id": pb.Value(string_value=component_id)}, custom_properties=values)
    execution.id = store.put_executions([execution])[0]
    store.put_attributions_and_associations(
        [], [pb.Association(execution_id=execution.id, context_id=context_id)])
    return execution


def _value(value: Any) -> pb.Value:
    """metadata_helpers.py `value_to_mlmd_value`."""
    if value is None:
        return pb.Value()
    if isinstance(value, int):
        return pb.Value(int_value=value)
    if isinstance(value, float):
        return pb.Value(double_value=value)
    return pb.Value(string_value=str(value))


def link_input(store, execution_id: int, uri: str, input_name: str) -> pb.Artifact | None:
    """metadata_helpers.py `link_execution_to_input_artifact`: the last artifact with the URI."""
    artifacts = store.get_artifacts_by_uri(uri)
    if not artifacts:
        return None
    artifact = artifacts[-1]
    event = pb.Event(execution_id=execution_id, artifact_id=artifact.id, type=pb.Event.INPUT)
    event.path.steps.add().key = input_name
    store.put_events([event])
    return artifact


def create_output(store, execution_id: int, context_id: int, uri: str, type_name: str, output_name: str,
                  run_id: str, argo_artifact: dict) -> pb.Artifact:
    """metadata_helpers.py `create_new_output_artifact` / `create_new_artifact_event_and_attribution`."""
    artifact_type = _get_or_create_type(store, "artifact", type_name, None)
    artifact = pb.Artifact(uri=uri, type_id=artifact_type.id, custom_properties={
        "name": pb.Value(string_value=output_name), "pipeline_name": pb.Value(string_value=run_id),
        "run_id": pb.Value(string_value=run_id),
        "argo_artifact": pb.Value(string_value=json.dumps(argo_artifact, sort_keys=True))})
    artifact.id = store.put_artifacts([artifact])[0]
    event = pb.Event(execution_id=execution_id, artifact_id=artifact.id, type=pb.Event.OUTPUT)
    event.path.steps.add().key = output_name
    store.put_events([event])
    store.put_attributions_and_associations([pb.Attribution(context_id=context_id, artifact_id=artifact.id)], [])
    return artifact


def argo_uri(artifact: dict) -> str | None:
    """metadata_writer.py `argo_artifact_to_uri` (S3-compatible stores only)."""
    if "s3" not in artifact:
        return None
    s3 = artifact["s3"]
    provider = "s3" if re.search("^.*s3.*amazonaws.com.*$", s3.get("endpoint", "")) else "minio"
    return f"{provider}://{s3.get('bucket', '')}/{s3.get('key', '')}"


def record_pod(store, pod: dict, written: dict) -> None:
    """One pod event of metadata_writer.py's main loop.

    `pod` holds what the writer reads of a Pod: `name`, `workflow`,
    `template` (the ARGO_TEMPLATE env, with `inputs.artifacts`),
    `component_spec` (the annotation's JSON text), `arguments` (parameter
    arguments), `outputs` (the Argo outputs annotation, once the pod has
    them). `written` stands for the labels the writer puts on the pod.
    """
    template = pod["template"]
    component_name = template.get("name", "")
    version = component_name
    output_types: dict[str, str] = {}
    if pod.get("component_spec"):
        spec = json.loads(pod["component_spec"])
        component_name = spec.get("name", component_name)
        version = component_name + "@sha256=" + hashlib.sha256(pod["component_spec"].encode()).hexdigest()
        output_types = {_argo_name(o["name"]): o["type"] for o in spec.get("outputs", []) if o.get("type")}
    if pod["name"] not in written:
        context = get_or_create_run_context(store, pod["workflow"])
        custom = {f"input:{k}": v for k, v in (pod.get("arguments") or {}).items()}
        execution = create_execution_in_run(store, EXECUTION_TYPE_PREFIX + version, context.id, pod["name"],
                                            pod["workflow"], component_name, custom)
        for argo_artifact in template.get("inputs", {}).get("artifacts", []):
            uri = argo_uri(argo_artifact)
            if not uri:
                continue
            name = argo_artifact.get("path", "").removeprefix("/tmp/inputs/").removesuffix("/data")
            link_input(store, execution.id, uri, name)
        written[pod["name"]] = (execution.id, context.id)
    execution_id, context_id = written[pod["name"]]
    if pod.get("outputs") and not pod.get("outputs_written"):
        prefix = template.get("name", "") + "-"
        for artifact in pod["outputs"].get("artifacts", []):
            name = artifact["name"].removeprefix(prefix)
            uri = argo_uri(artifact)
            if uri:
                create_output(store, execution_id, context_id, uri, output_types.get(name, "NoType"), name,
                              pod["workflow"], artifact)
        pod["outputs_written"] = True


def _argo_name(name: str) -> str:
    """metadata_writer.py `output_name_to_argo`."""
    return re.sub("-+", "-", re.sub("[^-_0-9A-Za-z]+", "-", name)).strip("-")


WORKFLOW = "xgboost-pipeline-8pqf2"
BUCKET = {"endpoint": "minio-service.kubeflow:9000", "bucket": "mlpipeline"}


def _artifact(name: str, key: str, path: str = "") -> dict:
    out = {"name": name, "s3": {**BUCKET, "key": key}}
    if path:
        out["path"] = path
    return out


def _spec(name: str, outputs: dict[str, str]) -> str:
    return json.dumps({"name": name, "outputs": [{"name": k, "type": v} for k, v in outputs.items()]})


def write_v1_run(store) -> dict[str, int]:
    """A v1 run: download -> train x2 (one component twice) -> evaluate (still running). Returns execution ids by pod."""
    pods = [
        {"name": f"{WORKFLOW}-1001", "workflow": WORKFLOW, "template": {"name": "download-data"},
         "component_spec": _spec("Download data", {"data": "Dataset"}), "arguments": {"url": "gs://x/y.csv"},
         "outputs": {"artifacts": [_artifact("download-data-data", "artifacts/dl/data.tgz")]}},
        {"name": f"{WORKFLOW}-1002", "workflow": WORKFLOW,
         "template": {"name": "train-model", "inputs": {"artifacts": [
             _artifact("download-data-data", "artifacts/dl/data.tgz", "/tmp/inputs/data/data")]}},
         "component_spec": _spec("Train model", {"model": "Model", "mlpipeline-metrics": "Metrics"}),
         "arguments": {"lr": "0.1"},
         "outputs": {"artifacts": [_artifact("train-model-model", "artifacts/t1/model.tgz"),
                                   _artifact("train-model-mlpipeline-metrics", "artifacts/t1/metrics.tgz")]}},
        {"name": f"{WORKFLOW}-1003", "workflow": WORKFLOW,
         "template": {"name": "train-model-2", "inputs": {"artifacts": [
             _artifact("download-data-data", "artifacts/dl/data.tgz", "/tmp/inputs/data/data")]}},
         "component_spec": _spec("Train model", {"model": "Model", "mlpipeline-metrics": "Metrics"}),
         "arguments": {"lr": "0.01"},
         "outputs": {"artifacts": [_artifact("train-model-2-model", "artifacts/t2/model.tgz")]}},
        {"name": f"{WORKFLOW}-1004", "workflow": WORKFLOW,
         "template": {"name": "evaluate", "inputs": {"artifacts": [
             _artifact("train-model-model", "artifacts/t1/model.tgz", "/tmp/inputs/model/data")]}},
         "component_spec": _spec("Evaluate", {"report": "HTML"})},
    ]
    written: dict[str, tuple[int, int]] = {}
    for pod in pods:
        # the writer sees a pod first when it starts, again once Argo recorded its outputs
        outputs = pod.pop("outputs", None)
        record_pod(store, pod, written)
        if outputs:
            pod["outputs"] = outputs
            record_pod(store, pod, written)
    return {pod["name"]: written[pod["name"]][0] for pod in pods}
