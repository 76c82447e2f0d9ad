"""What runs inside every KFP task: one zen_mlmd step, through the step runner the local orchestrator uses.

`run_task` is called by the generated component function (see `compiler`)
inside kfp's executor, with the task spec, the run name, what the upstream
tasks published (their `zen_mlmd` outputs) and the task's KFP input and
output artifacts. It

1. opens the stack's metadata and artifact stores named in the spec (a
   `kubeflow` store inside a pod dials the in-cluster service first);
2. joins the run: on a cluster, the execution KFP's driver created for this
   task, in KFP's run context and under its root DAG (`joined`): the task
   adds zen_mlmd's facts to it, never a second record; elsewhere
   (`kfp.local`, a KFP that records nothing in MLMD) it starts the run or
   attaches to it and records its step itself;
3. runs the step with `zen_mlmd.pipelines.step_runner.StepRunner`: the same
   fingerprint, verified cache lookup, run, save and publish as the local
   orchestrator, with a heartbeat during long steps;
4. hands each output to KFP: the URI of its contents (when they lie under
   KFP's pipeline root, KFP records the artifact there), a metrics output's
   numbers for KFP's UI, and the task's `zen_mlmd` output: the step's facts
   and where its outputs are, for the downstream tasks and the run's end task;
5. off a cluster, ends the run when its step is the last of the run to end.

A step that raises is recorded FAILED and the exception propagates, so that
KFP marks the task failed and runs none of its dependents.
"""
from __future__ import annotations

import importlib
import os
import socket
from typing import Any, Mapping

from zen_mlmd.errors import ConfigError
from zen_mlmd.pipelines.step_runner import StepCall, StepInput, StepOutcome, StepRunner

from zen_mlmd_kfp import names
from zen_mlmd_kfp.step_facts import STEP_NAME
from zen_mlmd_kfp.task_spec import TaskSpec

#: Keys of each output's description in the `zen_mlmd_outputs` a task hands downstream.
_DESCRIPTION = ("uri", "materializer", "data_type", "content_hash", "identity")


def run_task(task_json: str, run_name: str, kfp_job: str, inputs: Mapping[str, Any],
             outputs: Mapping[str, Any], kfp_run_id: str = "",
             upstream: Mapping[str, Any] | None = None) -> tuple[dict]:
    """Run and record one step in a KFP task (see the module docstring).

    Args:
        task_json: the `TaskSpec` the compiler wrote for this task.
        run_name: the zen_mlmd run name; "" names the run after the KFP job.
        kfp_job: the KFP job (pipeline run resource) name.
        inputs: KFP input artifacts by KFP input name.
        outputs: KFP output artifacts by KFP output name.
        kfp_run_id: the KFP run ID; in the `kfp` convention the run's
            context is named by it (`kfp.local` makes up ids of its own, but
            there the launcher has started the run already, found by name).
        upstream: the `zen_mlmd` output of each upstream task, by the task
            parameter that carries it.

    Returns:
        The task's `zen_mlmd` output (a one-field tuple, as KFP's executor
        takes a NamedTuple return).

    Raises:
        Exception: whatever the step raised, once the failure is recorded.
    """
    from zen_mlmd.stack.components import ArtifactStoreComponent, MetadataStoreComponent

    spec = TaskSpec.from_json(task_json)
    run_name = run_name or kfp_job
    step = import_step(spec.step_ref)
    stores = spec.stores
    store = MetadataStoreComponent(stores.metadata_store_name, stores.metadata_store_flavor,
                                   dict(stores.metadata_store_options)).open()
    with store:  # closed when the task ends, failed or not (a port-forward stops with it)
        artifact_store = ArtifactStoreComponent(
            stores.artifact_store_name, stores.artifact_store_path, stores.artifact_store_trusted).open()
        return _run_task(spec, step, store, artifact_store, run_name, kfp_job, kfp_run_id, upstream or {},
                         outputs)


def _run_task(spec: TaskSpec, step, store, artifact_store, run_name: str, kfp_job: str, kfp_run_id: str,
              upstream: Mapping[str, Any], outputs: Mapping[str, Any]) -> tuple[dict]:
    from zen_mlmd.mlmd.convention_registry import get_convention

    convention = get_convention(spec.convention)
    run, joined = _join_run(spec, store, artifact_store, convention, run_name, kfp_job, kfp_run_id)
    call = StepCall(
        spec.step_name, step, spec.parameters, _upstream(spec, upstream),
        frozenset(spec.list_inputs), use_cache=spec.enable_cache,
        properties={} if joined else {"pod_name": os.environ.get("KFP_POD_NAME") or socket.gethostname(),
                                      "image": spec.image or None, "kfp_job": kfp_job or None})
    runner = StepRunner(run, artifact_store, convention, heartbeat_sec=spec.heartbeat_sec, say=_say)
    outcome = runner.run_step(call)
    if outcome.status == "failed":
        if not joined:
            run.finish("failed")  # the run's end task (a cluster) says failed too
        raise outcome.error
    run_root = ""  # the run's own pipeline root, where KFP records an output at the URI given
    if spec.pipeline_root and kfp_run_id:
        run_root = names.run_pipeline_root(spec.pipeline_root, names.k8s_name(spec.pipeline_name), kfp_run_id)
    for name, items in outcome.outputs.items():
        _hand_to_kfp(outputs[spec.kfp_outputs[name]], items[0], outcome.values.get(name), run_root)
    facts = _facts(run, joined, spec, step, outcome)
    if not joined and not spec.end_run_task:
        from zen_mlmd_kfp import recording

        recording.finish_if_last(run, convention, set(spec.step_names))
    writes = sum(n for name, n in store.calls.items() if name.startswith("Put") and not name.endswith("Type"))
    # heartbeats depend on how long the step ran: said apart from the writes that record it
    _say(f"step {spec.step_name}: {store.total_calls} MLMD calls, {writes - outcome.heartbeats} record "
         f"writes, {outcome.heartbeats} heartbeats")
    return (facts,)


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


def _join_run(spec: TaskSpec, store, artifact_store, convention, run_name: str, kfp_job: str,
              kfp_run_id: str):
    """(the run to record into, whether KFP's launcher records this task's execution)."""
    from zen_mlmd.tracking.heartbeat import heartbeat_owner
    from zen_mlmd.tracking.owner import current_owner
    from zen_mlmd.tracking.recorder import Recorder

    from zen_mlmd_kfp import joined, recording

    kfp = {**dict(spec.run_config.get("kfp") or {}), "job": kfp_job}
    if kfp_run_id:
        kfp["run_id"] = kfp_run_id
    config = {**spec.run_config, "kfp": kfp}
    owner = None
    if spec.heartbeat_sec:  # the run's steps run in pods: no process of theirs outlives its step
        owner = heartbeat_owner(current_owner(), spec.heartbeat_sec, spec.stale_after_sec)
    recorder = Recorder(store, artifact_store, convention=convention, owner=owner)
    execution = joined.find_task_execution(store, kfp_run_id) if convention.name == "kfp" else None
    run = recording.start_or_attach_run(recorder, spec.pipeline_name, run_name, config,
                                        {"source": spec.pipeline_source})
    if execution is not None:
        place = (convention.pipeline_context_name(spec.pipeline_name), kfp_run_id)
        return joined.JoinedRun(run, execution, artifact_store, *place), True
    return run, False


def _upstream(spec: TaskSpec, published: Mapping[str, Any]) -> dict[str, list[StepInput]]:
    """The step's inputs, as the tasks that produced them described them in their `zen_mlmd` output."""
    from zen_mlmd_kfp.writing import OUTPUTS_PROPERTY

    found: dict[str, list[tuple[int, StepInput]]] = {}
    for kfp_input, (name, index) in spec.kfp_inputs.items():
        producer, output = spec.input_sources[kfp_input]
        facts = published.get(spec.upstream_parameters.get(producer, ""))
        described = ((facts or {}).get(OUTPUTS_PROPERTY) or {}).get(output) if isinstance(facts, Mapping) else None
        if not described or any(key not in described[0] for key in _DESCRIPTION):
            raise ConfigError(
                f"{spec.step_name}.{name}", kfp_input,
                f"the task of step {producer!r} did not describe its output {output!r}",
                "connect zen_mlmd steps only to outputs of zen_mlmd steps, compiled by the same zen-mlmd-kfp")
        item = described[0]
        artifact_id = item.get("artifact_id")
        found.setdefault(name, []).append((index, StepInput(
            int(artifact_id) if artifact_id is not None else None, str(item["uri"]),
            str(item["materializer"]), str(item["data_type"]), str(item["content_hash"] or ""),
            str(item["identity"]))))
    return {name: [i for _, i in sorted(items, key=lambda pair: pair[0])] for name, items in found.items()}


def _facts(run, joined: bool, spec: TaskSpec, step, outcome: StepOutcome) -> dict[str, Any]:
    """The task's `zen_mlmd` output: the step's facts, each output described for the tasks downstream."""
    from zen_mlmd_kfp.writing import OUTPUTS_PROPERTY, RUN_NAME, STEP_TYPE

    facts = dict(run.facts) if joined else {
        STEP_NAME: spec.step_name, "display_name": spec.step_name, RUN_NAME: run.name,
        STEP_TYPE: step.type_name,
        "cache_fingerprint": outcome.key.value or None, "code_fingerprint": outcome.key.fingerprint.value}
    if outcome.original_execution_id is not None:
        facts["cached_execution_id"] = str(outcome.original_execution_id)
    facts[OUTPUTS_PROPERTY] = {
        name: [{"kind": o.kind.upper(), "materializer": o.materializer, "data_type": o.data_type,
                "content_hash": o.content_hash, "size_bytes": o.size_bytes, "uri": o.uri,
                "identity": o.identity, **({"artifact_id": o.ref} if isinstance(o.ref, int) else {})}
               for o in items]
        for name, items in outcome.outputs.items()}
    return _without_none(facts)


def _without_none(value: Any) -> Any:
    """JSON without nulls: KFP's executor refuses None in an output parameter."""
    if isinstance(value, Mapping):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value if v is not None]
    return value


def _hand_to_kfp(kfp_output, output, value: Any, run_root: str) -> None:
    """What KFP records of one output: the URI of its contents and, for metrics, their numbers.

    KFP's launcher records an output at the URI the task gives it (kubeflow/
    pipelines `launcher_v2.go` `mergeRuntimeArtifacts`), but only under the
    run's pipeline root, `<root>/<pipeline>/<run id>` (the bucket and prefix
    it checks, `objectstore.Config.KeyFromURI`); elsewhere it keeps its own
    place and the step's facts say where the contents are (`step_facts`).
    Nothing is written at the output's local path: the contents are in the
    zen_mlmd artifact store already.
    """
    if run_root and output.uri.startswith(run_root.rstrip("/") + "/"):
        kfp_output.uri = output.uri
    if hasattr(kfp_output, "log_metric") and isinstance(value, Mapping):
        # KFP's UI shows every property of a Metrics artifact as a metric: numbers only
        for name, number in value.items():
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                kfp_output.log_metric(str(name), number)


def _say(text: str) -> None:
    import sys

    print(f"[zen_mlmd] {text.strip()}", file=sys.stderr, flush=True)
