"""The run's end task: on a cluster, it runs once every step's task has ended, and ends the run.

The compiler puts a cluster run's steps in a KFP exit handler whose exit
task this is: KFP runs it after the group, whether its tasks succeeded or
not (kubeflow/pipelines `backend/src/v2/compiler/argocompiler/dag.go`: an
`ALL_UPSTREAM_TASKS_COMPLETED` task becomes an Argo exit hook). It

1. reads the run's executions (one call);
2. in the `kfp` convention, writes back the facts each task handed KFP's
   launcher (`step_facts.restored`), so that the cache lookup and the
   readers find them where a run zen_mlmd recorded alone has them, and
   marks FAILED a step still RUNNING: its pod ended without the launcher
   publishing it (killed, evicted, its node lost); all in one write;
3. records the steps that never ran (their upstream failed) CANCELED, as
   the local orchestrator does;
4. ends the run: "failed" if a step failed, was canceled or never ran,
   else "completed" (one write).

A run killed as a whole (KFP's "terminate" runs no exit handler) is left
open: readers report it interrupted once its heartbeat is stale.
"""
from __future__ import annotations

import sys

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records

from zen_mlmd_kfp.task_spec import EndRunSpec

#: The KFP task key of this task (the compiler's `END_RUN_FUNCTION`, as KFP names tasks).
END_RUN_TASK = "zen-mlmd-end-run"
_DEAD_POD = ("the task's pod ended while the step was running (killed, evicted, or its node was lost); "
             "KFP's launcher never published it")


def end_run(spec_json: str, run_name: str, kfp_job: str, kfp_run_id: str = "") -> str:
    """End the run (see the module docstring); returns the status recorded."""
    from zen_mlmd.stack.components import ArtifactStoreComponent, MetadataStoreComponent

    spec = EndRunSpec.from_json(spec_json)
    run_name = run_name or kfp_job
    stores = spec.stores
    store = MetadataStoreComponent(stores.metadata_store_name, stores.metadata_store_flavor,
                                   dict(stores.metadata_store_options)).open()
    with store:  # closed when the task ends (a port-forward stops with it)
        artifact_store = ArtifactStoreComponent(stores.artifact_store_name, stores.artifact_store_path,
                                                stores.artifact_store_trusted).open()
        return _end(spec, store, artifact_store, run_name, kfp_job, kfp_run_id)


def _end(spec: EndRunSpec, store, artifact_store, run_name: str, kfp_job: str, kfp_run_id: str) -> str:
    from zen_mlmd.mlmd.convention_registry import get_convention
    from zen_mlmd.tracking.heartbeat import heartbeat_owner
    from zen_mlmd.tracking.owner import current_owner
    from zen_mlmd.tracking.recorder import Recorder

    from zen_mlmd_kfp import recording

    convention = get_convention(spec.convention)
    owner = heartbeat_owner(current_owner(), spec.heartbeat_sec, spec.stale_after_sec) \
        if spec.heartbeat_sec else None
    kfp = {**dict(spec.run_config.get("kfp") or {}), "job": kfp_job}
    if kfp_run_id:
        kfp["run_id"] = kfp_run_id
    recorder = Recorder(store, artifact_store, convention=convention, owner=owner)
    run = recording.start_or_attach_run(recorder, spec.pipeline_name, run_name,
                                        {**spec.run_config, "kfp": kfp}, {"source": spec.pipeline_source})
    executions = store.get_executions_by_context(run.id)
    place = (convention.pipeline_context_name(spec.pipeline_name), kfp_run_id)

    def failure_facts(step_name: str):
        from zen_mlmd_kfp.step_facts import failure_uri, read_failure

        return read_failure(artifact_store, failure_uri(artifact_store, *place, step_name)) if kfp_run_id else None

    states = _settle(store, convention, executions, spec.step_names, failure_facts)
    missing = [name for name in spec.step_names if name not in states]
    for name in missing:
        run.cancel_step(run.step_start(name, spec.step_types.get(name, "zen_mlmd.step")),
                        "not run: an upstream step did not complete (or its task failed before it started)")
    failed = missing or [n for n, s in states.items() if s in (records.FAILED, records.CANCELED)]
    status = "failed" if failed else "completed"
    run.finish(status)
    print(f"[zen_mlmd] run {run.name!r} {status}"
          + (f": {len(missing)} step(s) never ran" if missing else ""), file=sys.stderr, flush=True)
    return status


def _settle(store, convention, executions: list[pb.Execution], step_names, failure_facts) -> dict[str, str]:
    """The steps' final states by step name, after writing back what the launcher dropped (one write).

    Args:
        failure_facts: step name -> the facts its failed task left in the
            artifact store (`step_facts.write_failure`), or None.
    """
    from zen_mlmd.mlmd.convention import EXECUTION_STATE_NAMES

    from zen_mlmd_kfp.names import task_keys
    from zen_mlmd_kfp.step_facts import STEP_NAME, restored, with_facts

    types = store.types_by_id("execution", {e.type_id for e in executions})
    step_of_task = {key: name for name, key in task_keys(step_names).items()}
    updated: list[pb.Execution] = []
    states: dict[str, str] = {}
    for execution in executions:
        type_name = types[execution.type_id].name if execution.type_id in types else ""
        if not convention.is_step_type(type_name):
            continue
        props = execution.custom_properties
        if convention.name == "kfp":
            if "task_name" in props and props["task_name"].string_value == END_RUN_TASK:
                continue  # this task's own execution, running now
            back = restored(execution)
            task = props["task_name"].string_value if "task_name" in props else ""
            if back is None and execution.last_known_state == pb.Execution.RUNNING:
                back = with_facts(execution, {"error_type": "TaskLost", "error_message": _DEAD_POD},
                                  records.FAILED)
            elif back is None and execution.last_known_state == pb.Execution.FAILED \
                    and STEP_NAME not in props and task in step_of_task:
                left = failure_facts(step_of_task[task])
                back = with_facts(execution, left) if left else None
            if back is not None:
                updated.append(back)
                execution = back
            props = execution.custom_properties
            named = props[STEP_NAME].string_value if STEP_NAME in props else step_of_task.get(task, "")
        else:
            named = convention.decode_step(execution, type_name, ()).name
        if named:
            states[named] = EXECUTION_STATE_NAMES.get(execution.last_known_state, records.UNKNOWN)
    if updated:
        store.put_executions(updated)
    return states
