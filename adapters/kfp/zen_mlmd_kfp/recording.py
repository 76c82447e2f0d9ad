"""Recording one run from many processes: every KFP task joins the same run.

A Kubeflow run's tasks run in separate pods, so no single process holds the
run open. Each task starts the run or attaches to it by name (whoever comes
first creates it; creating is idempotent under races), records its own step,
and the task that completes the last step ends the run. The cache lookup
reads the bookkeeping properties wherever a convention keeps them (typed
properties in the native convention, custom properties in the KFP one).
"""
from __future__ import annotations

import time
from typing import Any, Mapping

from zen_mlmd.errors import AlreadyExistsError, ConfigError
from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention import EXECUTION_STATE_NAMES
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.mlmd.writer import RunHandle
from zen_mlmd.tracking.recorder import Recorder, RunRecorder

from zen_mlmd_kfp.convention import ROOT_DAG_PREFIX

#: A concurrent first task may have created the run context but not yet its
#: root execution: look again this many times (bounded, ~1.5 s in all).
_ATTACH_DELAYS = (0.1, 0.2, 0.4, 0.8)
_ENDED_STATES = (records.COMPLETE, records.CACHED, records.FAILED, records.CANCELED)
PAGE_SIZE = 100


def start_or_attach_run(recorder: Recorder, pipeline_name: str, run_name: str,
                        config: Mapping[str, Any], pipeline_properties: Mapping[str, Any] | None = None,
                        ) -> RunRecorder:
    """The run named `run_name`: started now, or the one another task started."""
    existing = attach_run(recorder, pipeline_name, run_name, wait=False)
    if existing is not None:
        return existing
    try:
        return recorder.start_run(pipeline_name, run_name, config, pipeline_properties)
    except AlreadyExistsError:  # another task started it in between
        return attach_run(recorder, pipeline_name, run_name)


def attach_run(recorder: Recorder, pipeline_name: str, run_name: str, wait: bool = True) -> RunRecorder | None:
    """A recorder for an existing run (None when `wait` is False and there is none).

    Raises:
        ConfigError: the run, or its root execution, does not exist (with `wait`).
    """
    store, convention = recorder.store, recorder.convention
    for delay in (*_ATTACH_DELAYS, None) if wait else (None,):
        handle = _handle(store, convention, pipeline_name, run_name)
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


def _handle(store: MetadataStore, convention, pipeline_name: str, run_name: str) -> RunHandle | None:
    run_context = store.get_context_by_type_and_name(convention.run_context_type, run_name)
    pipeline_context = store.get_context_by_type_and_name(convention.pipeline_context_type, pipeline_name)
    if run_context is None or pipeline_context is None:
        return None
    node_type = 0
    if convention.node_context_type:
        node_type = store.type_id("context", convention.context_type(convention.node_context_type))
    handle = RunHandle(pipeline_name, run_name, pipeline_context, run_context, node_type, convention)
    if convention.root_execution_type:
        handle.root_execution = store.get_execution_by_type_and_name(
            convention.root_execution_type, ROOT_DAG_PREFIX + run_name)
        if handle.root_execution is None:
            return None
    return handle


def run_has_ended(store: MetadataStore, run_name: str, convention) -> bool:
    """Whether the run's end (its status) is recorded already."""
    context = store.get_context_by_type_and_name(convention.run_context_type, run_name)
    return context is not None and "status" in context.custom_properties


def finish_if_last(run: RunRecorder, convention, step_names: set[str]) -> bool:
    """End the run when every one of `step_names` has ended (one MLMD read).

    Every task publishes its step before calling this, so the task whose
    publish came last sees all steps ended: the run is always ended, maybe
    twice with the same status, never left open.
    """
    executions = run.store.get_executions_by_context(run.id)
    types = run.store.types_by_id("execution", {e.type_id for e in executions})
    states = {}
    for execution in executions:
        if not convention.is_step_type(types[execution.type_id].name):
            continue
        props = execution.custom_properties  # KFP's task_name; the native convention's display_name
        name = props.get("task_name") or props.get("step_name") or props.get("display_name")
        if name is not None:
            states[name.string_value] = EXECUTION_STATE_NAMES.get(execution.last_known_state)
    if not step_names <= set(states) or any(states[n] not in _ENDED_STATES for n in step_names):
        return False
    run.finish("failed" if any(states[n] in (records.FAILED, records.CANCELED) for n in step_names)
               else "completed")
    return True
