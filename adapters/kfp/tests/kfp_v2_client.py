"""Kubeflow Pipelines v2's MLMD client, call for call, in plain ml_metadata.

KFP's driver and launcher are Go programs that cannot run here. This module
follows their metadata client, kubeflow/pipelines
`backend/src/v2/metadata/client.go` (with `converter.go`), function by
function and in the same order of MLMD calls, so that the fixtures in
`kfp_v2_runs.py` record exactly what a cluster records. Nothing here uses
zen_mlmd's writer. Each method names the Go function it follows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2
from ml_metadata import errors as mlmd_errors
from ml_metadata.metadata_store.metadata_store import ListOptions
from ml_metadata.proto import metadata_store_pb2 as pb

PIPELINE_CONTEXT = "system.Pipeline"
RUN_CONTEXT = "system.PipelineRun"
CONTAINER = "system.ContainerExecution"
DAG = "system.DAGExecution"
IMPORTER = "system.ImporterExecution"


@dataclass
class Pipeline:
    """client.go `Pipeline`: the pipeline and run contexts."""

    pipeline_ctx: pb.Context
    run_ctx: pb.Context


@dataclass
class ExecutionConfig:
    """client.go `ExecutionConfig` (the fields the v2 driver sets)."""

    execution_type: str
    task_name: str = ""
    display_name: str = ""
    name: str = ""
    not_triggered: bool = False
    parent_dag_id: int = 0
    input_parameters: dict[str, Any] | None = None
    input_artifact_ids: dict[str, list[int]] = field(default_factory=dict)
    iteration_index: int | None = None
    iteration_count: int | None = None
    total_dag_tasks: int | None = None
    image: str = ""
    cached_mlmd_execution_id: str = ""
    fingerprint: str = ""
    pod_name: str = ""
    pod_uid: str = ""
    namespace: str = ""


def string_value(text: str) -> pb.Value:
    return pb.Value(string_value=text)


def struct_of(values: dict[str, Any]) -> pb.Value:
    struct = struct_pb2.Struct()
    struct.update(values)
    return pb.Value(struct_value=struct)


def struct_value_to_mlmd_value(value: Any) -> pb.Value:
    """converter.go `StructValueToMLMDValue`: numbers as doubles, bools as 0/1 ints."""
    if isinstance(value, bool):
        return pb.Value(int_value=int(value))
    if isinstance(value, (int, float)):
        return pb.Value(double_value=float(value))
    if isinstance(value, str):
        return pb.Value(string_value=value)
    if isinstance(value, list):
        return struct_of({"list": value})
    return struct_of({"struct": value})


def sqlite_config(path) -> pb.ConnectionConfig:
    """A SQLite store file (KFP's code and zen_mlmd then open it separately)."""
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return config


def generate_output_uri(pipeline_root: str, *paths: str) -> str:
    """client.go `GenerateOutputURI` (the query string of the root kept)."""
    root, _, query = pipeline_root.partition("?")
    return f"{root.rstrip('/')}/{'/'.join(paths)}" + (f"?{query}" if query else "")


class Client:
    """client.go `Client`, on an `ml_metadata.MetadataStore`."""

    def __init__(self, store):
        self.store = store
        self._context_type_ids: dict[str, int] = {}  # client.go ctxTypeCache

    # -- contexts -------------------------------------------------------------------
    def get_pipeline(self, pipeline_name: str, run_id: str, namespace: str, run_resource: str,
                     pipeline_root: str, store_session_info: str) -> Pipeline:
        """client.go `GetPipeline`."""
        pipeline_ctx = self._get_or_insert_context(pipeline_name, PIPELINE_CONTEXT, None)
        metadata = {
            "namespace": string_value(namespace),
            "resource_name": string_value(run_resource),
            "pipeline_root": string_value(generate_output_uri(pipeline_root, pipeline_name, run_id)),
            "store_session_info": string_value(store_session_info),
        }
        run_ctx = self._get_or_insert_context(run_id, RUN_CONTEXT, metadata)
        parents = self.store.get_parent_contexts_by_context(run_ctx.id)
        if len(parents) == 1:
            assert parents[0].id == pipeline_ctx.id
            return Pipeline(pipeline_ctx, run_ctx)
        self.store.put_parent_contexts([pb.ParentContext(child_id=run_ctx.id, parent_id=pipeline_ctx.id)])
        return Pipeline(pipeline_ctx, run_ctx)

    def _get_or_insert_context(self, name: str, type_name: str, custom_props) -> pb.Context:
        """client.go `getOrInsertContext`."""
        found = self.store.get_context_by_type_and_name(type_name, name)
        if found is not None:
            return found
        context = pb.Context(name=name, type_id=self._context_type_id(type_name))
        for key, value in (custom_props or {}).items():
            context.custom_properties[key].CopyFrom(value)
        self.store.put_contexts([context])
        return self.store.get_context_by_type_and_name(type_name, name)

    def _context_type_id(self, type_name: str) -> int:
        """client.go `getContextTypeID`: GetContextType, PutContextType when NotFound."""
        if type_name not in self._context_type_ids:
            try:
                self._context_type_ids[type_name] = self.store.get_context_type(type_name).id
            except mlmd_errors.NotFoundError:
                self._context_type_ids[type_name] = self.store.put_context_type(pb.ContextType(name=type_name))
        return self._context_type_ids[type_name]

    def get_pipeline_from_execution(self, execution_id: int) -> Pipeline:
        """client.go `GetPipelineFromExecution`."""
        pipeline_type = self._context_type_id(PIPELINE_CONTEXT)
        run_type = self._context_type_id(RUN_CONTEXT)
        contexts = self.store.get_contexts_by_execution(execution_id)
        by_type = {c.type_id: c for c in contexts}
        return Pipeline(by_type.get(pipeline_type), by_type.get(run_type))

    # -- executions -----------------------------------------------------------------
    def create_execution(self, pipeline: Pipeline, config: ExecutionConfig) -> pb.Execution:
        """client.go `CreateExecution`."""
        type_id = self.store.put_execution_type(pb.ExecutionType(name=config.execution_type))
        execution = pb.Execution(type_id=type_id)
        props = execution.custom_properties
        props["display_name"].CopyFrom(string_value(config.display_name))
        props["task_name"].CopyFrom(string_value(config.task_name))
        if config.name:
            execution.name = config.name
        execution.last_known_state = pb.Execution.CANCELED if config.not_triggered else pb.Execution.RUNNING
        if config.parent_dag_id:
            props["parent_dag_id"].int_value = config.parent_dag_id
        if config.iteration_index is not None:
            props["iteration_index"].int_value = config.iteration_index
        if config.iteration_count is not None:
            props["iteration_count"].int_value = config.iteration_count
        if config.execution_type == CONTAINER:
            props["pod_name"].CopyFrom(string_value(config.pod_name))
            props["pod_uid"].CopyFrom(string_value(config.pod_uid))
            props["namespace"].CopyFrom(string_value(config.namespace))
            props["image"].CopyFrom(string_value(config.image))
            if config.cached_mlmd_execution_id:
                props["cached_execution_id"].CopyFrom(string_value(config.cached_mlmd_execution_id))
            if config.fingerprint:
                props["cache_fingerprint"].CopyFrom(string_value(config.fingerprint))
        if config.input_parameters is not None:
            props["inputs"].CopyFrom(struct_of(config.input_parameters))
        if config.total_dag_tasks is not None:
            props["total_dag_tasks"].int_value = config.total_dag_tasks
        pairs = []
        for name, ids in config.input_artifact_ids.items():
            for artifact_id in ids:
                event = pb.Event(artifact_id=artifact_id, type=pb.Event.INPUT)
                event.path.steps.add().key = name  # client.go `eventPath`: one step
                pairs.append((None, event))
        execution_id, _, _ = self.store.put_execution(
            execution, pairs, [pipeline.pipeline_ctx, pipeline.run_ctx])
        [created] = self.store.get_executions_by_id([execution_id])
        return created

    def get_execution(self, execution_id: int) -> tuple[pb.Execution, Pipeline]:
        """client.go `GetExecution` (also `GetDAG`)."""
        [execution] = self.store.get_executions_by_id([execution_id])
        return execution, self.get_pipeline_from_execution(execution.id)

    def pre_publish_execution(self, execution: pb.Execution, pod_name: str, pod_uid: str,
                              namespace: str) -> pb.Execution:
        """client.go `PrePublishExecution`: pod info, RUNNING; no contexts."""
        execution.custom_properties["pod_name"].CopyFrom(string_value(pod_name))
        execution.custom_properties["pod_uid"].CopyFrom(string_value(pod_uid))
        execution.custom_properties["namespace"].CopyFrom(string_value(namespace))
        execution.last_known_state = pb.Execution.RUNNING
        self.store.put_execution(execution, [], [])
        return execution

    def publish_execution(self, execution: pb.Execution, pipeline: Pipeline | None,
                          output_parameters: dict[str, Any] | None,
                          output_artifacts: list[tuple[str, pb.Artifact]], state: int) -> None:
        """client.go `PublishExecution`: an artifact without an id is created with its event."""
        execution.last_known_state = state
        if output_parameters is not None:
            execution.custom_properties["outputs"].CopyFrom(struct_of(output_parameters))
        contexts = [pipeline.pipeline_ctx, pipeline.run_ctx] if pipeline is not None else []
        pairs = []
        for name, artifact in output_artifacts:
            event = pb.Event(type=pb.Event.OUTPUT)
            event.path.steps.add().key = name
            if artifact.id:
                event.artifact_id = artifact.id
                pairs.append((None, event))
            else:
                pairs.append((artifact, event))
        self.store.put_execution(execution, pairs, contexts)

    def update_dag_executions_state(self, dag: pb.Execution, pipeline: Pipeline) -> None:
        """client.go `UpdateDAGExecutionsState`, with its upward propagation."""
        props = dag.custom_properties
        has_count = "iteration_count" in props
        expected = props["iteration_count"].int_value if has_count else (
            props["total_dag_tasks"].int_value if "total_dag_tasks" in props else 0)
        if expected == 0 and not has_count:
            return  # the root DAG: never updated
        tasks = self.store.get_executions_by_context(pipeline.run_ctx.id, list_options=ListOptions(
            filter_query=f"custom_properties.parent_dag_id.int_value = {dag.id}"))
        done = sum(t.last_known_state in (pb.Execution.COMPLETE, pb.Execution.CACHED, pb.Execution.CANCELED)
                   for t in tasks)
        failed = sum(t.last_known_state == pb.Execution.FAILED for t in tasks)
        if done == expected:
            state = pb.Execution.COMPLETE
        elif failed > 0:
            state = pb.Execution.FAILED
        else:
            return
        current, _ = self.get_execution(dag.id)  # client.go `PutDAGExecutionState`
        current.last_known_state = state
        self.store.put_execution(current, [], [])
        parent_id = props["parent_dag_id"].int_value if "parent_dag_id" in props else 0
        if parent_id:
            parent, _ = self.get_execution(parent_id)
            self.update_dag_executions_state(parent, pipeline)

    # -- artifacts ------------------------------------------------------------------
    def record_artifact(self, output_name: str, schema_title: str, uri: str, metadata: dict[str, Any],
                        state: int, session_info: dict[str, Any]) -> pb.Artifact:
        """client.go `RecordArtifact`: the artifact is put on its own, then read back."""
        artifact = pb.Artifact(uri=uri)  # converter.go `toMLMDArtifact`
        for key, value in metadata.items():
            artifact.custom_properties[key].CopyFrom(struct_value_to_mlmd_value(value))
        artifact.type_id = self.store.put_artifact_type(pb.ArtifactType(name=schema_title))
        artifact.state = state
        if "display_name" not in artifact.custom_properties:
            artifact.custom_properties["display_name"].string_value = output_name
        if "store_session_info" not in artifact.custom_properties:
            artifact.custom_properties["store_session_info"].string_value = json.dumps(
                session_info, separators=(",", ":"))
        [artifact_id] = self.store.put_artifacts([artifact])
        [stored] = self.store.get_artifacts_by_id([artifact_id])
        return stored

    def get_or_insert_artifact_type(self, schema_title: str) -> int:
        """client.go `GetOrInsertArtifactType`."""
        try:
            return self.store.get_artifact_type(schema_title).id
        except mlmd_errors.NotFoundError:
            return self.store.put_artifact_type(pb.ArtifactType(name=schema_title))

    def find_matched_artifact(self, target: pb.Artifact, pipeline_context_id: int) -> pb.Artifact | None:
        """client.go `FindMatchedArtifact` (and `matchedArtifactOrNot`)."""
        for candidate in self.store.get_artifacts_by_uri(target.uri):
            if (candidate.type_id, candidate.state, candidate.uri) != (target.type_id, target.state, target.uri):
                continue
            if any(k not in candidate.custom_properties or candidate.custom_properties[k] != v
                   for k, v in target.custom_properties.items()):
                continue
            if pipeline_context_id in {c.id for c in self.store.get_contexts_by_artifact(candidate.id)}:
                return candidate
        return None

    def get_output_artifacts_by_execution_id(self, execution_id: int) -> dict[str, pb.Artifact]:
        """client.go `GetOutputArtifactsByExecutionId`."""
        events = self.store.get_events_by_execution_ids([execution_id])
        names = {e.artifact_id: e.path.steps[0].key for e in events if e.type == pb.Event.OUTPUT}
        artifacts = self.store.get_artifacts_by_id(list(names))
        return {names[a.id]: a for a in artifacts}
