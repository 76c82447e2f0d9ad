"""Kubeflow Pipelines played without Kubernetes: a compiled package run the way KFP's backend runs it.

No Kubernetes cluster can run in the tests. This module stands for KFP's
backend (v2.5, the release that pairs with the kfp 2.13 SDK), following
kubeflow/pipelines call by call through the MLMD client of
`kfp_v2_client` (`backend/src/v2/metadata/client.go`):

* `backend/src/v2/driver/root_dag.go` `RootDAG`: the run's contexts and
  root DAG `run/<run id>`;
* `driver/dag.go` `DAG`: a sub-DAG (here zen_mlmd's exit-handler group);
* `driver/container.go` `Container`: each task's execution, its inputs
  resolved from the upstream tasks' recorded outputs (`driver/resolve.go`),
  its output URIs under the run's pipeline root (`driver.go`
  `provisionOutputs`), placeholders such as `{{$.pipeline_job_uuid}}`;
* `component/launcher_v2.go` `Execute`: pre-publish the pod, download the
  input artifacts, run the task's command (`{{$}}` = the executor input),
  read the executor output, upload and record the output artifacts
  (`mergeRuntimeArtifacts`: a task may give an output another URI, under
  the run's pipeline root only, `objectstore.Config.KeyFromURI`), publish the
  execution it read before the command ran, update the DAG's state;
* `compiler/argocompiler/dag.go`: a task with trigger policy
  `ALL_UPSTREAM_TASKS_COMPLETED` (an exit handler's exit task) runs once its
  upstream has ended, whatever happened to it; any other task only when
  its upstream succeeded.

Each task is a process of its own (a "pod"): the package's command and
arguments, started in the task venv (`task_venv`), in a directory of its
own, with only the environment a KFP pod has: the container's `env`, the
Kubernetes Secrets the package references (`secretAsEnv` in its platform
spec, resolved from `secrets`), `KFP_POD_NAME` / `KFP_POD_UID`
(`argocompiler/common.go`) and `METADATA_GRPC_SERVICE_HOST` / `_PORT` (the
`metadata-grpc-configmap`). Tasks share nothing but the metadata service
and the object store (S3): artifacts move between "pods" through S3 only.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml
from ml_metadata.proto import metadata_store_pb2 as pb

from kfp_v2_client import CONTAINER, DAG, Client, ExecutionConfig, Pipeline, generate_output_uri

ALL_COMPLETED = "ALL_UPSTREAM_TASKS_COMPLETED"
TASK_TIMEOUT = 600.0


class Terminated(Exception):
    """The run was terminated (KFP's "terminate": no further task, no exit handler)."""


@dataclass
class PlayedRun:
    run_id: str
    name: str
    #: task key -> "succeeded" / "failed" / "killed" / "not run"
    tasks: dict[str, str] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)


@dataclass
class PlayedCluster:
    """One KFP deployment (see the module docstring).

    Attributes:
        store: a plain `ml_metadata.MetadataStore` on the metadata service.
        service: (host, port) of the metadata service, as pods see it.
        venv_bin: the task image's `bin` directory.
        s3: an s3fs filesystem on the object store (the launcher's bucket).
        secrets: Kubernetes Secrets by name: key -> value.
        workdir: where the pods' directories are made.
    """

    store: Any
    service: tuple[str, int]
    venv_bin: Path
    s3: Any
    secrets: dict[str, dict[str, str]]
    workdir: Path
    namespace: str = "kubeflow-user-example-com"

    def run(self, package_path: str, arguments: dict[str, Any], run_name: str, pipeline_root: str,
            kill: tuple[str, Callable[[], bool]] | None = None) -> PlayedRun:
        """Run the package like `kfp.Client().create_run_from_pipeline_package(...)` would.

        Args:
            kill: (task key, condition): once that task's process runs and the
                condition holds, kill the pod (SIGKILL to its processes, the
                launcher's stand-in included) and terminate the run.
        """
        with open(package_path, encoding="utf-8") as handle:
            documents = list(yaml.safe_load_all(handle))
        spec = documents[0]
        platform = next((d for d in documents[1:] if "platforms" in d), {}).get("platforms", {})
        run = PlayedRun(str(uuid.uuid4()), run_name)
        player = _Run(self, spec, platform.get("kubernetes", {}), run, pipeline_root, kill)
        try:
            player.root(arguments)
        except Terminated:
            pass
        return run


class _Run:
    def __init__(self, cluster: PlayedCluster, spec: dict, kubernetes: dict, run: PlayedRun,
                 pipeline_root: str, kill):
        self.cluster = cluster
        self.spec = spec
        self.kubernetes = kubernetes
        self.run = run
        self.pipeline_root = pipeline_root
        self.kill = kill
        self.client = Client(cluster.store)
        self.pipeline_name = spec["pipelineInfo"]["name"]

    def pipeline(self, **session) -> Pipeline:
        return self.client.get_pipeline(self.pipeline_name, self.run.run_id, self.cluster.namespace,
                                        session.get("resource", ""), session.get("root", ""),
                                        session.get("session", ""))

    # -- root_dag.go ------------------------------------------------------------------
    def root(self, arguments: dict[str, Any]) -> None:
        definitions = self.spec["root"].get("inputDefinitions", {}).get("parameters", {})
        parameters = {name: arguments.get(name, d.get("defaultValue")) for name, d in definitions.items()}
        session = json.dumps({"Provider": "s3", "Params": {"fromEnv": "true"}}, separators=(",", ":"))
        pipeline = self.pipeline(resource=f"{self.pipeline_name}-{self.run.run_id[:5]}",
                                 root=self.pipeline_root, session=session)
        root = self.client.create_execution(pipeline, ExecutionConfig(
            execution_type=DAG, name=f"run/{self.run.run_id}", input_parameters=parameters))
        self.dag(self.spec["root"]["dag"], root, parameters)

    # -- argo: a DAG's tasks in order -------------------------------------------------
    def dag(self, dag_spec: dict, dag_execution: pb.Execution, parameters: dict[str, Any]) -> bool:
        """Run a DAG's tasks; True when every task it ran succeeded."""
        tasks = dag_spec["tasks"]
        done: dict[str, bool] = {}
        executions: dict[str, pb.Execution] = {}
        pending = list(_topological(tasks))
        while pending:
            key = pending.pop(0)
            task = tasks[key]
            upstream = task.get("dependentTasks", [])
            exit_task = task.get("triggerPolicy", {}).get("strategy") == ALL_COMPLETED
            if not exit_task and not all(done.get(u) for u in upstream):
                done[key] = False
                self.run.tasks[key] = "not run"
                continue
            component = self.spec["components"][task["componentRef"]["name"]]
            inputs = self.resolve_parameters(task, parameters, executions)
            if "dag" in component:
                child = self.client.create_execution(self.pipeline(), ExecutionConfig(
                    execution_type=DAG, task_name=task["taskInfo"]["name"], display_name=task["taskInfo"]["name"],
                    parent_dag_id=dag_execution.id, input_parameters=inputs,
                    total_dag_tasks=len(component["dag"]["tasks"])))
                done[key] = self.dag(component["dag"], child, inputs)
                executions[key] = child
            else:
                executions[key], done[key] = self.container(key, task, component, dag_execution, inputs,
                                                            executions)
        return all(done.values())

    def resolve_parameters(self, task: dict, parameters: dict[str, Any],
                           executions: dict[str, pb.Execution]) -> dict[str, Any]:
        """driver/resolve.go: constants (and placeholders), the parent's inputs, upstream outputs."""
        placeholders = {"{{$.pipeline_job_name}}": self.run.name,
                        "{{$.pipeline_job_resource_name}}": f"{self.pipeline_name}-{self.run.run_id[:5]}",
                        "{{$.pipeline_job_uuid}}": self.run.run_id}
        resolved = {}
        for name, source in task.get("inputs", {}).get("parameters", {}).items():
            if "runtimeValue" in source:
                value = source["runtimeValue"]["constant"]
                resolved[name] = placeholders.get(value, value) if isinstance(value, str) else value
            elif "componentInputParameter" in source:
                resolved[name] = parameters[source["componentInputParameter"]]
            elif "taskOutputParameter" in source:
                ref = source["taskOutputParameter"]
                [producer] = self.cluster.store.get_executions_by_id([executions[ref["producerTask"]].id])
                outputs = _struct(producer.custom_properties["outputs"])
                resolved[name] = outputs[ref["outputParameterKey"]]
        return resolved

    # -- container.go and launcher_v2.go ----------------------------------------------
    def container(self, key: str, task: dict, component: dict, parent: pb.Execution,
                  parameters: dict[str, Any], executions: dict[str, pb.Execution]) -> tuple[pb.Execution, bool]:
        client = self.client
        pipeline = self.pipeline()
        client.get_execution(parent.id)  # mlmd.GetDAG
        artifacts, artifact_ids = {}, {}
        for name, source in task.get("inputs", {}).get("artifacts", {}).items():
            ref = source["taskOutputArtifact"]
            outputs = client.get_output_artifacts_by_execution_id(executions[ref["producerTask"]].id)
            artifact = outputs[ref["outputArtifactKey"]]
            artifacts[name] = artifact
            artifact_ids[name] = [artifact.id]
        executor = self.spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
        created = client.create_execution(pipeline, ExecutionConfig(
            execution_type=CONTAINER, task_name=task["taskInfo"]["name"], display_name=task["taskInfo"]["name"],
            parent_dag_id=parent.id, input_parameters=parameters, input_artifact_ids=artifact_ids,
            image=executor["image"]))
        # launcher_v2.go Execute
        execution, pipeline = client.get_execution(created.id)
        pod_name = f"{self.pipeline_name}-{self.run.run_id[:5]}-system-container-impl-{created.id}"
        execution = client.pre_publish_execution(execution, pod_name, f"uid-{created.id}", self.cluster.namespace)
        pod = self.cluster.workdir / pod_name
        run_root = pipeline.run_ctx.custom_properties["pipeline_root"].string_value
        salt = str(uuid.uuid4())
        executor_input = {
            "inputs": {"parameterValues": parameters, "artifacts": {
                name: {"artifacts": [_runtime_artifact(self.cluster.store, a)]} for name, a in artifacts.items()}},
            "outputs": {
                "parameters": {name: {"outputFile": str(pod / "tmp" / "outputs" / name)}
                               for name in component.get("outputDefinitions", {}).get("parameters", {})},
                "artifacts": {name: {"artifacts": [{
                    "name": "", "type": definition["artifactType"], "metadata": {},
                    "uri": generate_output_uri(run_root, key, salt, name)}]}
                    for name, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items()},
                "outputFile": str(pod / "tmp" / "kfp_outputs" / "output_metadata.json"),
            },
        }
        for name, artifact in artifacts.items():  # downloadArtifacts
            local = _local_path(pod, artifact.uri)
            if self.cluster.s3.exists(artifact.uri):
                self.cluster.s3.get(artifact.uri, str(local), recursive=True)
        succeeded = self.execute(key, pod, pod_name, created.id, executor, component, executor_input)
        recorded, output_parameters = [], None
        if succeeded:
            result = json.loads((pod / "tmp" / "kfp_outputs" / "output_metadata.json").read_text())
            output_parameters = dict(result.get("parameterValues", {}))
            for name, listing in executor_input["outputs"]["artifacts"].items():  # uploadOutputArtifacts
                artifact = dict(listing["artifacts"][0])
                given = result.get("artifacts", {}).get(name, {}).get("artifacts", [])
                if given:  # mergeRuntimeArtifacts
                    artifact["uri"] = given[0].get("uri") or artifact["uri"]
                    artifact["metadata"] = {**artifact["metadata"], **(given[0].get("metadata") or {})}
                if not artifact["uri"].startswith(run_root.rstrip("/") + "/"):  # KeyFromURI
                    raise AssertionError(f"KFP's launcher would fail: output {name!r} at {artifact['uri']} "
                                         f"is not under the run's pipeline root {run_root}")
                local = _local_path(pod, artifact["uri"])
                if local.exists():
                    self.cluster.s3.put(str(local), artifact["uri"], recursive=True)
                recorded.append((name, self.client.record_artifact(
                    name, artifact["type"]["schemaTitle"], artifact["uri"], artifact["metadata"],
                    pb.Artifact.LIVE, {"Provider": "s3", "Params": {"fromEnv": "true"}})))
        state = pb.Execution.COMPLETE if succeeded else pb.Execution.FAILED
        client.publish_execution(execution, pipeline, output_parameters, recorded, state)
        [parent_now] = self.cluster.store.get_executions_by_id([parent.id])
        client.update_dag_executions_state(parent_now, client.get_pipeline_from_execution(created.id))
        return created, succeeded

    def execute(self, key: str, pod: Path, pod_name: str, execution_id: int, executor: dict,
                component: dict, executor_input: dict) -> bool:
        """The task's command, as the pod's main container runs it; True when it exits 0."""
        for directory in ("home", "tmp/outputs", "tmp/kfp_outputs"):
            (pod / directory).mkdir(parents=True, exist_ok=True)
        command = [*executor["command"],
                   *[json.dumps(executor_input) if arg == "{{$}}" else arg for arg in executor.get("args", [])]]
        host, port = self.cluster.service
        env = {"PATH": f"{self.cluster.venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(pod / "home"),
               "TMPDIR": str(pod / "tmp"), "LANG": "C.UTF-8", "PLAYED_POD_ROOT": str(pod),
               "KFP_POD_NAME": pod_name, "KFP_POD_UID": f"uid-{execution_id}",
               "METADATA_GRPC_SERVICE_HOST": host, "METADATA_GRPC_SERVICE_PORT": str(port)}
        env.update({item["name"]: item["value"] for item in executor.get("env", [])})
        env.update(self.secret_environment(component["executorLabel"]))
        log = pod / "log.txt"
        with open(log, "wb") as out:
            process = subprocess.Popen(command, cwd=pod, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            try:
                outcome = self.wait(key, process)
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.run.logs[key] = log.read_text(errors="replace")
        self.run.tasks[key] = outcome
        if outcome == "killed":
            raise Terminated(key)
        return outcome == "succeeded"

    def wait(self, key: str, process: subprocess.Popen) -> str:
        deadline = time.monotonic() + TASK_TIMEOUT
        while process.poll() is None:
            if self.kill is not None and self.kill[0] == key and self.kill[1]():
                os.killpg(process.pid, signal.SIGKILL)  # the pod is gone, its launcher with it
                process.wait()
                return "killed"
            if time.monotonic() > deadline:
                raise AssertionError(f"task {key} still runs after {TASK_TIMEOUT:g} s")
            time.sleep(0.1)
        return "succeeded" if process.returncode == 0 else "failed"

    def secret_environment(self, executor_label: str) -> dict[str, str]:
        """The pod's `env[].valueFrom.secretKeyRef` (driver.go, from `secretAsEnv`)."""
        executors = self.kubernetes.get("deploymentSpec", {}).get("executors", {})
        env = {}
        for reference in executors.get(executor_label, {}).get("secretAsEnv", []):
            secret = self.cluster.secrets[reference["secretName"]]
            for item in reference["keyToEnv"]:
                env[item["envVar"]] = secret[item["secretKey"]]
        return env


def _topological(tasks: dict[str, dict]) -> list[str]:
    order, seen = [], set()

    def visit(key: str) -> None:
        if key in seen:
            return
        seen.add(key)
        for upstream in sorted(tasks[key].get("dependentTasks", [])):
            visit(upstream)
        order.append(key)

    for key in sorted(tasks):
        visit(key)
    return order


def _struct(value: pb.Value) -> dict:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(value.struct_value)


def _runtime_artifact(store, artifact: pb.Artifact) -> dict:
    """converter.go `toRuntimeArtifact`: an MLMD artifact as the executor input gives it."""
    from zen_mlmd.mlmd.values import from_value

    [artifact_type] = store.get_artifact_types_by_id([artifact.type_id])
    return {"name": str(artifact.id), "type": {"schemaTitle": artifact_type.name, "schemaVersion": "0.0.1"},
            "uri": artifact.uri,
            "metadata": {k: from_value(v) for k, v in artifact.custom_properties.items()}}


def _local_path(pod: Path, uri: str) -> Path:
    """launcher `LocalPathForURI`: s3://x -> /s3/x, inside the pod's own directory."""
    scheme, _, rest = uri.partition("://")
    path = pod / {"s3": "s3", "gs": "gcs", "minio": "minio"}[scheme] / rest
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
