"""What runs inside every KFP task: one zen_mlmd step, recorded like the local orchestrator does.

`run_task` is called by the generated component function (see `compiler`)
inside kfp's executor, with the task spec, the run name and the task's KFP
input and output artifacts. It

1. opens the stack's metadata and artifact stores named in the spec;
2. starts the zen_mlmd run, or attaches to it when the launcher or another
   task started it;
3. computes the step's cache key exactly as the local orchestrator does
   (`zen_mlmd.tracking.step_cache`: code fingerprint, parameters, the cache
   keys of the producers of its inputs, declared outputs, artifact store
   root); an uncacheable step says why and runs;
4. on a cache hit (outputs verified in the artifact store) records the step
   CACHED and does not call the step;
   otherwise records it RUNNING, runs it, saves its outputs through their
   materializers into the artifact store and records it COMPLETE (FAILED,
   with the run ended as failed, when it raises);
5. describes each output in its KFP output artifact's metadata (artifact
   id, URI, materializer, producer's cache key) for the downstream tasks,
   and logs metric values on KFP `Metrics` outputs for the KFP UI;
6. ends the run when its step is the last of the run to end.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import socket
import sys
from typing import Any, Mapping

from zen_mlmd.errors import ConfigError, MaterializerError
from zen_mlmd.tracking.caching import output_identity
from zen_mlmd.tracking.step_cache import MISS_REASON_PROPERTY, look_up, step_key

from zen_mlmd_kfp.task_spec import TaskSpec

#: Key of the zen_mlmd description in a KFP artifact's metadata.
METADATA_KEY = "zen_mlmd"


@dataclasses.dataclass(frozen=True)
class UpstreamArtifact:
    """A step input as the producing task described it."""

    artifact_id: int
    uri: str
    materializer: str
    data_type: str
    producer_cache_key: str
    output_name: str
    #: how consumers' cache keys name this output (`caching.output_identity`)
    identity: str
    #: the recorded content hash, checked before the input is loaded
    content_hash: str = ""


def run_task(task_json: str, run_name: str, kfp_job: str,
             inputs: Mapping[str, Any], outputs: Mapping[str, Any], kfp_run_id: str = "") -> None:
    """Run and record one step in a KFP task (see the module docstring).

    Args:
        task_json: the `TaskSpec` the compiler wrote for this task.
        run_name: the zen_mlmd run name; "" names the run after the KFP job.
        kfp_job: the KFP job (pipeline run resource) name.
        kfp_run_id: the KFP run ID; in the `kfp` convention the run's
            context is named by it (`kfp.local` makes up ids of its own, but
            there the launcher has started the run already, found by name).
        inputs: KFP input artifacts by KFP input name.
        outputs: KFP output artifacts by KFP output name.

    Raises:
        Exception: whatever the step raised, once the failure is recorded, so
            that KFP marks the task failed and runs none of its dependents.
    """
    from zen_mlmd.mlmd.convention import get_convention
    from zen_mlmd.stack.components import ArtifactStoreComponent, MetadataStoreComponent
    from zen_mlmd.tracking.recorder import Recorder

    from zen_mlmd_kfp import recording

    spec = TaskSpec.from_json(task_json)
    run_name = run_name or kfp_job
    step = import_step(spec.step_ref)
    stores = spec.stores
    store = MetadataStoreComponent(stores.metadata_store_name, stores.metadata_store_flavor,
                                   dict(stores.metadata_store_options)).open()
    with store:  # closed when the task ends, failed or not (a port-forward stops with it)
        artifact_store = ArtifactStoreComponent(
            stores.artifact_store_name, stores.artifact_store_path, stores.artifact_store_trusted).open()
        convention = get_convention(spec.convention)
        recorder = Recorder(store, artifact_store, convention=convention)
        kfp = {**dict(spec.run_config.get("kfp") or {}), "job": kfp_job}
        if kfp_run_id:
            kfp["run_id"] = kfp_run_id
        config = {**spec.run_config, "kfp": kfp}
        run = recording.start_or_attach_run(recorder, spec.pipeline_name, run_name, config,
                                            {"source": spec.pipeline_source})
        if kfp_run_id and convention.name != "kfp":
            recording.mark_kfp_run(store, kfp_run_id, run.name, convention.name)  # listed once

        upstream = _upstream(spec, inputs)
        identities = {name: [a.identity for a in arts] for name, arts in upstream.items()}
        declared = {o.name: _materializer_name(o.materializer) for o in step.outputs}
        key = step_key(step.func, spec.parameters, identities, declared, artifact_store.root)
        properties = {"pod_name": socket.gethostname(), "image": spec.image or None,
                      "kfp_job": kfp_job or None, **key.properties()}
        names = set(spec.step_names)

        cached = None
        if spec.enable_cache and not key.cacheable:
            _say(key.console_line(spec.step_name))
        elif spec.enable_cache:
            decision = look_up(store, artifact_store, key.value, {o.name for o in step.outputs},
                               convention)
            cached = decision.hit
            if decision.rejected:
                _say(f"step {spec.step_name}: cached outputs not reused: {decision.rejected}")
                if cached is None:
                    properties[MISS_REASON_PROPERTY] = decision.rejected
        start = run.step_start(
            spec.step_name, step.type_name, spec.parameters,
            {name: [a.artifact_id for a in arts] for name, arts in upstream.items()},
            key.fingerprint.value, key.value, key.key.parts, properties=properties,
        )
        if cached is not None:
            run.record_cached_step(
                start, cached.execution_id,
                {name: [a.id for a in arts] for name, arts in cached.outputs.items()})
            for name, arts in cached.outputs.items():
                a = arts[0]
                _describe_output(outputs[spec.kfp_outputs[name]], UpstreamArtifact(
                    a.id, a.uri, a.materializer, a.data_type, key.value, name,
                    output_identity(key.value, name), a.content_hash), None)
            _say(f"step {spec.step_name}: cached (outputs of execution {cached.execution_id})")
            recording.finish_if_last(run, convention, names)
            return

        step_recorder = run.begin_step(start)
        try:
            values = _call(step, spec, upstream, artifact_store)
            saved = {}
            for output_spec, value in zip(step.outputs, values):
                written = step_recorder.save_output(output_spec.name, value, kind=output_spec.kind,
                                                    materializer=output_spec.materializer)
                saved[output_spec.name] = (written, value)
            ids = step_recorder.publish({name: written for name, (written, _) in saved.items()})
        except Exception as exc:
            step_recorder.fail(exc)
            run.finish("failed")
            raise
        # not cached, so maybe not deterministic: consumers name its outputs by content
        by_content = step.enable_cache is False or not key.cacheable
        for name, (written, value) in saved.items():
            identity = output_identity(key.value, name, written.content_hash if by_content else None)
            _describe_output(outputs[spec.kfp_outputs[name]], UpstreamArtifact(
                ids[name][0], written.uri, written.materializer, written.data_type, key.value, name,
                identity, written.content_hash), value)
        _say(f"step {spec.step_name}: completed")
        recording.finish_if_last(run, convention, names)


def import_step(ref: str):
    """The `@step` object at ``module:qualname``.

    Raises:
        ConfigError: it cannot be imported in this process (its code is not in the image?).
    """
    module_name, _, qualname = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            "step", ref, f"cannot be imported in the task: {type(exc).__name__}: {exc}",
            "install the pipeline's code in the task image (or put it on PYTHONPATH)",
        ) from None
    if not hasattr(target, "outputs") or not hasattr(target, "func"):
        raise ConfigError("step", ref, "is not a zen_mlmd @step", "point the pipeline at @step functions")
    return target


def _upstream(spec: TaskSpec, inputs: Mapping[str, Any]) -> dict[str, list[UpstreamArtifact]]:
    found: dict[str, list[tuple[int, UpstreamArtifact]]] = {}
    for kfp_input, (name, index) in spec.kfp_inputs.items():
        described = (inputs[kfp_input].metadata or {}).get(METADATA_KEY) or _pointer(inputs[kfp_input])
        if not described:
            raise ConfigError(
                f"{spec.step_name}.{name}", kfp_input, "the input artifact was not produced by a zen_mlmd task",
                "connect zen_mlmd steps only to outputs of zen_mlmd steps",
            )
        found.setdefault(name, []).append((index, UpstreamArtifact(
            int(described["artifact_id"]), described["uri"], described["materializer"],
            described["data_type"], described["cache_key"], described["output"],
            described.get("identity") or output_identity(described["cache_key"], described["output"]),
            str(described.get("content_hash") or ""))))
    return {name: [a for _, a in sorted(items, key=lambda item: item[0])] for name, items in found.items()}


def _call(step, spec: TaskSpec, upstream: Mapping[str, list[UpstreamArtifact]], artifact_store) -> tuple:
    from zen_mlmd.artifacts import read_artifact

    kwargs: dict[str, Any] = dict(spec.parameters)
    for name, arts in upstream.items():
        loaded = [read_artifact(a.uri, artifact_store, a.materializer, a.data_type,
                                content_hash=a.content_hash) for a in arts]
        kwargs[name] = tuple(loaded) if name in spec.list_inputs else loaded[0]
    result = step.func(**kwargs)
    if len(step.outputs) == 1:
        return (result,)
    if not isinstance(result, tuple) or len(result) != len(step.outputs):
        raise MaterializerError(
            f"step {spec.step_name!r} declares {len(step.outputs)} outputs "
            f"({', '.join(o.name for o in step.outputs)}) but returned {type(result).__name__}. "
            "Fix: return a tuple with one value per declared output"
        )
    return result


def _describe_output(kfp_output, artifact: UpstreamArtifact, value: Any) -> None:
    description = {
        "artifact_id": artifact.artifact_id, "uri": artifact.uri, "materializer": artifact.materializer,
        "data_type": artifact.data_type, "cache_key": artifact.producer_cache_key,
        "output": artifact.output_name, "identity": artifact.identity,
        "content_hash": artifact.content_hash,
    }
    if hasattr(kfp_output, "log_metric"):
        # KFP's UI shows every property of a Metrics artifact as a metric: its
        # metadata holds the numbers only; consumers read the pointer file
        if isinstance(value, Mapping):
            for name, number in value.items():
                if isinstance(number, (int, float)) and not isinstance(number, bool):
                    kfp_output.log_metric(str(name), number)
    else:
        kfp_output.metadata[METADATA_KEY] = description
    # KFP uploads whatever is at the output's path: a pointer to the contents
    # in the zen_mlmd artifact store.
    os.makedirs(os.path.dirname(kfp_output.path) or ".", exist_ok=True)
    with open(kfp_output.path, "w", encoding="utf-8") as pointer:
        json.dump(description, pointer)


def _pointer(kfp_input) -> dict | None:
    """The description a producing task wrote into its output's file (`_describe_output`)."""
    try:
        with open(kfp_input.path, encoding="utf-8") as pointer:
            described = json.load(pointer)
    except (OSError, ValueError, TypeError):
        return None
    return described if isinstance(described, dict) and "artifact_id" in described else None


def _materializer_name(materializer) -> str:
    if materializer is None:
        return "auto"
    if isinstance(materializer, str):
        return materializer
    return getattr(materializer, "name", None) or getattr(materializer, "__name__", repr(materializer))


def _say(text: str) -> None:
    print(f"[zen_mlmd] {text}", file=sys.stderr, flush=True)
