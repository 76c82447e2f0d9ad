"""Faults of real servers while runs are recorded: retried when transient, clear when not.

* A SQLite file locked by another process (`BEGIN EXCLUSIVE`) for a short
  while: MLMD answers Aborted, the store retries with backoff and the run
  completes; directly on the file and through the gRPC server over it.
* A lock that is never released: the error surfaces once Aborted tries have
  gone on for `ABORTED_RETRY_SECONDS` (every try counted on the real MLMD
  client), as a StoreUnavailableError that says the store stayed busy, well
  within a bound.
* MariaDB restarted (``ZEN_MLMD_TEST_MYSQL_RESTART``) by a step while the
  run records: the lost connection is retried and the store stays
  consistent, whatever the outcome.
* The gRPC server SIGKILLed (gone) or SIGSTOPped (hung) by a step, with
  ``client_timeout_sec=2``: the run fails with StoreUnavailableError within a
  bound, never hangs, and what reached the store is consistent.

Consistency, everywhere: no half-written step. Every COMPLETE execution has
all its outputs LIVE; FAILED, RUNNING and CANCELED ones have no LIVE output;
the outputs of the steps that completed stay readable.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from backends import BackendSpec, GrpcServer, connection_config, sqlite_spec
from concurrency_worker import OUTPUTS, STEPS, chain, local_stack
from zen_mlmd.errors import StepFailedError, StoreError, StoreUnavailableError
from zen_mlmd.mlmd.calls import ABORTED_RETRY_SECONDS, MAX_TRIES, RETRY_DELAYS
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.post_execution.api import get_run
from zen_mlmd.post_execution.session import ReadSession

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("concurrency_worker.py")
#: Upper bounds on waiting (a guard against hanging, never a measurement).
WAIT_LIMIT = 60.0
#: How long a failing call may take at most: MAX_TRIES tries of at most
#: ~5 s each (SQLite's busy wait, a 2 s gRPC deadline) plus the backoff, or
#: Aborted tries for ABORTED_RETRY_SECONDS plus the last one.
CALL_BOUND = max(MAX_TRIES * 5.0 + sum(RETRY_DELAYS), ABORTED_RETRY_SECONDS + 5.0)
#: A short lock: longer than one try's busy wait (~1.5 s), so the first try
#: is Aborted, and much shorter than all tries together (~7.5 s).
SHORT_LOCK = 3.5

LOCKER = textwrap.dedent('''
    import sqlite3, sys, time
    path, hold = sys.argv[1], sys.argv[2]
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    if hold == "stdin":
        sys.stdin.read()          # held until the test closes our stdin
    else:
        time.sleep(float(hold))
    connection.execute("COMMIT")
    print("released", flush=True)
''')


# -- helpers ---------------------------------------------------------------------------
class Locker:
    """Another process holding an exclusive lock on a SQLite file."""

    def __init__(self, path: Path, hold: str):
        self.process = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(path), hold],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if line != "locked":
            self.process.kill()
            raise AssertionError(f"the locker did not lock {path}: {self.process.stderr.read()}")

    def release(self) -> str:
        """Let go (if held until stdin closes) and wait; returns what it printed last."""
        self.process.stdin.close()
        self.process.wait(WAIT_LIMIT)
        out, err = self.process.stdout.read(), self.process.stderr.read()
        assert self.process.returncode == 0, err
        return out.strip()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class SqliteTarget:
    """A SQLite file, reached directly or through our gRPC server."""

    def __init__(self, how: str, tmp_path: Path):
        self.how = how
        self.server = None
        if how == "sqlite":
            spec = sqlite_spec(tmp_path)
            self.db = Path(spec.options["path"])
            self.config = connection_config(spec)
        else:
            workdir = tmp_path / "server"
            database = connection_config(sqlite_spec(workdir))
            self.db = workdir / "mlmd.sqlite"
            self.server = GrpcServer(database, workdir).__enter__()
            self.config = connection_config(
                BackendSpec("grpc", "kubeflow", {"host": "127.0.0.1", "port": self.server.port}))

    def open(self) -> MetadataStore:
        return MetadataStore(self.config, store_name=f"{self.how}-store")

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture(params=["sqlite", "grpc"])
def sqlite_target(request, tmp_path: Path):
    target = SqliteTarget(request.param, tmp_path)
    try:
        yield target
    finally:
        target.close()


def count_tries(store: MetadataStore) -> dict[str, int]:
    """Count every try that reaches the real ml-metadata client (one per attempt)."""
    tries: dict[str, int] = {}
    inner = store.raw._call_method

    def counted(method_name, request, response):
        tries[method_name] = tries.get(method_name, 0) + 1
        return inner(method_name, request, response)

    store.raw._call_method = counted
    return tries


def assert_no_half_written_step(store: MetadataStore) -> dict[str, int]:
    """Every COMPLETE execution has all its outputs LIVE; no other has a LIVE output.

    Returns the number of executions by state name.
    """
    executions = store.get_executions()
    events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
    artifacts = {a.id: a for a in store.get_artifacts()}
    outputs: dict[int, list[pb.Artifact]] = {}
    for event in events:
        if event.type == pb.Event.OUTPUT:
            outputs.setdefault(event.execution_id, []).append(artifacts[event.artifact_id])
    states: dict[str, int] = {}
    for execution in executions:
        state = pb.Execution.State.Name(execution.last_known_state)
        states[state] = states.get(state, 0) + 1
        produced = outputs.get(execution.id, [])
        step = execution.custom_properties["display_name"].string_value
        if state == "COMPLETE":
            assert len(produced) == len(OUTPUTS[step]), (step, produced)
            assert all(a.state == pb.Artifact.LIVE for a in produced), (step, produced)
        else:
            assert not [a for a in produced if a.state == pb.Artifact.LIVE], (step, state, produced)
    # nothing LIVE that no COMPLETE execution published
    published = {a.id for e in executions if e.last_known_state == pb.Execution.COMPLETE
                 for a in outputs.get(e.id, [])}
    assert {i for i, a in artifacts.items() if a.state == pb.Artifact.LIVE} <= published
    return states


def worker_env() -> dict[str, str]:
    paths = [str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


# -- 1. a short lock is retried ----------------------------------------------------------------
def test_a_short_lock_is_retried_and_the_run_completes(sqlite_target: SqliteTarget, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    store = sqlite_target.open()
    stack = local_stack(store, tmp_path / "artifacts")
    lockers: list[Locker] = []

    # The middle step returns while another process holds the database file
    # locked: its publish meets Aborted until the lock goes.
    import concurrency_worker

    monkeypatch.setattr(concurrency_worker, "_MIDDLE_ACTION",
                        lambda: lockers.append(Locker(sqlite_target.db, str(SHORT_LOCK))))
    try:
        run = chain.run(stack=stack, quiet=True, run_name="locked-run", seed=3)
    except BaseException:
        for locker in lockers:
            locker.kill()
        raise
    [locker] = lockers
    assert locker.release() == "released"  # the lock really was held, then let go

    assert run.status == "completed"
    assert [s.status for s in run.steps] == ["completed"] * len(STEPS)
    # The writes that met the lock were tried again, each counted as one call:
    # the run's start (its contexts found), S+1 step writes (first start,
    # publish+start pairs, the last publish with the run's end), the links.
    assert sum(store.retried.values()) >= 1, store.retried
    assert store.calls["PutExecution"] == 1
    assert store.calls["PutLineageSubgraph"] == 1 + (len(STEPS) - 1) + 1
    assert store.calls["PutAttributionsAndAssociations"] == 1
    assert assert_no_half_written_step(store) == {"COMPLETE": len(STEPS)}
    for step in run.steps:
        for artifact in step.outputs.values():
            artifact.read()


# -- 2. a lock that stays is reported, after a bounded number of tries ------------------------
def test_a_lock_that_stays_fails_clearly_after_max_tries(sqlite_target: SqliteTarget):
    store = sqlite_target.open()
    context_type = store.type_id("context", pb.ContextType(name="fault_probe"))
    tries = count_tries(store)
    locker = Locker(sqlite_target.db, "stdin")
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailableError) as raised:
            store.put_contexts([pb.Context(type_id=context_type, name="never-written")])
        waited = time.monotonic() - started
    finally:
        last_words = locker.release()
    assert last_words == "released"

    message = str(raised.value)
    made = tries["PutContexts"]  # over gRPC: one call to the server per try
    assert f"{sqlite_target.how}-store: PutContexts failed after {made} tries" in message
    assert "the store stayed busy" in message and "Fix:" in message
    assert raised.value.mlmd_error is not None  # MLMD's own error is kept
    # One call, tried again until the Aborted budget was spent, bounded in
    # time (not a measurement).
    assert store.calls["PutContexts"] == 1
    assert made >= 2 and store.retried["PutContexts"] == made - 1
    assert ABORTED_RETRY_SECONDS / 2 < waited < CALL_BOUND, waited

    # Once the lock is gone the same store works, and nothing was half written.
    [context_id] = store.put_contexts([pb.Context(type_id=context_type, name="written")])
    assert [c.name for c in store.get_contexts_by_type("fault_probe")] == ["written"]
    assert context_id > 0


# -- 3. MariaDB restarted while a step runs -------------------------------------------------------
def restart_mysql() -> None:
    command = os.environ.get("ZEN_MLMD_TEST_MYSQL_RESTART")
    if not command:
        pytest.fail("ZEN_MLMD_TEST_MYSQL_RESTART is not set: run the suite with "
                    "`bash scripts/test.sh`, which starts MariaDB and exports it", pytrace=False)
    done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=WAIT_LIMIT)
    assert done.returncode == 0, f"restarting MariaDB failed: {done.stderr[-2000:]}"


@pytest.mark.parametrize("backend", ["mysql", "mysql_tls"], indirect=True)
def test_mariadb_restarted_mid_run_leaves_a_consistent_store(backend: BackendSpec, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    import concurrency_worker

    store = MetadataStore(connection_config(backend), store_name=f"{backend.name}-store")
    stack = local_stack(store, tmp_path / "artifacts")
    monkeypatch.setattr(concurrency_worker, "_MIDDLE_ACTION", restart_mysql)
    try:
        run = chain.run(stack=stack, quiet=True, run_name="restarted-run", seed=5)
        outcome = None
    except (StoreUnavailableError, StepFailedError) as exc:  # the clear error allowed at worst
        run, outcome = None, exc

    # A fresh connection sees a consistent store, whatever happened.
    reader = MetadataStore(connection_config(backend), store_name="reader")
    states = assert_no_half_written_step(reader)
    read = get_run("restarted-run", ReadSession(reader, ArtifactStore(str(tmp_path / "artifacts"))))
    produce = read.get_step("produce")
    assert produce.status == "completed"
    assert sorted(produce.outputs) == sorted(OUTPUTS["produce"])
    for artifact in produce.outputs.values():
        artifact.read()  # the outputs written before the restart stay readable

    if outcome is None:
        # The retry reconnected: the first call after the restart lost its
        # connection and was tried again.
        assert run.status == "completed"
        assert states == {"COMPLETE": len(STEPS)}
        assert sum(store.retried.values()) >= 1, store.calls
    else:
        text = str(outcome)
        assert isinstance(outcome, StoreUnavailableError) or isinstance(
            getattr(outcome, "cause", None), StoreError), text
        assert "mysql" in text.lower() or "store" in text.lower(), text


# -- 4. the gRPC server killed or hung mid-run -----------------------------------------------------
@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGSTOP"])
def test_grpc_server_lost_mid_run_fails_clearly_within_its_timeout(signal_name: str, tmp_path: Path):
    workdir = tmp_path / "server"
    database = connection_config(sqlite_spec(workdir))
    server = GrpcServer(database, workdir).__enter__()
    job = {
        "mode": "signal_server", "signal": signal_name, "server_pid": server.process.pid,
        "options": {"host": "127.0.0.1", "port": server.port, "client_timeout_sec": 2},
        "artifacts": str(tmp_path / "artifacts"), "signalled_file": str(tmp_path / "signalled"),
        "result": str(tmp_path / "result.json"),
    }
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job))
    try:
        worker = subprocess.run([sys.executable, str(WORKER), str(job_path)], env=worker_env(),
                                capture_output=True, text=True, timeout=WAIT_LIMIT)
    finally:
        if server.process.poll() is None:  # a stopped server: let it die
            server.process.send_signal(signal.SIGCONT)
            server.process.kill()
            server.process.wait()
    assert (tmp_path / "signalled").read_text() == signal_name
    result = json.loads(Path(job["result"]).read_text())
    assert worker.returncode == 0 and "crashed" not in result, (result, worker.stderr[-3000:])

    # A clear StoreUnavailableError, not a hang, not a raw gRPC error.
    assert "StoreUnavailableError" in result["error_classes"], result
    message = result["message"]
    # the run and step that were cut off are named, then the store's own diagnosis
    assert message.startswith("run 'doomed-run', step 'combine': "), message
    assert "kubeflow-store: " in message and "Fix:" in message, message
    if signal_name == "SIGKILL":  # connection refused: retried, then reported
        assert f"after {MAX_TRIES} tries: the store did not answer" in message, message
    else:  # no answer: the deadline expires, once per call
        assert "no answer within the client timeout" in message, message
    # The orchestrator made three calls after the signal (publish, record the
    # failure, end the run), each bounded; together they stay far below the
    # outer limit.
    assert result["seconds_after_signal"] < 3 * CALL_BOUND, result
    causes = [c["type"] for c in result["chain"]]
    assert all(c == "StoreUnavailableError" for c in causes), result["chain"]

    # What reached the store is consistent: the first step is COMPLETE with
    # LIVE outputs, the middle one RUNNING with none, the last never started.
    reader = MetadataStore(connection_config(sqlite_spec(workdir)), store_name="reader")
    assert assert_no_half_written_step(reader) == {"COMPLETE": 1, "RUNNING": 1}
    run = get_run("doomed-run", ReadSession(reader, ArtifactStore(str(tmp_path / "artifacts"))))
    assert run.status == "interrupted"  # its process is gone, its end never recorded
    assert [s.name for s in run.steps] == ["produce", "combine"]
    assert [s.status for s in run.steps] == ["completed", "interrupted"]
    for artifact in run.get_step("produce").outputs.values():
        artifact.read()
