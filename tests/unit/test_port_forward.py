"""`PortForward`: the exact kubectl command, its errors, and its lifecycle.

No cluster here: kubectl is a stand-in, a small Python script put first on
PATH by each test, that prints what real kubectl prints in that situation
(the error lines are copied from kubectl 1.32) and behaves like it (exits,
hangs, ignores SIGTERM, accepts connections it cannot forward). Every wait
is bounded by the forward's own timeout; nothing is skipped.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

from zen_mlmd.errors import ConfigError, PreflightError
from zen_mlmd.stack.port_forward import PortForward, PortForwardError

#: A guard against hanging, not a measurement.
BOUND = 10.0

EXPECTED_ARGV = ["--context", "kind-zen", "-n", "kubeflow", "port-forward",
                 "svc/metadata-grpc-service", "0:8080", "--address", "127.0.0.1"]

#: Every stand-in starts by logging its pid and argv (one JSON line per run).
HEADER = """\
import json, os, signal, socket, sys, time
with open(os.environ["STAND_IN_LOG"], "a") as _log:
    _log.write(json.dumps({"pid": os.getpid(), "argv": sys.argv[1:]}) + "\\n")
"""


class StandIn:
    """Writes `kubectl` stand-ins into a folder that is first on PATH."""

    def __init__(self, folder: Path, log: Path):
        self.folder = folder
        self.log = log

    def write(self, body: str) -> Path:
        path = self.folder / "kubectl"
        path.write_text(f"#!{sys.executable}\n{HEADER}{textwrap.dedent(body)}")
        path.chmod(0o755)
        return path

    def runs(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def kubectl(tmp_path, monkeypatch) -> StandIn:
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "kubectl-runs.jsonl"
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("STAND_IN_LOG", str(log))
    return StandIn(folder, log)


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


def wait_until(predicate, bound: float = BOUND) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# --- the command ---------------------------------------------------------------------------
def test_command_is_kubectls_port_forward_to_the_metadata_service():
    assert PortForward("kind-zen").command() == ["kubectl", *EXPECTED_ARGV]


def test_command_with_a_fixed_local_port_and_other_names():
    forward = PortForward("prod", namespace="ml", service="mlmd", remote_port=9090,
                          local_port=18080, kubectl="/opt/bin/kubectl")
    assert forward.command() == ["/opt/bin/kubectl", "--context", "prod", "-n", "ml", "port-forward",
                                 "svc/mlmd", "18080:9090", "--address", "127.0.0.1"]
    assert forward.local_port == 18080


@pytest.mark.parametrize("kwargs, field", [
    ({"context": ""}, "kubernetes_context"),
    ({"context": "--kubeconfig=/x"}, "kubernetes_context"),
    ({"context": "c", "namespace": "Kube Flow"}, "namespace"),
    ({"context": "c", "service": "svc/x"}, "service"),
    ({"context": "c", "remote_port": 0}, "remote_port"),
    ({"context": "c", "local_port": 70000}, "local_port"),
    ({"context": "c", "timeout": 0}, "timeout"),
])
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as caught:
        PortForward(**kwargs)
    assert caught.value.field == field
    assert "Fix:" in str(caught.value)


# --- kubectl fails -------------------------------------------------------------------------
def test_kubectl_not_on_path(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(PreflightError) as caught:
        PortForward("kind-zen").start()
    message = str(caught.value)
    assert "'kubectl' was not found on PATH" in message
    assert "svc/metadata-grpc-service:8080 in namespace kubeflow (context kind-zen)" in message
    assert "Fix: install kubectl" in message


def test_kubectl_path_that_does_not_exist(tmp_path):
    missing = str(tmp_path / "nowhere" / "kubectl")
    with pytest.raises(PortForwardError, match="was not found. Fix: install kubectl"):
        PortForward("kind-zen", kubectl=missing).start()


def test_unknown_context_carries_kubectls_message_and_the_fix(kubectl):
    kubectl.write("""
        context = sys.argv[sys.argv.index("--context") + 1]
        print(f'error: context "{context}" does not exist', file=sys.stderr)
        sys.exit(1)
    """)
    with pytest.raises(PreflightError) as caught:
        PortForward("kind-zen", timeout=BOUND).start()
    error = caught.value
    assert isinstance(error, PortForwardError)
    assert "the kubectl context 'kind-zen' does not exist" in str(error)
    assert 'kubectl said: error: context "kind-zen" does not exist' in str(error)
    assert "kubectl config get-contexts" in error.fix
    assert error.stderr == 'error: context "kind-zen" does not exist'
    [run] = kubectl.runs()
    assert run["argv"] == EXPECTED_ARGV
    assert not alive(run["pid"])


def test_service_not_found(kubectl):
    kubectl.write("""
        print('Error from server (NotFound): services "metadata-grpc-service" not found',
              file=sys.stderr)
        sys.exit(1)
    """)
    with pytest.raises(PortForwardError) as caught:
        PortForward("kind-zen").start()
    assert "the service 'metadata-grpc-service' does not exist in namespace 'kubeflow'" in str(caught.value)
    assert 'services "metadata-grpc-service" not found' in str(caught.value)
    assert "Kubeflow Pipelines is installed" in caught.value.fix


def test_unreachable_cluster_shows_kubectls_summary_not_its_log_noise(kubectl):
    kubectl.write("""
        for _ in range(4):
            print('E1130 01:29:27.937984    1132 memcache.go:265] "Unhandled Error" '
                  'err="couldn\\'t get current server API group list: Get '
                  '\\\\"https://127.0.0.1:1/api?timeout=32s\\\\": dial tcp 127.0.0.1:1: '
                  'connect: connection refused"', file=sys.stderr)
        print("The connection to the server 127.0.0.1:1 was refused - did you specify the "
              "right host or port?", file=sys.stderr)
        sys.exit(1)
    """)
    with pytest.raises(PortForwardError) as caught:
        PortForward("kind-zen").start()
    message = str(caught.value)
    assert "the cluster of context 'kind-zen' cannot be reached" in message
    assert "kubectl said: The connection to the server 127.0.0.1:1 was refused" in message
    assert "memcache.go" not in message
    assert "memcache.go" in caught.value.stderr  # all of it is kept for whoever wants it
    assert "cluster-info" in caught.value.fix


def test_silent_failure_reports_the_exit_status(kubectl):
    kubectl.write("sys.exit(3)\n")
    with pytest.raises(PortForwardError, match="exited with status 3 and no message"):
        PortForward("kind-zen").start()


def test_a_kubectl_that_never_forwards_is_stopped_after_the_timeout(kubectl):
    kubectl.write("""
        print("I1130 waiting for the API server", file=sys.stderr, flush=True)
        time.sleep(600)
    """)
    with pytest.raises(PortForwardError) as caught:
        PortForward("kind-zen", timeout=1).start()
    assert "kubectl did not report forwarding" in str(caught.value)
    assert "within 1 s" in str(caught.value)
    assert "waiting for the API server" in str(caught.value)
    [run] = kubectl.runs()
    assert not alive(run["pid"])


# --- lifecycle -------------------------------------------------------------------------------
FORWARDING_THEN_WAIT = """
    print("Forwarding from 127.0.0.1:54321 -> 8080", flush=True)
    time.sleep(600)
"""


def test_start_reads_the_port_kubectl_chose_and_stop_is_idempotent(kubectl):
    kubectl.write(FORWARDING_THEN_WAIT)
    forward = PortForward("kind-zen", timeout=BOUND)
    assert forward.local_port == 0
    forward.start()
    try:
        assert forward.running
        assert forward.local_port == 54321
        assert forward.address == "127.0.0.1:54321"
        assert forward.start() is forward  # already running: kept, not started twice
        [run] = kubectl.runs()
        assert run["argv"] == EXPECTED_ARGV
        assert run["pid"] == forward.pid and alive(run["pid"])
    finally:
        forward.stop()
    assert not forward.running and forward.pid is None
    assert not alive(run["pid"])
    forward.stop()  # again: nothing to do
    assert "stopped" in repr(forward)


def test_context_manager_stops_on_exit(kubectl):
    kubectl.write(FORWARDING_THEN_WAIT)
    with PortForward("kind-zen", timeout=BOUND) as forward:
        pid = forward.pid
        assert alive(pid)
    assert not alive(pid)


def test_stop_kills_a_kubectl_that_ignores_sigterm(kubectl):
    kubectl.write("""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("Forwarding from 127.0.0.1:54321 -> 8080", flush=True)
        time.sleep(600)
    """)
    forward = PortForward("kind-zen", timeout=BOUND).start()
    pid = forward.pid
    forward.stop(grace=0.3)
    assert not alive(pid)
    assert forward._process.returncode == -signal.SIGKILL


def test_health_check_after_kubectl_died_says_so_with_its_message(kubectl):
    kubectl.write("""
        def lost(*_):
            print("error: lost connection to pod", file=sys.stderr, flush=True)
            sys.exit(1)
        signal.signal(signal.SIGUSR1, lost)
        print("Forwarding from 127.0.0.1:54321 -> 8080", flush=True)
        while True:
            time.sleep(1)
    """)
    with PortForward("kind-zen", timeout=BOUND) as forward:
        os.kill(forward.pid, signal.SIGUSR1)
        assert wait_until(lambda: not forward.running)
        with pytest.raises(PortForwardError) as caught:
            forward.health_check()
    message = str(caught.value)
    assert "kubectl exited with status 1" in message
    assert "kubectl said: error: lost connection to pod" in message
    assert "open the store again" in caught.value.fix


#: Like kubectl when the service has no pod listening: the local port accepts,
#: each connection is reported on stderr and closed.
CANNOT_FORWARD = """
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    print(f"Forwarding from 127.0.0.1:{port} -> 8080", flush=True)
    while True:
        connection, _ = listener.accept()
        print(f"Handling connection for {port}", flush=True)
        print(f"E1130 01:30:00.000000    4242 portforward.go:424] an error occurred forwarding "
              f"{port} -> 8080: error forwarding port 8080 to pod metadata-grpc-deployment-0: "
              "connect: connection refused", file=sys.stderr, flush=True)
        connection.close()
"""


def test_health_check_when_no_pod_answers_carries_kubectls_error(kubectl):
    kubectl.write(CANNOT_FORWARD)
    with PortForward("kind-zen", timeout=BOUND) as forward:
        with pytest.raises(PortForwardError) as caught:
            forward.health_check(timeout=5)
        assert forward.running  # the forward itself is fine; nothing answers behind it
    message = str(caught.value)
    assert "the MLMD service did not answer through the port-forward" in message
    assert "UNAVAILABLE" in message
    assert "error forwarding port 8080 to pod metadata-grpc-deployment-0" in message
    assert "get endpoints metadata-grpc-service" in caught.value.fix


def test_health_check_is_bounded_when_nothing_answers(kubectl):
    kubectl.write("""
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        print(f"Forwarding from 127.0.0.1:{port} -> 8080", flush=True)
        held = []
        while True:
            held.append(listener.accept()[0])  # accepted, never answered
    """)
    with PortForward("kind-zen", timeout=BOUND) as forward:
        with pytest.raises(PortForwardError) as caught:
            forward.health_check(timeout=1)
    assert "DEADLINE_EXCEEDED" in str(caught.value)
    assert "within 1 s" in str(caught.value)


def test_health_check_before_start():
    with pytest.raises(PortForwardError, match="is not started"):
        PortForward("kind-zen").health_check()
