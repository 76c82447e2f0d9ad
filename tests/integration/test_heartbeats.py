"""Heartbeats on every backend: a long step records one write per interval; readers see when the run was last seen.

Counted on the connection (`MetadataStore.calls`): a step shorter than the
interval costs no write beyond its start and publish.
"""
from __future__ import annotations

import time

from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd import step
from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.mlmd.convention_registry import get_convention
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.pipelines.step_runner import StepCall, StepRunner
from zen_mlmd.tracking.heartbeat import PROPERTY, heartbeat_owner
from zen_mlmd.tracking.owner import current_owner
from zen_mlmd.tracking.recorder import Recorder

INTERVAL = 0.4


@step(enable_cache=False)
def sleeps(seconds: float = 0.0) -> float:
    time.sleep(seconds)
    return seconds


def run_one(metadata_store, tmp_path, seconds: float, run_name: str):
    owner = heartbeat_owner(current_owner(), INTERVAL, 5 * INTERVAL)  # as a task in a pod records it
    run = Recorder(metadata_store, ArtifactStore(str(tmp_path / "artifacts")), owner=owner).start_run(
        "sleepy", run_name)
    runner = StepRunner(run, ArtifactStore(str(tmp_path / "artifacts")), get_convention("native"),
                        heartbeat_sec=INTERVAL, say=lambda line: None)
    metadata_store.reset_counts()
    began = time.monotonic()
    outcome = runner.run_step(StepCall("sleeps", sleeps, {"seconds": seconds}, use_cache=False))
    return run, outcome, time.monotonic() - began


def test_a_long_step_writes_one_heartbeat_per_interval(metadata_store, tmp_path):
    run, outcome, elapsed = run_one(metadata_store, tmp_path, 3 * INTERVAL + 0.2, "long")
    assert outcome.status == "completed"
    beats = metadata_store.calls["PutExecution"] - 2  # the start and the publish
    assert 2 <= beats <= elapsed / INTERVAL
    [execution] = metadata_store.raw.get_executions()
    assert execution.last_known_state == pb.Execution.COMPLETE  # no beat after the publish
    assert PROPERTY not in execution.custom_properties


def test_a_short_step_writes_no_heartbeat(metadata_store, tmp_path):
    _, outcome, _ = run_one(metadata_store, tmp_path, 0.0, "short")
    assert outcome.status == "completed"
    assert metadata_store.calls["PutExecution"] == 2  # its start and its publish (types aside)


def test_readers_see_when_an_open_run_was_last_seen(metadata_store, tmp_path):
    run, _, _ = run_one(metadata_store, tmp_path, 2 * INTERVAL + 0.1, "open")  # never finished
    reader = StoreReader(metadata_store)
    record = reader.get_run("open")
    states, seen = reader.run_activity([record])
    [execution] = metadata_store.raw.get_executions()
    assert states[record.id] == ("COMPLETE",)
    assert seen[record.id] == execution.last_update_time_since_epoch >= record.updated_ms
    assert record.owner["stale_after_sec"] == 5 * INTERVAL and "pid" not in record.owner
