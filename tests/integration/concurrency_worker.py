"""A separate process that records pipeline runs, for the concurrency and fault tests.

Run as ``python tests/integration/concurrency_worker.py JOB.json``; the job
file says what to do and where to write the result (JSON). ``tests/`` must be
on ``PYTHONPATH`` (for `backends` and `tracking_helpers`).

Modes:

``record``
    Open the store of a `BackendSpec`, write ``<ready_dir>/<worker>``, wait
    until the barrier file exists (so that every worker starts recording at
    the same moment), then record `runs` runs of the three-step pipeline
    `chain` (two outputs per step, caching off). The result lists every run
    with its execution and artifact ids, as the recorder returned them.

``open``
    Wait for the barrier, then open a store that does not exist yet (all
    workers at once), trying again after a pause when the error says another
    process was creating it.

``signal_server``
    Record one run of `chain` through the `kubeflow` flavor (options in the
    job, e.g. a small `client_timeout_sec`); the middle step sends the gRPC
    server (pid in the job) a signal before it returns: SIGKILL (the server
    is gone) or SIGSTOP (it hangs). The result holds the error the run
    raised, its chain of causes, and how long it took to surface after the
    signal.

Steps, pipeline and the result layout are shared with the tests through
`STEPS`, `OUTPUTS` and `INPUTS`.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from zen_mlmd.artifacts import Dataset
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step

#: The pipeline's steps in DAG order, their outputs and which inputs each takes.
STEPS = ("produce", "combine", "summarize")
OUTPUTS = {
    "produce": ("left", "right"),
    "combine": ("total", "pairs"),
    "summarize": ("report", "checksum"),
}
#: input name -> (upstream step, upstream output)
INPUTS = {
    "produce": {},
    "combine": {"left": ("produce", "left"), "right": ("produce", "right")},
    "summarize": {"total": ("combine", "total"), "pairs": ("combine", "pairs")},
}
BARRIER_LIMIT = 60.0  # seconds a worker waits for the barrier before giving up

#: What the middle step does in this process (set by the fault modes).
_MIDDLE_ACTION = None


@step(outputs={"left": Dataset, "right": Dataset})
def produce(seed: int = 0, size: int = 4):
    return [seed + i for i in range(size)], [seed * i for i in range(size)]


@step(outputs={"total": Dataset, "pairs": Dataset})
def combine(left: list, right: list):
    if _MIDDLE_ACTION is not None:
        _MIDDLE_ACTION()
    return [a + b for a, b in zip(left, right)], [[a, b] for a, b in zip(left, right)]


@step(outputs={"report": Dataset, "checksum": Dataset})
def summarize(total: list, pairs: list):
    return {"n": len(pairs), "sum": sum(total)}, [sum(total) % 97]


@pipeline(enable_cache=False)
def chain(seed: int = 0, size: int = 4):
    left, right = produce(seed=seed, size=size)
    total, pairs = combine(left, right)
    summarize(total, pairs)


def local_stack(store, artifact_root, name: str = "test"):
    """A `LocalTestStack` over `store`, whose orchestrator is the local one without options."""
    from tracking_helpers import LocalTestStack

    stack = LocalTestStack(store, artifact_root, name=name)
    if not hasattr(stack.orchestrator, "options"):  # `Pipeline.run` reads them
        stack.orchestrator.options = {}
    return stack


def run_summary(run) -> dict:
    """What a recorded run looks like through the read API: ids by step."""
    steps = {}
    for s in run.steps:
        steps[s.name] = {
            "id": s.id,
            "status": s.status,
            "outputs": {name: a.id for name, a in s.outputs.items()},
            "inputs": {name: a.id for name, a in s.inputs.items()},
        }
    return {"name": run.name, "status": run.status, "steps": steps}


# -- modes ---------------------------------------------------------------------------
def record(job: dict) -> dict:
    from backends import BackendSpec, connection_config
    from zen_mlmd.mlmd.store import MetadataStore

    spec = BackendSpec(**job["spec"])
    worker = job["worker"]
    store = MetadataStore(connection_config(spec), store_name=f"worker-{worker}")
    stack = local_stack(store, job["artifacts"], name=f"worker-{worker}")
    Path(job["ready_dir"], str(worker)).write_text(str(os.getpid()))
    _wait_for_barrier(Path(job["barrier"]), worker)
    started = time.time()
    runs = []
    for index in range(job["runs"]):
        run = chain.run(stack=stack, quiet=True, run_name=f"w{worker}-r{index}",
                        seed=worker * 100 + index)
        runs.append(run_summary(run))
    return {"runs": runs, "started": started, "ended": time.time(), "calls": dict(store.calls),
            "retried": dict(getattr(store, "retried", {}))}


def signal_server(job: dict) -> dict:
    global _MIDDLE_ACTION
    from zen_mlmd.flavors.registry import get_flavor
    from zen_mlmd.mlmd.store import MetadataStore

    flavor = get_flavor("kubeflow")
    config = flavor.parse_config(dict(job["options"]))
    store = MetadataStore(flavor.connection_config(config), store_name="kubeflow-store")
    stack = local_stack(store, job["artifacts"], name="kubeflow")
    signalled_at = []

    def send_signal():
        os.kill(job["server_pid"], getattr(signal, job["signal"]))
        signalled_at.append(time.monotonic())
        Path(job["signalled_file"]).write_text(job["signal"])

    _MIDDLE_ACTION = send_signal
    result: dict = {"error_type": None}
    try:
        chain.run(stack=stack, quiet=True, run_name="doomed-run", seed=7)
    except Exception as exc:
        result.update(
            error_type=type(exc).__name__,
            error_classes=[c.__name__ for c in type(exc).__mro__],
            message=str(exc),
            chain=_exception_chain(exc),
        )
    result["seconds_after_signal"] = time.monotonic() - signalled_at[0] if signalled_at else None
    result["calls"] = dict(store.calls)
    result["retried"] = dict(getattr(store, "retried", {}))
    return result


def _exception_chain(exc: BaseException) -> list[dict]:
    found, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        found.append({"type": type(exc).__name__,
                      "classes": [c.__name__ for c in type(exc).__mro__], "message": str(exc)})
        # as a traceback shows it: `raise ... from None` hides the context
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return found


def open_store(job: dict) -> dict:
    """Open a store nobody has opened yet, together with the other workers.

    An open that fails because another worker was creating the store at the
    same moment is tried again, as the error tells a user to.
    """
    from backends import BackendSpec, connection_config
    from zen_mlmd.errors import StoreUnavailableError
    from zen_mlmd.mlmd.store import MetadataStore

    spec = BackendSpec(**job["spec"])
    worker = job["worker"]
    config = connection_config(spec)
    Path(job["ready_dir"], str(worker)).write_text(str(os.getpid()))
    _wait_for_barrier(Path(job["barrier"]), worker)
    errors = []
    store = None
    for delay in (*job["retry_delays"], None):
        try:
            store = MetadataStore(config, store_name=f"worker-{worker}")
            break
        except StoreUnavailableError as exc:
            errors.append(str(exc))
            if delay is None:
                break
            time.sleep(delay)  # the other process is still creating the store
    if store is not None:  # the schema it found is complete
        store.get_context_types()
    return {"errors": errors, "opened": store is not None}


def _wait_for_barrier(barrier: Path, worker: int) -> None:
    deadline = time.monotonic() + BARRIER_LIMIT
    while not barrier.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"worker {worker}: the barrier {barrier} never appeared")
        time.sleep(0.002)


MODES = {"record": record, "open": open_store, "signal_server": signal_server}


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[1]).read_text())
    try:
        result = MODES[job["mode"]](job)
    except BaseException as exc:  # report it to the test, then fail
        Path(job["result"]).write_text(json.dumps({
            "crashed": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
        }))
        return 1
    Path(job["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
