"""A run whose process is killed mid-step reads as interrupted; a live one as alive.

A child process records a pipeline run on a SQLite file; its second step
blocks until a file appears. While it blocks the run is live; then the child
is SIGKILLed, and what it left in MLMD is read with plain ml_metadata and with
`StoreReader`: no recorded status, the step still RUNNING, and an owner that
`owner_is_alive` reports as gone.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ml_metadata.metadata_store import metadata_store as plain_mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

from tracking_helpers import sqlite_store
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.mlmd.records import COMPLETE, RUNNING
from zen_mlmd.mlmd.store import MetadataStore, in_memory_connection_config
from zen_mlmd.tracking.owner import current_owner, owner_is_alive
from zen_mlmd.tracking.recorder import Recorder

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
WAIT_LIMIT = 60.0  # a bound on waiting for the child, not a timing assertion

CHILD = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from tracking_helpers import LocalTestStack, sqlite_store
    from zen_mlmd.pipelines.pipeline import pipeline
    from zen_mlmd.pipelines.step import step

    DB, ARTIFACTS, STARTED, RELEASE = sys.argv[1:5]

    @step
    def prepare(n: int = 3):
        return list(range(n))

    @step
    def block(data: list):
        Path(STARTED).write_text("started")
        while not Path(RELEASE).exists():
            time.sleep(0.05)
        return sum(data)

    @pipeline
    def slow(n: int = 3):
        block(prepare(n=n))

    stack = LocalTestStack(sqlite_store(DB), ARTIFACTS)
    slow.run(stack=stack, quiet=True, run_name="slow-run")
''')


def _plain_store(db: Path) -> plain_mlmd.MetadataStore:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(db)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
    return plain_mlmd.MetadataStore(config)


def _wait_for(path: Path, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while not path.exists():
        if child.poll() is not None:
            out, err = child.communicate()
            raise AssertionError(f"the child exited with {child.returncode}: {err.decode()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("the child never reached its blocking step")
        time.sleep(0.05)


def _struct(value: pb.Value) -> dict:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(value.struct_value)


def test_a_killed_run_reads_as_interrupted(tmp_path):
    db = tmp_path / "mlmd.sqlite"
    script = tmp_path / "child_pipeline.py"
    script.write_text(CHILD)
    started, release = tmp_path / "started", tmp_path / "release"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}
    child = subprocess.Popen(
        [sys.executable, str(script), str(db), str(tmp_path / "artifacts"), str(started), str(release)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(started, child)

        # While the child blocks, the run is live.
        reader = StoreReader(sqlite_store(db))
        live = reader.get_run("slow-run")
        assert live is not None
        assert live.recorded_status == ""
        assert live.owner["pid"] == child.pid
        assert owner_is_alive(live.owner) is True
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL

    # Plain ml_metadata: the run context has no status, the step is RUNNING.
    plain = _plain_store(db)
    run = plain.get_context_by_type_and_name("pipeline_run", "slow-run")
    assert run is not None
    assert "status" not in run.custom_properties
    assert "end_time" not in run.custom_properties
    owner = _struct(run.custom_properties["owner"])
    assert int(owner["pid"]) == child.pid
    executions = {e.custom_properties["display_name"].string_value: e
                  for e in plain.get_executions_by_context(run.id)}
    assert executions["prepare"].last_known_state == pb.Execution.COMPLETE
    assert executions["block"].last_known_state == pb.Execution.RUNNING
    assert not [e for e in plain.get_events_by_execution_ids([executions["block"].id])
                if e.type == pb.Event.OUTPUT]

    # StoreReader: the same, and the owner is known to be gone.
    reader = StoreReader(sqlite_store(db))
    record = reader.get_run("slow-run")
    assert record.recorded_status == ""
    assert record.end_ms is None
    assert owner_is_alive(record.owner) is False
    steps = {s.name: s for s in reader.read_run(record).steps}
    assert steps["block"].state == RUNNING
    assert steps["prepare"].state == COMPLETE


def test_a_live_run_reads_as_alive():
    store = MetadataStore(in_memory_connection_config(), store_name="live")
    run = Recorder(store).start_run("live_pipe", "live-run")
    step = run.start_step("work", "tests.work")
    reader = StoreReader(store)
    record = reader.get_run("live-run")
    assert record.recorded_status == ""
    assert dict(record.owner) == current_owner()
    assert owner_is_alive(record.owner) is True
    [recorded_step] = reader.read_run(record).steps
    assert recorded_step.state == RUNNING

    step.publish({})
    run.finish()
    ended = reader.get_run("live-run")
    assert ended.recorded_status == "completed"
    assert ended.end_ms is not None


def test_an_owner_that_exited_or_was_replaced_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    mine = current_owner()
    assert owner_is_alive({**mine, "pid": child.pid}) is False
    # Same pid, but a different process start: the pid was recycled.
    assert owner_is_alive({**mine, "pid_started": mine["pid_started"] + 1}) is False
    # Another host cannot be checked from here.
    assert owner_is_alive({**mine, "host": mine["host"] + "-elsewhere"}) is None
    assert owner_is_alive({}) is None
