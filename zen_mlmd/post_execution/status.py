"""Status rules of runs and steps, as the post-execution API shows them.

A step's status follows its MLMD state. A run's status is the one its
writer recorded when it ended ("cached" when every step was served from the
cache). A run that never ended is "running" while its owner process lives
(or when this host cannot tell) and "interrupted" once the owner is known
to be gone, or, for a run that records heartbeats (its steps run on other
hosts, `zen_mlmd.tracking.heartbeat`), once it has not been seen for longer
than its `stale_after_sec`; its steps still marked RUNNING then read
"interrupted" too, as do steps left RUNNING in a run that recorded its end
(stopped by Ctrl-C).
A run written by another tool (Kubeflow Pipelines, TFX) records neither an
end status nor an owner: its status follows from its steps' states.
States this library does not know read "unknown", never "failed".
"""
from __future__ import annotations

import time
from typing import Iterable

from zen_mlmd.mlmd import records

RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CACHED = "cached"
CANCELED = "canceled"
INTERRUPTED = "interrupted"
PENDING = "pending"
UNKNOWN = "unknown"

RUN_STATUSES = (RUNNING, COMPLETED, FAILED, INTERRUPTED, CACHED)
STEP_STATUSES = (RUNNING, COMPLETED, FAILED, CACHED, CANCELED, INTERRUPTED, PENDING)

_STEP_STATES = {
    records.RUNNING: RUNNING,
    records.COMPLETE: COMPLETED,
    records.FAILED: FAILED,
    records.CACHED: CACHED,
    records.CANCELED: CANCELED,
    records.NEW: PENDING,
}
#: Recorded run statuses, including the spellings other writers use.
_RUN_STATUSES = {
    "completed": COMPLETED, "complete": COMPLETED, "succeeded": COMPLETED, "success": COMPLETED,
    "failed": FAILED, "cached": CACHED, "canceled": INTERRUPTED, "cancelled": INTERRUPTED,
    "interrupted": INTERRUPTED, "running": RUNNING,
}


def step_status(state: str, run_interrupted: bool = False) -> str:
    """The status of a step from its MLMD execution state name.

    Args:
        state: `last_known_state` as MLMD names it ("RUNNING", "COMPLETE", ...).
        run_interrupted: the step's run is interrupted, so a step still marked
            RUNNING (or NEW) will never finish.
    """
    status = _STEP_STATES.get(state, UNKNOWN)
    if run_interrupted and status in (RUNNING, PENDING):
        return INTERRUPTED
    return status


def run_is_interrupted(run: records.RunRecord, last_seen_ms: int | None = None,
                       now_ms: float | None = None) -> bool:
    """True when the run never ended and its owner process is known to be gone, or its heartbeat is stale.

    Args:
        last_seen_ms: the newest update time of the run and its executions
            (`StoreReader.run_activity`); without it only the owner is checked.
    """
    if run.recorded_status:
        return False
    from zen_mlmd.tracking.heartbeat import stale_after_ms
    from zen_mlmd.tracking.owner import owner_is_alive

    alive = owner_is_alive(run.owner)
    if alive is not None:
        return not alive
    stale_after = stale_after_ms(run.owner)
    if stale_after is None or last_seen_ms is None:
        return False
    now = time.time() * 1000.0 if now_ms is None else now_ms
    return now - last_seen_ms > stale_after


def run_status(run: records.RunRecord, step_states: Iterable[str] | None = None,
               last_seen_ms: int | None = None) -> str:
    """The status of a run (see the module docstring).

    Args:
        step_states: MLMD states of the run's steps; needed only to tell a
            "cached" run (every step CACHED) from a "completed" one. None
            reads the recorded status as it is.
        last_seen_ms: when the run was last seen (see `run_is_interrupted`).
    """
    if run.recorded_status:
        recorded = _RUN_STATUSES.get(run.recorded_status.lower(), UNKNOWN)
        if recorded == COMPLETED and step_states is not None:
            states = list(step_states)
            if states and all(state == records.CACHED for state in states):
                return CACHED
        return recorded
    if not run.owner and step_states is not None:
        return _status_from_steps(list(step_states))
    return INTERRUPTED if run_is_interrupted(run, last_seen_ms) else RUNNING


def _status_from_steps(states: list[str]) -> str:
    """A run recorded by another tool (KFP, TFX) has no end status: read its steps."""
    if not states or any(s in (records.RUNNING, records.NEW) for s in states):
        return RUNNING
    if any(s == records.FAILED for s in states):
        return FAILED
    if all(s == records.CACHED for s in states):
        return CACHED
    if all(s in (records.COMPLETE, records.CACHED) for s in states):
        return COMPLETED
    return UNKNOWN


def needs_step_states(run: records.RunRecord) -> bool:
    """Whether `run_status` of this run depends on its step states (or on when they were last seen)."""
    if not run.recorded_status and not run.owner:
        return True  # written by another tool: the steps tell
    if not run.recorded_status:
        from zen_mlmd.tracking.heartbeat import stale_after_ms

        return stale_after_ms(run.owner) is not None  # open, with a heartbeat to check
    return _RUN_STATUSES.get(run.recorded_status.lower()) == COMPLETED
