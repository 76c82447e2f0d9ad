"""A store holding what Kubeflow Pipelines v2's launcher writes for a 3-task run.

Written with plain ml_metadata calls in KFP's shape (not with zen_mlmd's
writer): pipeline and run contexts, the root DAG execution, and per task a
ContainerExecution put RUNNING with its inputs, then COMPLETE with its
outputs; artifacts typed by schema title, metadata in custom properties,
one-step event paths. The pipeline: make-data -> train -> evaluate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf import struct_pb2
from ml_metadata.proto import metadata_store_pb2 as pb

RUN_ID = "5f0c0d4e-1b2a-4c8e-9b7d-0a1b2c3d4e5f"
PIPELINE = "iris-kfp"
ROOT = "minio://mlpipeline/v2/artifacts"


@dataclass
class WrittenRun:
    run_context_id: int
    root_dag_id: int
    executions: dict = field(default_factory=dict)  # task name -> execution id
    artifacts: dict = field(default_factory=dict)   # "task.output" -> artifact id


def _struct(values: dict) -> pb.Value:
    struct = struct_pb2.Struct()
    struct.update(values)
    value = pb.Value()
    value.struct_value.CopyFrom(struct)
    return value


def write_kfp_run(raw) -> WrittenRun:
    """Record the run in `raw` (an `ml_metadata.MetadataStore`) as KFP does."""
    pipeline_type = raw.put_context_type(pb.ContextType(name="system.Pipeline"))
    run_type = raw.put_context_type(pb.ContextType(name="system.PipelineRun"))
    container_type = raw.put_execution_type(pb.ExecutionType(name="system.ContainerExecution"))
    dag_type = raw.put_execution_type(pb.ExecutionType(name="system.DAGExecution"))
    types = {title: raw.put_artifact_type(pb.ArtifactType(name=title))
             for title in ("system.Dataset", "system.Model", "system.Metrics")}

    pipeline = pb.Context(type_id=pipeline_type, name=PIPELINE)
    [pipeline.id] = raw.put_contexts([pipeline])
    run = pb.Context(type_id=run_type, name=RUN_ID)
    run.custom_properties["namespace"].string_value = "kubeflow-user"
    run.custom_properties["resource_name"].string_value = "iris-kfp-x7k2p"
    run.custom_properties["pipeline_root"].string_value = ROOT
    [run.id] = raw.put_contexts([run])
    raw.put_parent_contexts([pb.ParentContext(child_id=run.id, parent_id=pipeline.id)])
    contexts = [pipeline, run]

    root = pb.Execution(type_id=dag_type, name=f"run/{RUN_ID}", last_known_state=pb.Execution.RUNNING)
    root.custom_properties["display_name"].string_value = f"run/{RUN_ID}"
    root.custom_properties["inputs"].CopyFrom(_struct({"n_rows": 150}))
    root_id, _, _ = raw.put_execution(root, [], contexts)
    written = WrittenRun(run.id, root_id)

    def task(name, image, parameters, inputs, outputs):
        execution = pb.Execution(type_id=container_type, last_known_state=pb.Execution.RUNNING)
        props = execution.custom_properties
        props["display_name"].string_value = name
        props["task_name"].string_value = name
        props["parent_dag_id"].int_value = root_id
        props["pod_name"].string_value = f"iris-kfp-x7k2p-{name}-123"
        props["image"].string_value = image
        props["cache_fingerprint"].string_value = f"fp-{name}"
        props["inputs"].CopyFrom(_struct(parameters))
        in_events = []
        for key, artifact_id in inputs.items():
            event = pb.Event(type=pb.Event.INPUT, artifact_id=artifact_id)
            event.path.steps.add().key = key
            in_events.append((None, event))
        execution.id, _, _ = raw.put_execution(execution, in_events, contexts)
        out_pairs = []
        for key, (title, metadata) in outputs.items():
            artifact = pb.Artifact(type_id=types[title], uri=f"{ROOT}/{name}/{key}", state=pb.Artifact.LIVE)
            artifact.custom_properties["display_name"].string_value = key
            for meta_key, meta_value in metadata.items():
                if isinstance(meta_value, float):
                    artifact.custom_properties[meta_key].double_value = meta_value
                else:
                    artifact.custom_properties[meta_key].string_value = meta_value
            event = pb.Event(type=pb.Event.OUTPUT)
            event.path.steps.add().key = key
            out_pairs.append((artifact, event))
        execution.last_known_state = pb.Execution.COMPLETE
        execution.custom_properties["outputs"].CopyFrom(_struct({}))
        _, artifact_ids, _ = raw.put_execution(execution, out_pairs, contexts)
        written.executions[name] = execution.id
        for key, artifact_id in zip(outputs, artifact_ids):
            written.artifacts[f"{name}.{key}"] = artifact_id

    task("make-data", "python:3.11", {"n_rows": 150},
         {}, {"dataset": ("system.Dataset", {"format": "csv"})})
    task("train", "python:3.11", {"C": 0.5},
         {"dataset": written.artifacts["make-data.dataset"]}, {"model": ("system.Model", {"framework": "sklearn"})})
    task("evaluate", "python:3.11", {},
         {"model": written.artifacts["train.model"], "dataset": written.artifacts["make-data.dataset"]},
         {"metrics": ("system.Metrics", {"accuracy": 0.93, "f1": 0.91})})
    root.id = root_id
    root.last_known_state = pb.Execution.COMPLETE
    raw.put_execution(root, [], contexts)
    return written
