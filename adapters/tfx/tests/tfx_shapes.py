"""Stores written the way TFX writes them, with plain ml_metadata calls.

TFX cannot be imported next to ml-metadata 1.17, so these writers follow
TFX's own code call by call (read at tensorflow/tfx tags v1.14.0 and
v0.22.0); the MLMD calls are the ones TFX makes, in its order. They never use
zen_mlmd's writer: the tests read what *TFX* would have written. Runs
recorded by TFX itself (``real_tfx.py``) check the same shapes.

`PortableTfxWriter` follows TFX 1.x's portable launcher,
``tfx/orchestration/portable/launcher.py`` (``Launcher._prepare_execution``
and ``Launcher.launch``):

1. ``context_lib.prepare_contexts`` (``portable/mlmd/context_lib.py``):
   ``pipeline``, ``pipeline_run`` and ``node`` contexts registered if they do
   not exist (``_register_context_if_not_exist``), the run a child of the
   pipeline;
2. ``Launcher._register_or_reuse_execution`` ->
   ``execution_publish_utils.register_execution``
   (``portable/execution_publish_utils.py``) -> ``execution_lib.put_execution``
   (``portable/mlmd/execution_lib.py``): one ``put_execution`` with the RUNNING
   execution, INPUT events and those three contexts. No execution_cache
   context yet, no output artifacts;
3. ``outputs_utils.generate_output_artifacts`` (``portable/outputs_utils.py``):
   output artifacts exist only in memory, PENDING, URI
   ``<pipeline root>/<node>/<key>/<execution id>``;
4. ``cache_utils.get_cache_context`` (``portable/cache_utils.py``) registers
   the ``execution_cache`` context (sha256 key) and appends it to the
   launcher's ``contexts``: the execution joins it at publish, whether it
   succeeds, fails or is a cache hit;
5. ``execution_publish_utils.publish_succeeded_execution``: COMPLETE, outputs
   LIVE through ``Artifact.state`` only (``tfx/types/artifact.py``: the
   custom ``state`` property is written only for states MLMD has no value
   for), OUTPUT events; ``publish_failed_execution``: FAILED, no outputs;
   ``publish_cached_executions``: CACHED with OUTPUT events to the reused
   artifacts.

`LegacyTfxWriter` follows the legacy driver's ``Metadata`` class,
``tfx/orchestration/metadata.py`` (v0.22.0, where artifact states live in
the typed ``state`` property; later versions also mirror states into
``last_known_state`` / ``Artifact.state``: ``mirror_states``):
``register_pipeline_contexts_if_not_exists``, ``register_execution``,
``publish_execution`` and ``update_execution`` (cached).
"""
from __future__ import annotations

import hashlib
import json
import uuid
from typing import Mapping, Sequence

from ml_metadata.metadata_store import metadata_store as mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

TFX_VERSION = "1.14.0"

#: TFX standard artifact types: properties and base type.
ARTIFACT_TYPES = {
    "Examples": ({"span": pb.INT, "version": pb.INT, "split_names": pb.STRING}, "DATASET"),
    "ExampleStatistics": ({"span": pb.INT, "split_names": pb.STRING}, "STATISTICS"),
    "Schema": ({}, None),
    "Model": ({}, "MODEL"),
}


def sqlite_config(path) -> pb.ConnectionConfig:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return config


def _event(event_type: int, key: str, index: int, artifact_id: int | None = None) -> pb.Event:
    event = pb.Event(type=event_type)
    if artifact_id:
        event.artifact_id = artifact_id
    event.path.steps.add().key = key
    event.path.steps.add().index = index
    return event


class PortableTfxWriter:
    """Writes pipeline runs as TFX 1.x's portable launcher does (see the module docstring)."""

    def __init__(self, store: mlmd.MetadataStore, pipeline_name: str, pipeline_root: str = "/tmp/root"):
        self.store = store
        self.pipeline_name = pipeline_name
        self.pipeline_root = pipeline_root

    # context_lib.register_context_if_not_exists (portable/mlmd/context_lib.py)
    def _context(self, type_name: str, name: str) -> pb.Context:
        type_id = self.store.put_context_type(pb.ContextType(name=type_name),
                                              can_add_fields=True, can_omit_fields=True)
        existing = self.store.get_context_by_type_and_name(type_name, name)
        if existing is not None:
            return existing
        context = pb.Context(type_id=type_id, name=name)
        [context.id] = self.store.put_contexts([context])
        return context

    def start_run(self, run_id: str) -> list[pb.Context]:
        """context_lib.prepare_contexts: the pipeline and run contexts, then the parent link."""
        pipeline = self._context("pipeline", self.pipeline_name)
        run = self._context("pipeline_run", run_id)
        self.store.put_parent_contexts([pb.ParentContext(child_id=run.id, parent_id=pipeline.id)])
        return [pipeline, run]

    def _artifact(self, type_name: str, uri: str, node_id: str, key: str, properties: Mapping) -> pb.Artifact:
        props, base = ARTIFACT_TYPES[type_name]
        artifact_type = pb.ArtifactType(name=type_name)
        for prop, kind in props.items():
            artifact_type.properties[prop] = kind
        if base:
            artifact_type.base_type = pb.ArtifactType.SystemDefinedBaseType.Value(base)
        type_id = self.store.put_artifact_type(artifact_type, can_add_fields=True, can_omit_fields=True)
        # outputs_utils.generate_output_artifacts: PENDING (Artifact.state only, tfx/types/artifact.py)
        artifact = pb.Artifact(type_id=type_id, uri=uri, state=pb.Artifact.PENDING)
        for prop, value in properties.items():
            if prop == "split_names":
                artifact.properties[prop].string_value = json.dumps(value)
            else:
                artifact.properties[prop].int_value = value
        artifact.custom_properties["tfx_version"].string_value = TFX_VERSION
        return artifact

    def _register(self, run_contexts, node_id, component_type, inputs, exec_properties) -> tuple[pb.Execution, list]:
        """execution_publish_utils.register_execution: RUNNING + INPUT events + contexts, one call."""
        contexts = [*run_contexts, self._context("node", f"{self.pipeline_name}.{node_id}")]
        type_id = self.store.put_execution_type(pb.ExecutionType(name=component_type),
                                                can_add_fields=True, can_omit_fields=True)
        execution = pb.Execution(type_id=type_id, name=str(uuid.uuid4()),
                                 last_known_state=pb.Execution.RUNNING)
        for key, value in exec_properties.items():
            target = execution.custom_properties[key]
            if isinstance(value, int):
                target.int_value = value
            elif isinstance(value, float):
                target.double_value = value
            else:
                target.string_value = str(value)
        pairs = [(artifact, _event(pb.Event.INPUT, key, index))
                 for key, artifacts in inputs.items() for index, artifact in enumerate(artifacts)]
        execution.id, _, _ = self.store.put_execution(execution, pairs, contexts,
                                                      reuse_context_if_already_exist=True)
        return execution, contexts

    def run_component(
        self, run_contexts: Sequence[pb.Context], node_id: str, component_type: str,
        inputs: Mapping[str, list[pb.Artifact]] | None = None,
        outputs: Mapping[str, list[tuple[str, dict]]] | None = None,
        exec_properties: Mapping | None = None, fail: bool = False, pending_outputs: bool = False,
    ) -> tuple[pb.Execution, dict[str, list[pb.Artifact]]]:
        """A component that runs: registered RUNNING, then published (steps 2-5 of the module docstring).

        `outputs` maps an output key to ``[(artifact type, properties)]``.
        `pending_outputs` also registers the outputs PENDING with
        PENDING_OUTPUT events before the executor runs, as TFX's
        ``execution_lib.register_pending_output_artifacts`` does for
        orchestrators that call it (the portable launcher does not).
        """
        inputs, outputs, exec_properties = inputs or {}, outputs or {}, exec_properties or {}
        execution, contexts = self._register(run_contexts, node_id, component_type, inputs, exec_properties)
        produced: dict[str, list[pb.Artifact]] = {}
        for key, specs in outputs.items():
            for type_name, properties in specs:
                uri = f"{self.pipeline_root}/{node_id}/{key}/{execution.id}"
                produced.setdefault(key, []).append(self._artifact(type_name, uri, node_id, key, properties))
        if pending_outputs:
            pairs = [(artifact, _event(pb.Event.PENDING_OUTPUT, key, index))
                     for key, artifacts in produced.items() for index, artifact in enumerate(artifacts)]
            _, ids, _ = self.store.put_execution(execution, pairs, contexts, reuse_context_if_already_exist=True)
            for (artifact, _event_), artifact_id in zip(pairs, ids):
                artifact.id = artifact_id
        # cache_utils.get_cache_context: registered now, joined at publish (success or failure)
        cache_key = hashlib.sha256(f"{node_id}:{sorted(exec_properties.items())}:{sorted(inputs)}"
                                   .encode()).hexdigest()
        contexts = [*contexts, self._context("execution_cache", cache_key)]
        published = []
        if fail:  # execution_publish_utils.publish_failed_execution
            execution.last_known_state = pb.Execution.FAILED
        else:  # execution_publish_utils.publish_succeeded_execution
            execution.last_known_state = pb.Execution.COMPLETE
            for key, artifacts in produced.items():
                for index, artifact in enumerate(artifacts):
                    artifact.state = pb.Artifact.LIVE
                    published.append((artifact, _event(pb.Event.OUTPUT, key, index)))
        _, ids, _ = self.store.put_execution(execution, published, contexts, reuse_context_if_already_exist=True)
        for (artifact, _event_), artifact_id in zip(published, ids):
            artifact.id = artifact_id
        return execution, produced

    def cached_component(
        self, run_contexts: Sequence[pb.Context], node_id: str, component_type: str,
        cache_key: str, cached_outputs: Mapping[str, list[pb.Artifact]],
        inputs: Mapping[str, list[pb.Artifact]] | None = None,
    ) -> pb.Execution:
        """A cache hit: registered RUNNING, then ``publish_cached_executions``: CACHED with OUTPUT
        events to the reused artifacts, joined to the cache context `get_cache_context` registered."""
        execution, contexts = self._register(run_contexts, node_id, component_type, inputs or {}, {})
        contexts = [*contexts, self._context("execution_cache", cache_key)]
        execution.last_known_state = pb.Execution.CACHED
        pairs = [(artifact, _event(pb.Event.OUTPUT, key, index))
                 for key, artifacts in cached_outputs.items() for index, artifact in enumerate(artifacts)]
        self.store.put_execution(execution, pairs, contexts, reuse_context_if_already_exist=True)
        return execution

    def cache_key_of(self, execution: pb.Execution) -> str:
        [context] = [c for c in self.store.get_contexts_by_execution(execution.id)
                     if c.type == "execution_cache"]
        return context.name


class LegacyTfxWriter:
    """Writes pipeline runs as TFX's legacy ``Metadata`` class did (tfx/orchestration/metadata.py)."""

    def __init__(self, store: mlmd.MetadataStore, pipeline_name: str, mirror_states: bool = True,
                 pipeline_root: str = "/tmp/legacy_root"):
        self.store = store
        self.pipeline_name = pipeline_name
        #: Later legacy versions mirrored states into last_known_state / Artifact.state.
        self.mirror_states = mirror_states
        self.pipeline_root = pipeline_root

    def _context(self, type_name: str, name: str, properties: Mapping[str, str]) -> pb.Context:
        context_type = pb.ContextType(name=type_name)
        for key in properties:
            context_type.properties[key] = pb.STRING
        type_id = self.store.put_context_type(context_type, can_add_fields=True, can_omit_fields=True)
        existing = self.store.get_context_by_type_and_name(type_name, name)
        if existing is not None:
            return existing
        context = pb.Context(type_id=type_id, name=name)
        for key, value in properties.items():
            context.properties[key].string_value = value
        [context.id] = self.store.put_contexts([context])
        return context

    def start_run(self, run_id: str) -> list[pb.Context]:
        """Metadata.register_pipeline_contexts_if_not_exists: `pipeline` and `run`, no parent link."""
        pipeline = self._context("pipeline", self.pipeline_name, {"pipeline_name": self.pipeline_name})
        run = self._context("run", f"{self.pipeline_name}.{run_id}",
                            {"pipeline_name": self.pipeline_name, "run_id": run_id})
        return [pipeline, run]

    def _execution(self, run_contexts, component_id, component_type, exec_properties) -> pb.Execution:
        execution_type = pb.ExecutionType(name=component_type)
        for key in ("state", *exec_properties, "pipeline_name", "pipeline_root", "run_id", "component_id"):
            execution_type.properties[key] = pb.STRING
        type_id = self.store.put_execution_type(execution_type, can_add_fields=True, can_omit_fields=True)
        execution = pb.Execution(type_id=type_id)
        self._set_state(execution, "new")
        for key, value in exec_properties.items():
            execution.properties[key].string_value = str(value)  # the legacy driver stored strings
        execution.properties["pipeline_name"].string_value = self.pipeline_name
        execution.properties["pipeline_root"].string_value = self.pipeline_root
        execution.properties["run_id"].string_value = run_contexts[1].properties["run_id"].string_value
        execution.properties["component_id"].string_value = component_id
        return execution

    def _set_state(self, execution: pb.Execution, state: str) -> None:
        execution.properties["state"].string_value = state
        if self.mirror_states:
            execution.last_known_state = {"new": pb.Execution.RUNNING, "complete": pb.Execution.COMPLETE,
                                          "cached": pb.Execution.CACHED}[state]

    def _register(self, run_contexts, component_id, component_type, inputs, exec_properties):
        run_id = run_contexts[1].properties["run_id"].string_value
        component_run = self._context(
            "component_run", f"{run_contexts[1].name}.{component_id}",
            {"pipeline_name": self.pipeline_name, "run_id": run_id, "component_id": component_id})
        contexts = [*run_contexts, component_run]
        execution = self._execution(run_contexts, component_id, component_type, exec_properties)
        pairs = [(artifact, _event(pb.Event.INPUT, key, index))
                 for key, artifacts in inputs.items() for index, artifact in enumerate(artifacts)]
        execution.id, _, _ = self.store.put_execution(execution, pairs, contexts)
        return execution, contexts

    def run_component(self, run_contexts, component_id, component_type, inputs=None, outputs=None,
                      exec_properties=None):
        """Metadata.register_execution (state `new`), then Metadata.publish_execution
        (`complete`, outputs with the typed property ``state`` = `published`)."""
        inputs, outputs = inputs or {}, outputs or {}
        execution, contexts = self._register(run_contexts, component_id, component_type, inputs,
                                             exec_properties or {})
        produced: dict[str, list[pb.Artifact]] = {}
        pairs = []
        for key, specs in outputs.items():
            for index, (type_name, properties) in enumerate(specs):
                artifact_type = pb.ArtifactType(name=type_name)
                for prop in ("type_name", "state", "name", "producer_component", "split_names"):
                    artifact_type.properties[prop] = pb.STRING
                artifact_type.properties["span"] = pb.INT
                type_id = self.store.put_artifact_type(artifact_type, can_add_fields=True,
                                                       can_omit_fields=True)
                artifact = pb.Artifact(type_id=type_id, uri=f"{self.pipeline_root}/{component_id}/{key}")
                artifact.properties["type_name"].string_value = type_name
                artifact.properties["state"].string_value = "published"
                artifact.properties["name"].string_value = key
                artifact.properties["producer_component"].string_value = component_id
                for prop, value in properties.items():
                    if prop == "split_names":
                        artifact.properties[prop].string_value = json.dumps(value)
                    else:
                        artifact.properties[prop].int_value = value
                if self.mirror_states:
                    artifact.state = pb.Artifact.LIVE
                produced.setdefault(key, []).append(artifact)
                pairs.append((artifact, _event(pb.Event.OUTPUT, key, index)))
        self._set_state(execution, "complete")
        _, ids, _ = self.store.put_execution(execution, pairs, contexts)
        for (artifact, _event_), artifact_id in zip(pairs, ids):
            artifact.id = artifact_id
        return execution, produced

    def cached_component(self, run_contexts, component_id, component_type, cached_outputs, inputs=None):
        """Metadata.register_execution, then Metadata.update_execution(state `cached`) with the earlier outputs."""
        execution, contexts = self._register(run_contexts, component_id, component_type, inputs or {}, {})
        self._set_state(execution, "cached")
        pairs = [(artifact, _event(pb.Event.OUTPUT, key, index))
                 for key, artifacts in cached_outputs.items() for index, artifact in enumerate(artifacts)]
        self.store.put_execution(execution, pairs, contexts)
        return execution
