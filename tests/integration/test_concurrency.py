"""Several processes recording runs into one store at the same time lose nothing.

`WORKERS` processes (tests/integration/concurrency_worker.py) each open their
own connection to the fresh store of a backend, wait on a barrier file so
that they all start together, and record `RUNS` runs of a three-step pipeline
with two outputs per step. Afterwards the store holds exactly what the
workload recorded, counted through the plain MLMD API: runs, executions,
artifacts, events, attributions, associations and run->pipeline links, with
one pipeline context and one node context per step shared by all runs. Every
run also reads back complete through the post-execution API, with the ids
its worker was handed while recording.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ml_metadata.proto import metadata_store_pb2 as pb

from backends import BackendSpec, connection_config
from concurrency_worker import INPUTS, OUTPUTS, STEPS, chain, local_stack
from tracking_helpers import journal_mode
from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.pipelines.pipeline import Pipeline
from zen_mlmd.post_execution.api import get_run, get_runs
from zen_mlmd.post_execution.session import ReadSession

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("concurrency_worker.py")
WORKERS = 4
RUNS = 5
PIPELINE = "chain"
WORKER_LIMIT = 240.0  # an upper bound on waiting for the workers, never a measurement
READY_LIMIT = 60.0
#: Pauses before opening a new store again, as a user (or a retrying client) would.
OPEN_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 2.0)

# What the workload records, computed from the pipeline's shape.
N_RUNS = WORKERS * RUNS
N_STEPS = len(STEPS)
EXPECTED = {
    "pipeline contexts": 1,
    "run contexts": N_RUNS,
    "node contexts": N_STEPS,
    "executions": N_RUNS * N_STEPS,
    "artifacts": N_RUNS * sum(len(o) for o in OUTPUTS.values()),
    "output events": N_RUNS * sum(len(o) for o in OUTPUTS.values()),
    "input events": N_RUNS * sum(len(i) for i in INPUTS.values()),
    # every execution is linked to its pipeline, run and node contexts; every
    # output to its pipeline and run (the publish of one step goes out with the
    # start of the next, the last one with the run's end: no node context).
    "associations": N_RUNS * N_STEPS * 3,
    "attributions": N_RUNS * sum(len(o) for o in OUTPUTS.values()) * 2,
    "run->pipeline links": N_RUNS,
}
def worker_env() -> dict[str, str]:
    paths = [str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def start_workers(spec: BackendSpec, tmp_path: Path, mode: str = "record", **extra):
    """Start the workers; return (processes, job files, barrier path)."""
    ready_dir = tmp_path / "ready"
    ready_dir.mkdir()
    barrier = tmp_path / "barrier"
    processes, jobs = [], []
    for worker in range(WORKERS):
        job = {
            "mode": mode, "spec": asdict(spec) | {"options": dict(spec.options)},
            "worker": worker, "runs": RUNS, "barrier": str(barrier),
            "ready_dir": str(ready_dir), "artifacts": str(tmp_path / "artifacts"),
            "result": str(tmp_path / f"result-{worker}.json"), **extra,
        }
        path = tmp_path / f"job-{worker}.json"
        path.write_text(json.dumps(job))
        jobs.append(job)
        log = open(tmp_path / f"worker-{worker}.log", "wb")
        processes.append(subprocess.Popen(
            [sys.executable, str(WORKER), str(path)], stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, env=worker_env(), cwd=str(tmp_path)))
        log.close()
    return processes, jobs, barrier, ready_dir


def release_together(processes, ready_dir: Path, barrier: Path) -> None:
    """Wait until every worker has opened its store, then let them all go at once."""
    deadline = time.monotonic() + READY_LIMIT
    while len(list(ready_dir.iterdir())) < len(processes):
        crashed = [p.args for p in processes if p.poll() is not None]
        assert not crashed, f"a worker exited before the barrier: {crashed}"
        assert time.monotonic() < deadline, "the workers never became ready"
        time.sleep(0.01)
    barrier.write_text("go")


def collect(processes, jobs, tmp_path: Path) -> list[dict]:
    results = []
    for worker, (process, job) in enumerate(zip(processes, jobs)):
        try:
            process.wait(WORKER_LIMIT)
        except subprocess.TimeoutExpired:
            for p in processes:
                p.kill()
            raise AssertionError(f"worker {worker} did not finish within {WORKER_LIMIT:.0f} s")
        log = (tmp_path / f"worker-{worker}.log").read_text(errors="replace")[-3000:]
        result_path = Path(job["result"])
        assert result_path.exists(), f"worker {worker} wrote no result (exit {process.returncode}):\n{log}"
        result = json.loads(result_path.read_text())
        assert process.returncode == 0 and "crashed" not in result, (
            f"worker {worker} failed: {result.get('crashed')}\n{result.get('traceback', '')}\n{log}")
        results.append(result)
    return results


def count_store(store: MetadataStore) -> dict[str, int]:
    """What the store holds, counted through the plain MLMD API."""
    contexts = store.get_contexts()
    by_type = {}
    for name in ("pipeline", "pipeline_run", "node"):
        by_type[name] = [c for c in contexts if c.type == name]
    executions = store.get_executions()
    artifacts = store.get_artifacts()
    events = store.get_events_by_execution_ids([e.id for e in executions])
    associations = sum(len(store.get_executions_by_context(c.id)) for c in contexts)
    attributions = sum(len(store.get_artifacts_by_context(c.id)) for c in contexts)
    links = sum(len(store.get_parent_contexts_by_context(c.id)) for c in by_type["pipeline_run"])
    return {
        "pipeline contexts": len(by_type["pipeline"]),
        "run contexts": len(by_type["pipeline_run"]),
        "node contexts": len(by_type["node"]),
        "executions": len(executions),
        "artifacts": len(artifacts),
        "output events": sum(1 for e in events if e.type == pb.Event.OUTPUT),
        "input events": sum(1 for e in events if e.type == pb.Event.INPUT),
        "associations": associations,
        "attributions": attributions,
        "run->pipeline links": links,
    }


def test_concurrent_writers_lose_nothing(backend: BackendSpec, tmp_path: Path, metadata_store):
    spec = backend
    # The store exists (schema created) before the workers open it, as it would in production.
    metadata_store.get_context_types()
    if backend.name == "postgresql":
        # ml-metadata's PostgreSQL schema has no unique index on type names:
        # processes registering the same type at the same moment each create
        # one (4 processes registering 10 types made 18), and then a run is
        # not found by its name and node contexts split between the copies.
        # There, the types are registered once by a first run before the
        # writers start; the other backends race on registration too.
        warm_up = Pipeline(chain.func, name="warm_up", enable_cache=False)
        warm_up.run(stack=local_stack(metadata_store, tmp_path / "artifacts"), quiet=True,
                    run_name="warm-up", seed=-1)  # a seed no worker uses: no shared cache keys
    before = count_store(metadata_store)
    old_executions = {e.id for e in metadata_store.get_executions()}
    old_artifacts = {a.id for a in metadata_store.get_artifacts()}
    processes, jobs, barrier, ready_dir = start_workers(spec, tmp_path)
    try:
        release_together(processes, ready_dir, barrier)
        results = collect(processes, jobs, tmp_path)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    # They really recorded at the same time: one moment when all were recording.
    assert max(r["started"] for r in results) < min(r["ended"] for r in results), results
    recorded = [run for result in results for run in result["runs"]]
    assert len(recorded) == N_RUNS
    assert all(run["status"] == "completed" for run in recorded), [
        (run["name"], run["status"]) for run in recorded if run["status"] != "completed"]

    # 1. exact counts (of what the workers added)
    after = count_store(metadata_store)
    assert {name: after[name] - before[name] for name in after} == EXPECTED
    if backend.name == "sqlite":  # the writers shared the file in write-ahead-log mode
        assert journal_mode(backend.options["path"]) == "wal"

    # 2. every execution COMPLETE, every artifact LIVE, nothing recorded twice
    executions = [e for e in metadata_store.get_executions() if e.id not in old_executions]
    assert {e.last_known_state for e in executions} == {pb.Execution.COMPLETE}
    artifacts = [a for a in metadata_store.get_artifacts() if a.id not in old_artifacts]
    assert {a.state for a in artifacts} == {pb.Artifact.LIVE}
    assert len({a.uri for a in artifacts}) == len(artifacts)
    ids_recorded = sorted(s["id"] for run in recorded for s in run["steps"].values())
    assert ids_recorded == sorted(e.id for e in executions)
    outputs_recorded = sorted(a for run in recorded for s in run["steps"].values()
                              for a in s["outputs"].values())
    assert outputs_recorded == sorted(a.id for a in artifacts)

    # 3. every run reads back complete, as its worker recorded it
    session = ReadSession(metadata_store, ArtifactStore(str(tmp_path / "artifacts")))
    assert sorted(r.name for r in get_runs(PIPELINE, session)) == sorted(
        run["name"] for run in recorded)
    for run in recorded:
        read = get_run(run["name"], session)
        assert read.status == "completed"
        assert read.steps.names() == list(STEPS)
        for step in read.steps:
            written = run["steps"][step.name]
            assert step.id == written["id"] and step.status == "completed"
            assert {n: a.id for n, a in step.outputs.items()} == written["outputs"]
            assert set(written["outputs"]) == set(OUTPUTS[step.name])
            # inputs are the outputs of the upstream step of the same run
            expected_inputs = {name: run["steps"][up]["outputs"][out]
                               for name, (up, out) in INPUTS[step.name].items()}
            assert {n: a.id for n, a in step.inputs.items()} == expected_inputs
            for artifact in step.outputs.values():
                assert artifact.run_name == run["name"]
                artifact.read()  # its contents are where MLMD says they are


def test_concurrent_first_opens_of_a_new_store(backend: BackendSpec, tmp_path: Path):
    """Workers that open a store nobody created yet, all at once, end up with one store.

    MLMD creates the schema (and on PostgreSQL the database) on the first
    open; two processes doing it at once can collide. Such an open fails with
    a StoreUnavailableError that says so and to open again, and opening again
    after a pause works: every worker opens the one, complete store.
    """
    processes, jobs, barrier, ready_dir = start_workers(backend, tmp_path, mode="open",
                                                       retry_delays=OPEN_RETRY_DELAYS)
    try:
        release_together(processes, ready_dir, barrier)
        results = collect(processes, jobs, tmp_path)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for worker, result in enumerate(results):
        assert result["opened"], (worker, result["errors"])
        for error in result["errors"]:
            assert "another process was creating it at the same moment" in error, error
            assert "Fix: open it again" in error, error
    # One complete store: a run records and reads back.
    store = MetadataStore(connection_config(backend), store_name="after")
    run = chain.run(stack=local_stack(store, tmp_path / "artifacts"), quiet=True,
                    run_name="after-opens")
    assert run.status == "completed" and run.steps.names() == list(STEPS)
    assert count_store(store)["executions"] == N_STEPS
