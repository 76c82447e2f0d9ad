"""A `kubeflow` store with `kubernetes_context` is opened through `kubectl port-forward`.

No cluster here: kubectl is a stand-in that forwards to a local MLMD server.
The stand-in is a Python script put first on PATH; it takes kubectl's exact
arguments, prints what kubectl prints (``Forwarding from 127.0.0.1:PORT ->
8080``, ``Handling connection for PORT``), and really forwards TCP to our
MLMD gRPC server (``python -m zen_mlmd.server`` over a SQLite file), so every
MLMD call below goes through the "forward" to a real server. Contexts it does
not know fail as kubectl fails. Waits are bounded; nothing is skipped.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ml_metadata.metadata_store import metadata_store as raw_mlmd
from ml_metadata.proto import metadata_store_pb2
from server_helpers import REPO_ROOT, ServerProcess

from zen_mlmd.errors import PreflightError
from zen_mlmd.stack import StackRegistry

CONTEXT = "kind-zen"
EXPECTED_ARGV = ["--context", CONTEXT, "-n", "kubeflow", "port-forward",
                 "svc/metadata-grpc-service", "0:8080", "--address", "127.0.0.1"]
#: A guard against hanging, not a measurement.
BOUND = 60.0

STAND_IN = '''\
"""kubectl stand-in for tests (no cluster here): forwards to a local MLMD server."""
import json, os, socket, sys, threading

args = sys.argv[1:]
with open(os.environ["STAND_IN_LOG"], "a") as log:
    log.write(json.dumps({"pid": os.getpid(), "argv": args}) + "\\n")
context = args[args.index("--context") + 1]
if context not in os.environ["STAND_IN_CONTEXTS"].split(","):
    print(f'error: context "{context}" does not exist', file=sys.stderr)
    sys.exit(1)
local, remote = args[args.index("port-forward") + 2].split(":")
address = args[args.index("--address") + 1]
listener = socket.create_server((address, int(local)))
port = listener.getsockname()[1]
print(f"Forwarding from {address}:{port} -> {remote}", flush=True)
target = int(os.environ["STAND_IN_TARGET_PORT"])


def pump(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


while True:
    client, _ = listener.accept()
    print(f"Handling connection for {port}", flush=True)
    try:
        upstream = socket.create_connection(("127.0.0.1", target))
    except OSError as exc:
        print(f"E1130 01:30:00.000000 {os.getpid()} portforward.go:424] an error occurred "
              f"forwarding {port} -> {remote}: error forwarding port {remote} to pod "
              f"metadata-grpc-deployment-0: {exc}", file=sys.stderr, flush=True)
        client.close()
        continue
    threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
'''


class Kubectl:
    """The stand-in on PATH, and what it logged about its runs."""

    def __init__(self, log: Path):
        self.log = log

    def runs(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def gone_soon(pid: int) -> bool:
    """Bounded wait for a process another process was in charge of stopping."""
    deadline = time.monotonic() + BOUND
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


@pytest.fixture
def server(tmp_path):
    process = ServerProcess(tmp_path / "server")
    yield process
    process.terminate()


@pytest.fixture
def kubectl(tmp_path, monkeypatch, server) -> Kubectl:
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "kubectl"
    script.write_text(f"#!{sys.executable}\n{STAND_IN}")
    script.chmod(0o755)
    log = tmp_path / "kubectl-runs.jsonl"
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("STAND_IN_LOG", str(log))
    monkeypatch.setenv("STAND_IN_CONTEXTS", CONTEXT)
    monkeypatch.setenv("STAND_IN_TARGET_PORT", str(server.port))
    monkeypatch.delenv("METADATA_GRPC_SERVICE_HOST", raising=False)
    return Kubectl(log)


@pytest.fixture
def registry(kubectl) -> StackRegistry:
    registry = StackRegistry()  # in the test's private config dir (the `config_dir` fixture)
    registry.register_metadata_store("kf", "kubeflow", {"kubernetes_context": CONTEXT,
                                                        "client_timeout_sec": 30})
    return registry


def put_execution(store) -> int:
    type_id = store.put_execution_type(metadata_store_pb2.ExecutionType(name="forwarded.Step"))
    execution = metadata_store_pb2.Execution(type_id=type_id, name="through-the-forward")
    execution.last_known_state = metadata_store_pb2.Execution.COMPLETE
    [execution_id] = store.put_executions([execution])
    return execution_id


def test_store_opened_through_the_port_forward_and_closed_with_it(registry, kubectl, server):
    store = registry.get_metadata_store("kf").open()
    [run] = kubectl.runs()
    assert run["argv"] == EXPECTED_ARGV
    assert alive(run["pid"])
    config = store.connection_config
    assert config.host == "127.0.0.1" and config.port != 8080  # the forward's local end
    assert config.client_timeout_sec == 30

    execution_id = put_execution(store)
    [read] = store.get_executions_by_id([execution_id])
    assert read.name == "through-the-forward"
    assert read.last_known_state == metadata_store_pb2.Execution.COMPLETE

    store.close()
    assert store.closed
    assert not alive(run["pid"])
    store.close()  # idempotent

    # it really went to the server's database, not anywhere else
    direct = metadata_store_pb2.ConnectionConfig()
    direct.sqlite.filename_uri = str(server.db_path)
    direct.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    [stored] = raw_mlmd.MetadataStore(direct).get_executions_by_id([execution_id])
    assert stored.name == "through-the-forward"


def test_with_statement_stops_the_forward(registry, kubectl):
    with registry.get_metadata_store("kf").open() as store:
        put_execution(store)
        [run] = kubectl.runs()
        assert alive(run["pid"])
    assert not alive(run["pid"])


def test_the_end_of_the_process_stops_the_forward(registry, kubectl):
    """A program that opens the store and never closes it leaves no kubectl behind."""
    program = ("from zen_mlmd.stack import StackRegistry\n"
               "store = StackRegistry().get_metadata_store('kf').open()\n"
               "store.get_context_types()\n"
               "print('opened', flush=True)\n")
    result = subprocess.run([sys.executable, "-c", program], env=_child_env(),
                            capture_output=True, text=True, timeout=BOUND)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "opened"
    [run] = kubectl.runs()
    assert gone_soon(run["pid"])


def test_cli_check_goes_through_the_port_forward(registry, kubectl):
    result = _cli("metadata-store", "check", "kf", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["target"] == ("kubectl port-forward svc/metadata-grpc-service:8080 in "
                                f"namespace kubeflow (context {CONTEXT})")
    assert report["details"]["grpc"] == "ready"
    assert report["details"]["mlmd"] == "answered"
    runs = kubectl.runs()
    assert len(runs) == 2  # the preflight's forward, then the store's
    assert all(run["argv"] == EXPECTED_ARGV for run in runs)
    assert all(gone_soon(run["pid"]) for run in runs)


def test_cli_check_with_an_unknown_context_shows_kubectls_error(kubectl):
    StackRegistry().register_metadata_store("elsewhere", "kubeflow",
                                            {"kubernetes_context": "no-such-cluster"})
    result = _cli("metadata-store", "check", "elsewhere")
    assert result.returncode != 0
    assert "the kubectl context 'no-such-cluster' does not exist" in result.stderr
    assert 'kubectl said: error: context "no-such-cluster" does not exist' in result.stderr
    assert "kubectl config get-contexts" in result.stderr


def test_open_when_the_service_does_not_answer(registry, kubectl, server):
    server.terminate()
    with pytest.raises(PreflightError) as caught:
        registry.get_metadata_store("kf").open()
    message = str(caught.value)
    assert message.startswith("metadata store 'kf': the MLMD service did not answer")
    assert "error forwarding port 8080 to pod metadata-grpc-deployment-0" in message
    [run] = kubectl.runs()
    assert not alive(run["pid"])


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)}


def _cli(*args: str) -> subprocess.CompletedProcess:
    program = "import sys; from zen_mlmd.cli.main import cli; sys.exit(cli())"
    return subprocess.run([sys.executable, "-c", program, *args], env=_child_env(),
                          capture_output=True, text=True, timeout=BOUND)


# --- the forward never outlives its owner ------------------------------------------------------
OPEN_AND_WAIT = ("from zen_mlmd.stack import StackRegistry\n"
                 "store = StackRegistry().get_metadata_store('kf').open()\n"
                 "store.get_context_types()\n"
                 "print('opened', flush=True)\n"
                 "import time\n"
                 "time.sleep(120)\n")


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_no_port_forward_remains_after_its_owner_is_killed(registry, kubectl, signum):
    """No atexit handler runs on SIGKILL (nor on an unhandled SIGTERM): the kernel stops kubectl."""
    owner = subprocess.Popen([sys.executable, "-c", OPEN_AND_WAIT], env=_child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "opened", owner.stderr.read()
        [run] = kubectl.runs()
        assert alive(run["pid"])
        owner.send_signal(signum)
        assert owner.wait(timeout=BOUND) == -signum
        assert gone_soon(run["pid"])
    finally:
        if owner.poll() is None:
            owner.kill()


def test_a_forward_opened_in_a_worker_thread_outlives_that_thread(registry, kubectl):
    """The parent-death signal follows the forking thread: kubectl is forked by a long-lived one."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        store = pool.submit(registry.get_metadata_store("kf").open).result()
    # the pool's worker thread has ended
    [run] = kubectl.runs()
    time.sleep(0.5)
    assert alive(run["pid"])
    assert store.get_context_types() is not None
    store.close()
    assert not alive(run["pid"])


def _recorded_to_the_end(store, run_name: str) -> dict[str, tuple[str, bool]]:
    """Each step of a run: (status, linked to its own `node` context), read through a new forward.

    The `node` links of combined writes are left for the run's end: a run
    that closed its store before writing them would show steps without them.
    """
    from zen_mlmd.post_execution import get_run

    run = get_run(run_name, store)
    found = {}
    for step in run.steps:
        name = step.name
        contexts = store.raw.get_contexts_by_execution(step.id)
        found[name] = (step.status, any(c.type == "node" and c.name.endswith(f".{name}") for c in contexts))
    return {"run": run.status, **found}


def test_a_pipeline_run_closes_its_port_forward_once_everything_is_written(registry, kubectl):
    from zen_mlmd.pipelines.pipeline import pipeline
    from zen_mlmd.pipelines.step import step

    @step
    def one() -> int:
        return 1

    @step
    def plus_one(x: int) -> int:
        return x + 1

    @pipeline
    def forwarded():
        plus_one(one())  # one's publish is held back and goes out with plus_one's start

    registry.register_stack("kf-stack", metadata_store="kf", artifact_store="default",
                            orchestrator="default")
    run = forwarded.run(stack=registry.get_stack("kf-stack"), quiet=True, run_name="forwarded-1")
    assert run.status == "completed" and run.steps["plus_one"].outputs["output"].read() == 2
    [forward] = kubectl.runs()
    assert not alive(forward["pid"])  # closed when the run ended, not at garbage collection
    with registry.get_metadata_store("kf").open() as store:
        assert _recorded_to_the_end(store, "forwarded-1") == {
            "run": "completed", "one": ("completed", True), "plus_one": ("completed", True)}


def test_a_failing_pipeline_run_records_its_end_then_closes_its_port_forward(registry, kubectl):
    from zen_mlmd.errors import StepFailedError
    from zen_mlmd.pipelines.pipeline import pipeline
    from zen_mlmd.pipelines.step import step

    @step
    def one() -> int:
        return 1

    @step
    def broken(x: int) -> int:
        raise ValueError("broken on purpose")

    @pipeline
    def forwarded_failing():
        broken(one())

    registry.register_stack("kf-stack", metadata_store="kf", artifact_store="default",
                            orchestrator="default")
    with pytest.raises(StepFailedError, match="broken"):
        forwarded_failing.run(stack=registry.get_stack("kf-stack"), quiet=True,
                              run_name="forwarded-failing-1")
    [forward] = kubectl.runs()
    assert not alive(forward["pid"])
    with registry.get_metadata_store("kf").open() as store:
        assert _recorded_to_the_end(store, "forwarded-failing-1") == {
            "run": "failed", "one": ("completed", True), "broken": ("failed", True)}
