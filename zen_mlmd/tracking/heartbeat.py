"""Heartbeats: how a reader on any host tells a live run from one whose process is gone.

The owner check (`owner.py`) works only on the host that runs the steps. A
run whose steps run elsewhere (Kubeflow pods, any remote orchestrator) says
so in its owner record: `{"heartbeat_sec": N, "stale_after_sec": M}` and no
process id. Its writers then keep MLMD's `last_update_time_since_epoch` of
the run's executions fresh:

* every step start and end is a write anyway (no extra write);
* a step that runs longer than N seconds records one more write every N
  seconds (`Heartbeat`, a thread around the step's function);

so a reader takes the newest update time among the run's context and
executions as "last seen", and reports a run that has not ended and was not
seen for M seconds as interrupted, naming when it was last seen
(`zen_mlmd.post_execution.status`). MLMD stamps update times with the clock
of whoever runs the MLMD library (the gRPC server, or the writing process
for a direct database connection): M must be larger than the clock skew
between that host and the readers, and than the longest quiet time of a
healthy run (a pod waiting for a node, pulling its image, installing its
packages).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping

log = logging.getLogger(__name__)

#: Defaults for runs whose steps run on other hosts.
DEFAULT_INTERVAL_SEC = 30.0
DEFAULT_STALE_AFTER_SEC = 600.0
#: Owner-record keys.
INTERVAL_KEY = "heartbeat_sec"
STALE_AFTER_KEY = "stale_after_sec"
#: Execution property a heartbeat write sets (seconds since the epoch): the
#: write must change the execution for MLMD to move its update time.
PROPERTY = "zen_mlmd_heartbeat"


def heartbeat_owner(owner: Mapping[str, Any], interval_sec: float = DEFAULT_INTERVAL_SEC,
                    stale_after_sec: float = DEFAULT_STALE_AFTER_SEC) -> dict[str, Any]:
    """An owner record for a run whose steps run on other hosts: no process to check, a heartbeat instead."""
    record = {k: v for k, v in owner.items() if k not in ("pid", "pid_started")}
    record[INTERVAL_KEY] = float(interval_sec)
    record[STALE_AFTER_KEY] = float(stale_after_sec)
    return record


def stale_after_ms(owner: Mapping[str, Any] | None) -> float | None:
    """After how many milliseconds without a sign of life the run counts as interrupted (None: no heartbeat)."""
    value = (owner or {}).get(STALE_AFTER_KEY)
    return float(value) * 1000.0 if isinstance(value, (int, float)) and value > 0 else None


class Heartbeat:
    """Calls `beat()` every `interval_sec` seconds, in a thread, while the `with` block runs.

    `beat` must be safe to call while the step's function runs (it writes
    the step's execution again). It stops, and its last write has returned,
    before the `with` block exits: the publish that follows is never
    overtaken by a heartbeat. A failing beat is logged and tried again at
    the next interval; it never fails the step. `interval_sec` None (or 0)
    starts nothing.
    """

    def __init__(self, beat: Callable[[], None], interval_sec: float | None):
        self._beat = beat
        self._interval = interval_sec or 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.beats = 0

    def __enter__(self) -> "Heartbeat":
        if self._interval > 0:
            self._thread = threading.Thread(target=self._loop, name="zen_mlmd-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        next_beat = time.monotonic() + self._interval
        while not self._stop.wait(max(0.0, next_beat - time.monotonic())):
            try:
                self._beat()
                self.beats += 1
            except Exception as exc:  # the step goes on; the next beat may get through
                log.warning("zen_mlmd heartbeat not recorded: %s: %s", type(exc).__name__, exc)
            # never more than one write per interval, however long a write took
            next_beat = time.monotonic() + self._interval
