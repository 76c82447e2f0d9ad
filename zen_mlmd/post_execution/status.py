"""Status rules of runs and steps, as the post-execution API shows them.

A step's status follows its MLMD state. A run's status is the one its
writer recorded when it ended ("cached" when every step was served from the
cache). A run that never ended is "running" while its owner process lives
(or when this host cannot tell) and "interrupted" once the owner is known
to be gone; its steps still marked RUNNING then read "interrupted" too.
States this library does not know read "unknown", never "failed".
"""
from __future__ import annotations

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


def run_is_interrupted(run: records.RunRecord) -> bool:
    """True when the run never ended and its owner process is known to be gone."""
    if run.recorded_status:
        return False
    from zen_mlmd.tracking.owner import owner_is_alive

    return owner_is_alive(run.owner) is False


def run_status(run: records.RunRecord, step_states: Iterable[str] | None = None) -> str:
    """The status of a run (see the module docstring).

    Args:
        step_states: MLMD states of the run's steps; needed only to tell a
            "cached" run (every step CACHED) from a "completed" one. None
            reads the recorded status as it is.
    """
    if run.recorded_status:
        recorded = _RUN_STATUSES.get(run.recorded_status.lower(), UNKNOWN)
        if recorded == COMPLETED and step_states is not None:
            states = list(step_states)
            if states and all(state == records.CACHED for state in states):
                return CACHED
        return recorded
    return INTERRUPTED if run_is_interrupted(run) else RUNNING


def needs_step_states(run: records.RunRecord) -> bool:
    """Whether `run_status` of this run depends on its step states."""
    return _RUN_STATUSES.get(run.recorded_status.lower()) == COMPLETED
