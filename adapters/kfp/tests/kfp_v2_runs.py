"""Stores holding what Kubeflow Pipelines v2 records for real runs, step by step as its code does.

Each function here follows one program of kubeflow/pipelines through the
metadata client (`kfp_v2_client.Client`, which follows
`backend/src/v2/metadata/client.go`):

* `root_dag` — `backend/src/v2/driver/root_dag.go` `RootDAG`;
* `dag` — `backend/src/v2/driver/dag.go` `DAG` (sub-pipelines, ParallelFor
  loops with `iteration_count`, their iterations with `iteration_index`,
  condition branches that are not triggered: CANCELED);
* `container` — `backend/src/v2/driver/container.go` `Container`, then, for
  a task that runs, `backend/src/v2/component/launcher_v2.go`
  `LauncherV2.Execute` (pre-publish, `uploadOutputArtifacts` /
  `RecordArtifact`, `PublishExecution`, `UpdateDAGExecutionsState`); for a
  cache hit, `backend/src/v2/driver/cache.go` `reuseCachedOutputs`;
* `importer` — `backend/src/v2/component/importer_launcher.go` `ImportLauncher.Execute`.

`write_training_runs` records two runs of one pipeline with a
sub-pipeline, a 3-iteration ParallelFor, an importer, a condition branch
that is not taken, a cached task and a failed one; the root DAG stays
RUNNING, as KFP never updates it. No zen_mlmd code writes any of it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.json_format import MessageToDict
from ml_metadata.proto import metadata_store_pb2 as pb

from kfp_v2_client import CONTAINER, DAG, IMPORTER, Client, ExecutionConfig, Pipeline, generate_output_uri

PIPELINE = "training-pipeline"
RUN_1 = "7c1b7f0e-3f4a-4a55-9e39-0f6c1d2e3a41"
RUN_2 = "a9d04e52-81c7-4f0b-b0a6-5f3e2d1c0b97"
NAMESPACE = "kubeflow-user-example-com"
ROOT = "minio://mlpipeline/v2/artifacts"
SESSION = {"Provider": "minio", "Params": {"region": "minio", "endpoint": "minio-service.kubeflow:9000",
                                           "disableSSL": "true", "fromEnv": "false",
                                           "secretName": "mlpipeline-minio-artifact",
                                           "accessKeyKey": "accesskey", "secretKeyKey": "secretkey"}}
IMAGE = "python:3.11"
LEARNING_RATES = [0.1, 0.01, 0.001]


@dataclass
class Recorded:
    """Ids of what a run recorded, by task path (`for-loop-2[1]/train`)."""

    run_id: str
    run_context_id: int = 0
    root_dag_id: int = 0
    dags: dict[str, int] = field(default_factory=dict)
    executions: dict[str, int] = field(default_factory=dict)
    artifacts: dict[str, int] = field(default_factory=dict)  # "<task path>.<output>"


def root_dag(client: Client, run_id: str, parameters: dict[str, Any]) -> tuple[Pipeline, pb.Execution]:
    """root_dag.go `RootDAG`: the contexts, then the root DAG `run/<run id>`."""
    pipeline = client.get_pipeline(PIPELINE, run_id, NAMESPACE, "run-resource", ROOT,
                                   json.dumps(SESSION, separators=(",", ":")))
    root = client.create_execution(pipeline, ExecutionConfig(
        execution_type=DAG, name=f"run/{run_id}", input_parameters=parameters))
    return pipeline, root


def dag(client: Client, run_id: str, parent: pb.Execution, task_name: str, total_tasks: int,
        inputs: dict[str, Any], iteration_index: int | None = None, iteration_count: int | None = None,
        triggered: bool = True) -> pb.Execution:
    """dag.go `DAG`: a sub-DAG, a loop (with its count) or one iteration (with its index)."""
    pipeline = client.get_pipeline(PIPELINE, run_id, "", "", "", "")
    client.get_execution(parent.id)  # mlmd.GetDAG
    return client.create_execution(pipeline, ExecutionConfig(
        execution_type=DAG, task_name=task_name, display_name=task_name, parent_dag_id=parent.id,
        iteration_index=iteration_index, iteration_count=iteration_count if triggered else None,
        total_dag_tasks=total_tasks, input_parameters=inputs, not_triggered=not triggered))


def container(client: Client, run_id: str, parent: pb.Execution, task_name: str, parameters: dict[str, Any],
              inputs: dict[str, list[int]], outputs: dict[str, tuple[str, dict[str, Any]]],
              fails: bool = False, cached_from: int | None = None, pod: str = "",
              user_code=None) -> pb.Execution:
    """container.go `Container` and launcher_v2.go `Execute` (or cache.go `reuseCachedOutputs`).

    `user_code(pod_name)` stands for the task's own program, which the
    launcher runs between pre-publishing the pod and recording the outputs.
    """
    pipeline = client.get_pipeline(PIPELINE, run_id, "", "", "", "")
    client.get_execution(parent.id)  # mlmd.GetDAG
    created = client.create_execution(pipeline, ExecutionConfig(
        execution_type=CONTAINER, task_name=task_name, display_name=task_name, parent_dag_id=parent.id,
        input_parameters=parameters, input_artifact_ids=inputs, image=IMAGE,
        fingerprint=f"fp-{task_name}-{sorted(parameters.items())}",
        cached_mlmd_execution_id=str(cached_from) if cached_from else ""))
    if cached_from is not None:  # cache.go `reuseCachedOutputs`
        original, _ = client.get_execution(cached_from)
        reused = client.get_output_artifacts_by_execution_id(cached_from)
        outputs_of = MessageToDict(original.custom_properties["outputs"].struct_value)
        client.publish_execution(created, pipeline, outputs_of, sorted(reused.items()), pb.Execution.CACHED)
        return created
    # launcher_v2.go `Execute`: prePublish, run, upload and record outputs, publish, DAG state
    execution, _ = client.get_execution(created.id)
    pod_name = pod or f"{PIPELINE}-{run_id[:5]}-{task_name}-{created.id}"
    execution = client.pre_publish_execution(execution, pod_name, f"uid-{created.id}", NAMESPACE)
    if user_code is not None:  # executeV2 -> execute: the user's command
        user_code(pod_name)
    recorded = []
    output_parameters = None
    if not fails:
        for name, (schema_title, metadata) in outputs.items():
            uri = generate_output_uri(pipeline.run_ctx.custom_properties["pipeline_root"].string_value,
                                      task_name, f"{created.id:08x}-uuid", name)
            recorded.append((name, client.record_artifact(name, schema_title, uri, metadata,
                                                          pb.Artifact.LIVE, SESSION)))
        output_parameters = {}
    state = pb.Execution.FAILED if fails else pb.Execution.COMPLETE
    client.publish_execution(execution, pipeline, output_parameters, recorded, state)
    dag_execution, _ = client.get_execution(execution.custom_properties["parent_dag_id"].int_value)
    client.get_pipeline_from_execution(execution.id)
    client.update_dag_executions_state(dag_execution, pipeline)
    return execution


def importer(client: Client, run_id: str, parent: pb.Execution, task_name: str, uri: str,
             schema_title: str, metadata: dict[str, Any]) -> pb.Execution:
    """importer_launcher.go `ImportLauncher.Execute`, reimport off (an existing match is reused)."""
    pipeline = client.get_pipeline(PIPELINE, run_id, "", "", "", "")
    created = client.create_execution(pipeline, ExecutionConfig(
        execution_type=IMPORTER, task_name=task_name, parent_dag_id=parent.id,
        pod_name=f"{task_name}-pod", pod_uid="uid", namespace=NAMESPACE))
    artifact = pb.Artifact(type_id=client.get_or_insert_artifact_type(schema_title), state=pb.Artifact.LIVE,
                           uri=uri)  # `ImportSpecToMLMDArtifact`
    for key, value in metadata.items():
        artifact.custom_properties[key].string_value = value
    scheme = uri.split("://", 1)[0]
    artifact.custom_properties["store_session_info"].string_value = json.dumps(
        {"Provider": scheme, "Params": {"fromEnv": "true"}}, separators=(",", ":"))
    matched = client.find_matched_artifact(artifact, pipeline.pipeline_ctx.id)
    client.publish_execution(created, pipeline, None, [("artifact", matched or artifact)], pb.Execution.COMPLETE)
    return created


def training_run(client: Client, run_id: str, *, cached_from: Recorded | None = None,
                 failing_iteration: int | None = None, with_evaluation: bool = True,
                 learning_rates: list[float] = LEARNING_RATES) -> Recorded:
    """One run: importer -> make-data -> for-loop-2 (3 x train) and evaluate-pipeline (report, condition-1)."""
    rec = Recorded(run_id)
    pipeline, root = root_dag(client, run_id, {"n_rows": 150.0, "learning_rates": learning_rates})
    rec.run_context_id, rec.root_dag_id = pipeline.run_ctx.id, root.id
    imported = importer(client, run_id, root, "importer", "gs://ml-public/iris.csv", "system.Dataset",
                        {"source": "public"})
    rec.executions["importer"] = imported.id
    [event] = [e for e in client.store.get_events_by_execution_ids([imported.id]) if e.type == pb.Event.OUTPUT]
    rec.artifacts["importer.artifact"] = event.artifact_id
    make_data = container(
        client, run_id, root, "make-data", {"n_rows": 150.0}, {"raw": [event.artifact_id]},
        {"dataset": ("system.Dataset", {"rows": 150})},
        cached_from=cached_from.executions["make-data"] if cached_from else None)
    rec.executions["make-data"] = make_data.id
    outputs = client.get_output_artifacts_by_execution_id(make_data.id)
    rec.artifacts["make-data.dataset"] = outputs["dataset"].id
    loop = dag(client, run_id, root, "for-loop-2", 1, {"pipelinechannel--learning_rates": learning_rates},
               iteration_count=len(learning_rates))
    rec.dags["for-loop-2"] = loop.id
    for index, rate in enumerate(learning_rates):
        iteration = dag(client, run_id, loop, "for-loop-2", 1,
                        {"pipelinechannel--learning_rates-loop-item": rate}, iteration_index=index)
        rec.dags[f"for-loop-2[{index}]"] = iteration.id
        train = container(
            client, run_id, iteration, "train", {"lr": rate}, {"dataset": [rec.artifacts["make-data.dataset"]]},
            {"model": ("system.Model", {"framework": "sklearn"}),
             "metrics": ("system.Metrics", {"accuracy": 0.9 + index / 100, "epochs": 3})},
            fails=index == failing_iteration)
        path = f"for-loop-2[{index}]/train"
        rec.executions[path] = train.id
        for name, artifact in client.get_output_artifacts_by_execution_id(train.id).items():
            rec.artifacts[f"{path}.{name}"] = artifact.id
    if with_evaluation:
        sub = dag(client, run_id, root, "evaluate-pipeline", 2, {"pipelinechannel--n_rows": 150.0})
        rec.dags["evaluate-pipeline"] = sub.id
        skipped = dag(client, run_id, sub, "condition-1", 1, {}, triggered=False)
        rec.dags["evaluate-pipeline/condition-1"] = skipped.id
        report = container(client, run_id, sub, "report", {},
                           {"dataset": [rec.artifacts["make-data.dataset"]]},
                           {"summary": ("system.Markdown", {})})
        rec.executions["evaluate-pipeline/report"] = report.id
        rec.artifacts["evaluate-pipeline/report.summary"] = \
            client.get_output_artifacts_by_execution_id(report.id)["summary"].id
    return rec


def write_training_runs(store) -> tuple[Recorded, Recorded]:
    """Run 1 completes; run 2 reuses run 1's importer output and make-data from the cache, and its third iteration's train fails."""
    client = Client(store)
    first = training_run(client, RUN_1)
    second = training_run(Client(store), RUN_2, cached_from=first, failing_iteration=2, with_evaluation=False)
    return first, second
