"""Heartbeats: bounded writes while a step runs, and how readers judge a run whose steps run elsewhere."""
from __future__ import annotations

import dataclasses
import threading
import time

from zen_mlmd.mlmd import records
from zen_mlmd.post_execution.status import needs_step_states, run_is_interrupted, run_status
from zen_mlmd.tracking.heartbeat import Heartbeat, heartbeat_owner, stale_after_ms
from zen_mlmd.tracking.owner import current_owner

REMOTE = heartbeat_owner({"host": "pod-7"}, interval_sec=30, stale_after_sec=600)
OPEN_RUN = records.RunRecord(id=1, name="r", pipeline_name="p", created_ms=0, updated_ms=0, owner=REMOTE)


def test_a_heartbeat_writes_at_most_once_per_interval_even_when_a_write_is_slow():
    starts: list[float] = []

    def slow_beat():
        starts.append(time.monotonic())
        time.sleep(0.15)  # longer than the interval: the next beat waits a whole interval after it

    began = time.monotonic()
    with Heartbeat(slow_beat, 0.1) as beat:
        time.sleep(1.0)
    elapsed = time.monotonic() - began
    assert 2 <= beat.beats == len(starts) <= elapsed / 0.1
    assert all(b - a >= 0.1 + 0.15 - 0.02 for a, b in zip(starts, starts[1:]))  # one write, then an interval


def test_a_heartbeat_stops_before_the_block_ends_and_a_failed_beat_is_retried():
    calls, running = [], threading.Event()

    def beat():
        calls.append(time.monotonic())
        running.set()
        if len(calls) == 1:
            raise ConnectionError("store away for a moment")

    with Heartbeat(beat, 0.05):
        time.sleep(0.4)
    ended = time.monotonic()
    count = len(calls)
    time.sleep(0.2)
    assert count >= 2 and len(calls) == count  # retried after the failure; nothing after the block
    assert calls[-1] <= ended


def test_no_interval_no_thread():
    with Heartbeat(lambda: (_ for _ in ()).throw(AssertionError("beat")), None) as beat:
        time.sleep(0.05)
    assert beat.beats == 0


def test_an_owner_without_a_process_is_judged_by_its_heartbeat():
    assert "pid" not in heartbeat_owner(current_owner())
    assert stale_after_ms(REMOTE) == 600_000.0 and stale_after_ms({"host": "h", "pid": 1}) is None
    assert needs_step_states(OPEN_RUN)  # its executions say when it was last seen
    now = 10_000_000.0
    assert not run_is_interrupted(OPEN_RUN, last_seen_ms=now - 599_000, now_ms=now)
    assert run_is_interrupted(OPEN_RUN, last_seen_ms=now - 601_000, now_ms=now)
    assert not run_is_interrupted(OPEN_RUN, last_seen_ms=None, now_ms=now)  # nothing to judge by
    assert run_status(OPEN_RUN, (), last_seen_ms=time.time() * 1000 - 700_000) == "interrupted"
    assert run_status(OPEN_RUN, (), last_seen_ms=time.time() * 1000) == "running"
    ended = dataclasses.replace(OPEN_RUN, recorded_status="completed")
    assert not run_is_interrupted(ended, last_seen_ms=0.0, now_ms=now)  # an ended run is never interrupted


def test_on_the_owners_host_the_process_check_comes_first():
    owner = {**current_owner(), **heartbeat_owner({}, 30, 600)}  # the local orchestrator's owner
    alive = dataclasses.replace(OPEN_RUN, owner=owner)
    assert not run_is_interrupted(alive, last_seen_ms=0.0, now_ms=10**12)  # stale, but the process lives
    gone = dataclasses.replace(OPEN_RUN, owner={**owner, "pid": 2**22 + 7})
    assert run_is_interrupted(gone, last_seen_ms=10**12, now_ms=10**12)  # fresh, but the process is gone
