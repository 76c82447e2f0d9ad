"""Recording one run from many processes: every KFP task joins the same run.

A Kubeflow run's tasks run in separate pods, so no single process holds the
run open. Each task starts the run or attaches to it by name (whoever comes
first creates it; creating is idempotent under races), records its own step,
and the task that completes the last step ends the run.

In the `kfp` convention the run context is named by the KFP run ID and
the root DAG `run/<run id>` keeps zen_mlmd's run name (in `external_id`):
a task finds the run by its name (the launcher of a `kfp.local` run, or an
earlier task, started it), else by the run ID. On a cluster KFP's own
driver has created the run context and the root DAG before any task runs:
the first task adopts that root DAG (adds the run name, config and owner),
so the run is one run, with one root DAG, whoever recorded it.
"""
from __future__ import annotations

import time
from typing import Any, Mapping

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.errors import AlreadyExistsError, ConfigError
from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import EXECUTION_STATE_NAMES
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.mlmd.store_errors import is_already_exists
from zen_mlmd.mlmd.handles import RunHandle
from zen_mlmd.tracking.owner import current_owner
from zen_mlmd.tracking.recorder import Recorder, RunRecorder

from zen_mlmd_kfp.writing import ROOT_DAG_PREFIX, STEP_TYPE

#: A concurrent first task may have created the run context but not yet its
#: root execution: look again this many times (bounded, ~1.5 s in all).
_ATTACH_DELAYS = (0.1, 0.2, 0.4, 0.8)
_ENDED_STATES = (records.COMPLETE, records.CACHED, records.FAILED, records.CANCELED)
PAGE_SIZE = 100


def start_or_attach_run(recorder: Recorder, pipeline_name: str, run_name: str,
                        config: Mapping[str, Any], pipeline_properties: Mapping[str, Any] | None = None,
                        ) -> RunRecorder:
    """The run named `run_name`: started now, or the one another task (or KFP) started.

    A run started (or a KFP root DAG adopted) here records `recorder.owner`.
    """
    existing = attach_run(recorder, pipeline_name, run_name, wait=False, config=config)
    if existing is not None:
        return existing
    try:
        return recorder.start_run(pipeline_name, run_name, config, pipeline_properties)
    except AlreadyExistsError:  # another task started it in between
        return attach_run(recorder, pipeline_name, run_name, config=config)


def attach_run(recorder: Recorder, pipeline_name: str, run_name: str, wait: bool = True,
               config: Mapping[str, Any] | None = None) -> RunRecorder | None:
    """A recorder for an existing run (None when `wait` is False and there is none).

    Args:
        config: the run's config; its `kfp.run_id` finds a run context KFP
            created, which is then adopted.

    Raises:
        ConfigError: the run, or its root execution, does not exist (with `wait`).
    """
    store, convention = recorder.store, recorder.convention
    for delay in (*_ATTACH_DELAYS, None) if wait else (None,):
        handle = _handle(store, convention, pipeline_name, run_name, config or {},
                         recorder.owner or current_owner())
        if handle is not None:
            return RunRecorder(recorder, handle)
        if delay is None:
            break
        time.sleep(delay)
    if not wait:
        return None
    raise ConfigError(
        "run_name", run_name, f"no run of pipeline {pipeline_name!r} with this name is recorded "
        f"in the {convention.name} convention", "start the run first (the launcher or the first task does)",
    )


def find_run_context(store: MetadataStore, convention, run_name: str, run_id: str = "") -> pb.Context | None:
    """The run context of `run_name`: by its name, as the convention knows it, or by its run ID."""
    context = store.get_context_by_type_and_name(convention.run_context_type, run_name)
    if context is None:
        context = convention.find_run_context(store, run_name)
    if context is None and run_id:
        context = store.get_context_by_type_and_name(convention.run_context_type, run_id)
    return context


def _handle(store: MetadataStore, convention, pipeline_name: str, run_name: str,
            config: Mapping[str, Any], owner: Mapping[str, Any]) -> RunHandle | None:
    run_id = str(dict(config.get("kfp") or {}).get("run_id") or "")
    run_context = find_run_context(store, convention, run_name, run_id)
    pipeline_context = store.get_context_by_type_and_name(
        convention.pipeline_context_type, convention.pipeline_context_name(pipeline_name))
    if run_context is None or pipeline_context is None:
        return None
    node_type = 0
    if convention.node_context_type:
        node_type = store.type_id("context", convention.context_type(convention.node_context_type))
    handle = RunHandle(pipeline_name, run_name, pipeline_context, run_context, node_type, convention)
    if convention.root_execution_type:
        root = store.get_execution_by_type_and_name(
            convention.root_execution_type, ROOT_DAG_PREFIX + run_context.name)
        if root is None:
            return None
        if not root.external_id:  # KFP's own root DAG, on a cluster: zen_mlmd's run joins it
            root = _adopt(store, convention, root, pipeline_name, run_name, config, owner)
        handle.root_execution = root
    return handle


def _adopt(store: MetadataStore, convention, root: pb.Execution, pipeline_name: str, run_name: str,
           config: Mapping[str, Any], owner: Mapping[str, Any]) -> pb.Execution:
    """KFP's root DAG with zen_mlmd's run name, config and owner (one write).

    Raises:
        AlreadyExistsError: another run already has this name.
    """
    adopted = convention.adopted_root_execution(root, pipeline_name, run_name, config, owner)
    try:
        store.put_execution(adopted, [], [])
    except Exception as exc:
        if is_already_exists(exc):
            raise AlreadyExistsError(
                f"a run named {run_name!r} already exists in this metadata store. "
                "Fix: choose another run name (run names are unique)") from None
        raise
    return adopted


def run_has_ended(store: MetadataStore, run_name: str, convention) -> bool:
    """Whether the run's end (its status) is recorded already."""
    context = find_run_context(store, convention, run_name)
    if context is None:
        return False
    if convention.root_execution_type:
        root = store.get_execution_by_type_and_name(convention.root_execution_type,
                                                    ROOT_DAG_PREFIX + context.name)
        return root is not None and "status" in root.custom_properties
    return "status" in context.custom_properties


def finish_if_last(run: RunRecorder, convention, step_names: set[str]) -> bool:
    """End the run when every one of `step_names` has ended (one MLMD read).

    Every task publishes its step before calling this, so the task whose
    publish came last sees all steps ended: the run is always ended, maybe
    twice with the same status, never left open. Only zen_mlmd's own records
    count: on a cluster KFP's launcher records the same tasks, and ends its
    records only after the task's process exits.
    """
    executions = run.store.get_executions_by_context(run.id)
    types = run.store.types_by_id("execution", {e.type_id for e in executions})
    states = {}
    for execution in executions:
        props = execution.custom_properties
        if not convention.is_step(execution, types[execution.type_id].name):
            continue
        if convention.name == "kfp":
            name = props.get("display_name") if STEP_TYPE in props else None
        else:  # native: the step name (schema 1 repeated it in `task_name` and `step_name`)
            name = props.get("display_name")
        if name is not None:
            states[name.string_value] = EXECUTION_STATE_NAMES.get(execution.last_known_state)
    if not step_names <= set(states) or any(states[n] not in _ENDED_STATES for n in step_names):
        return False
    run.finish("failed" if any(states[n] in (records.FAILED, records.CANCELED) for n in step_names)
               else "completed")
    return True
