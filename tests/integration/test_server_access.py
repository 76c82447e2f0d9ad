"""Who may call the MLMD server and what: tokens, read-only, reflection, bounds, deadlines.

Real servers (`python -m zen_mlmd.server` and `zen-mlmd metadata-store serve`
as subprocesses over SQLite), real ml_metadata and gRPC clients, and the
`kubeflow` flavor as users configure it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ml_metadata import errors as mlmd_errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from server_helpers import REPO_ROOT, ServerProcess
from zen_mlmd.errors import StoreUnavailableError
from zen_mlmd.stack import StackRegistry

TOKEN = "t0ken-for-tests-4f1d9c"
MB = 1024 * 1024
#: A guard against hanging, not a measurement.
BOUND = 60.0


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)}


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def token_server(tmp_path, token_file):
    process = ServerProcess(tmp_path / "server", "--token", f"file:{token_file}")
    yield process
    process.kill()


def kubeflow_store(name: str, port: int, **options):
    registry = StackRegistry()
    registry.register_metadata_store(name, "kubeflow", {"host": "127.0.0.1", "port": port, **options})
    return registry.get_metadata_store(name).open()


# --- authentication ----------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "example.internal"])
def test_serving_beyond_loopback_without_a_token_or_mutual_tls_refuses_to_start(tmp_path, host):
    config = tmp_path / "store.pbtxt"
    config.write_text(f'sqlite {{ filename_uri: "{tmp_path / "mlmd.sqlite"}" }}\n')
    result = subprocess.run(
        [sys.executable, "-m", "zen_mlmd.server", "--connection-config", str(config),
         "--host", host, "--port", "0", "--ready-file", str(tmp_path / "ready")],
        env=_env(), capture_output=True, text=True, timeout=BOUND)
    assert result.returncode == 2
    assert f"host={host!r}: serving beyond this machine without authentication" in result.stderr
    assert "--token" in result.stderr and "--tls-client-ca" in result.stderr
    assert not (tmp_path / "ready").exists()
    assert not (tmp_path / "mlmd.sqlite").exists()  # refused before the store was opened


def test_cli_serve_on_all_interfaces_needs_a_token_and_then_serves(tmp_path, token_file):
    db = tmp_path / "mlmd.sqlite"
    StackRegistry().register_metadata_store("shared", "sqlite", {"path": str(db)})
    program = "import sys; from zen_mlmd.cli.main import cli; sys.exit(cli())"
    refused = subprocess.run([sys.executable, "-c", program, "metadata-store", "serve", "shared",
                              "--host", "0.0.0.0", "--port", "0"],
                             env=_env(), capture_output=True, text=True, timeout=BOUND)
    assert refused.returncode == 2, refused.stderr
    assert "without authentication" in refused.stderr

    ready = tmp_path / "ready"
    server = subprocess.Popen([sys.executable, "-c", program, "metadata-store", "serve", "shared",
                               "--host", "0.0.0.0", "--port", "0", "--token", f"file:{token_file}",
                               "--ready-file", str(ready)],
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + BOUND
        while not ready.exists() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready.exists(), server.communicate(timeout=BOUND)
        store = kubeflow_store("remote", int(ready.read_text()), token="file:" + str(token_file))
        assert store.get_context_types() == []
    finally:
        server.terminate()
        out, err = server.communicate(timeout=BOUND)
    assert "auth: token" in out
    assert "without TLS: the token travels in clear text" in err
    assert TOKEN not in out + err


def test_mutual_tls_is_enough_to_serve_beyond_loopback(tmp_path):
    from server_helpers import ClientTLS, TestCA

    ca = TestCA(tmp_path / "ca")
    server_files, client_files = ca.issue("server"), ca.issue("client", client=True)
    server = ServerProcess(tmp_path / "server", "--host", "0.0.0.0", "--tls-cert",
                           str(server_files.cert), "--tls-key", str(server_files.key),
                           "--tls-client-ca", str(ca.cert))
    try:
        assert "auth: mutual TLS" in server.stdout
        tls = ClientTLS(ca.cert_pem, client_files.cert_pem, client_files.key_pem)
        store = metadata_store.MetadataStore(server.client_config(tls=tls))
        assert store.get_artifact_types() == []
    finally:
        server.kill()


def test_a_literal_token_on_the_command_line_is_refused_and_not_repeated(tmp_path):
    config = tmp_path / "store.pbtxt"
    config.write_text(f'sqlite {{ filename_uri: "{tmp_path / "mlmd.sqlite"}" }}\n')
    result = subprocess.run([sys.executable, "-m", "zen_mlmd.server", "--connection-config",
                             str(config), "--token", TOKEN], env=_env(),
                            capture_output=True, text=True, timeout=BOUND)
    assert result.returncode == 2
    assert "--token='********': must be a ${ENV_VAR} or file:/path reference" in result.stderr
    assert TOKEN not in result.stderr


def test_a_plain_mlmd_client_without_the_token_gets_unauthenticated(token_server):
    plain = metadata_store.MetadataStore(token_server.client_config())
    with pytest.raises(mlmd_errors.UnauthenticatedError) as caught:
        plain.put_artifact_type(mlmd_pb2.ArtifactType(name="Forged"))
    assert "no bearer token" in str(caught.value)
    with pytest.raises(mlmd_errors.UnauthenticatedError):
        plain.get_artifact_types()


def test_a_wrong_token_is_refused_and_the_right_one_passes(token_server, tmp_path, monkeypatch):
    monkeypatch.setenv("MLMD_TOKEN", TOKEN[:-1] + "x")
    wrong = kubeflow_store("wrong", token_server.port, token="${MLMD_TOKEN}")
    with pytest.raises(Exception) as caught:
        wrong.get_context_types()
    assert "wrong bearer token" in str(caught.value)

    monkeypatch.setenv("MLMD_TOKEN", TOKEN)
    right = kubeflow_store("right", token_server.port, token="${MLMD_TOKEN}")
    type_id = right.put_execution_type(mlmd_pb2.ExecutionType(name="Trainer"))
    assert right.get_execution_type("Trainer").id == type_id

    token_server.terminate()
    log = token_server.stderr
    assert "refused /ml_metadata.MetadataStoreService/GetContextTypes from ipv4:127.0.0.1" in log
    assert "wrong bearer token (UNAUTHENTICATED)" in log
    assert TOKEN not in log and TOKEN[:-1] + "x" not in log
    assert TOKEN not in token_server.stdout


def test_health_checks_need_no_token(token_server):
    with grpc.insecure_channel(f"127.0.0.1:{token_server.port}") as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_the_kubeflow_flavor_refuses_a_literal_token():
    from zen_mlmd.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        StackRegistry().register_metadata_store("kf", "kubeflow", {"host": "h", "token": TOKEN})
    assert TOKEN not in str(caught.value) and "reference" in str(caught.value)


# --- read-only -------------------------------------------------------------------------------
def test_read_only_refuses_every_put_with_permission_denied(tmp_path):
    writable = ServerProcess(tmp_path / "rw")
    seeded = metadata_store.MetadataStore(writable.client_config())
    type_id = seeded.put_context_type(mlmd_pb2.ContextType(name="pipeline"))
    writable.terminate()

    server = ServerProcess(tmp_path / "ro", "--read-only",
                           connection_config=f'sqlite {{ filename_uri: "{writable.db_path}" }}\n')
    try:
        store = metadata_store.MetadataStore(server.client_config())
        with pytest.raises(mlmd_errors.PermissionDeniedError) as caught:
            store.put_contexts([mlmd_pb2.Context(type_id=type_id, name="forged")])
        assert "read-only" in str(caught.value)
        with pytest.raises(mlmd_errors.PermissionDeniedError):
            store.put_context_type(mlmd_pb2.ContextType(name="another"))
        assert [t.name for t in store.get_context_types()] == ["pipeline"]
        assert store.get_contexts() == []
    finally:
        server.terminate()
    assert "read-only server (PERMISSION_DENIED)" in server.stderr


def test_read_only_lets_only_reads_through_whatever_the_service():
    from zen_mlmd.server.access import AccessPolicy

    policy = AccessPolicy(read_only=True)
    assert policy.refusal("/ml_metadata.MetadataStoreService/GetArtifacts", ()) is None
    assert policy.refusal("/grpc.health.v1.Health/Watch", ()) is None
    for write in ("/ml_metadata.MetadataStoreService/PutExecution",
                  "/zen_mlmd.StoreLifecycle/DeleteArtifacts", "/any.Service/Update"):
        code, _, _ = policy.refusal(write, ())
        assert code == grpc.StatusCode.PERMISSION_DENIED


# --- reflection and bounds ---------------------------------------------------------------------
def _reflection_request():
    from grpc_reflection.v1alpha import reflection_pb2

    return reflection_pb2.ServerReflectionRequest(list_services="")


def test_reflection_is_off_unless_asked_for(tmp_path):
    from grpc_reflection.v1alpha import reflection_pb2_grpc

    server = ServerProcess(tmp_path / "server")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                list(stub.ServerReflectionInfo(iter([_reflection_request()]), timeout=10))
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        server.kill()


def test_calls_beyond_the_concurrency_bound_are_refused(tmp_path):
    from grpc_reflection.v1alpha import reflection_pb2_grpc

    server = ServerProcess(tmp_path / "server", "--reflection", "--max-concurrent-rpcs", "1")
    release = threading.Event()

    def held_open():  # a reflection stream stays open until its requests end
        yield _reflection_request()
        release.wait(BOUND)

    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stream = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                held_open(), timeout=BOUND)
            next(stream)  # the first answer: the call is being served
            store = metadata_store.MetadataStore(server.client_config())
            with pytest.raises(mlmd_errors.ResourceExhaustedError):
                store.get_artifact_types()
            release.set()
            list(stream)
        assert store.get_artifact_types() == []  # the slot is free again
    finally:
        release.set()
        server.kill()


def test_requests_are_bounded_separately_from_responses(tmp_path):
    server = ServerProcess(tmp_path / "server", "--max-request-mb", "1")
    try:
        store = metadata_store.MetadataStore(server.client_config(max_receive_mb=100))
        type_id = store.put_artifact_type(mlmd_pb2.ArtifactType(name="Blob"))
        big = mlmd_pb2.Artifact(type_id=type_id, uri="/blob")
        big.custom_properties["text"].string_value = "x" * (2 * MB)
        with pytest.raises(mlmd_errors.ResourceExhaustedError):
            store.put_artifacts([big])
        halves = []
        for _ in range(3):  # three requests under 1 MB make one response over it
            half = mlmd_pb2.Artifact(type_id=type_id, uri="/blob")
            half.custom_properties["text"].string_value = "y" * (MB // 2)
            halves += store.put_artifacts([half])
        assert len(store.get_artifacts_by_id(halves)) == 3
    finally:
        server.kill()


# --- deadlines ---------------------------------------------------------------------------------
def test_a_paused_server_makes_a_kubeflow_client_fail_within_the_default_deadline(tmp_path, monkeypatch):
    """No client_timeout_sec configured: the flavor's default deadline applies.

    The default (30 s) is lowered for the test; that the built config
    carries the unpatched default is checked in test_flavor_kubeflow.
    """
    from zen_mlmd.flavors import kubeflow

    monkeypatch.setattr(kubeflow, "DEFAULT_CLIENT_TIMEOUT_SEC", 2.0)
    server = ServerProcess(tmp_path / "server")
    try:
        store = kubeflow_store("paused", server.port)
        assert store.connection_config.client_timeout_sec == 2.0
        store.get_context_types()  # connected and answering
        os.kill(server.process.pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as caught:
            store.get_context_types()
        elapsed = time.monotonic() - started
        assert "no answer within the client timeout" in str(caught.value)
        assert elapsed < 20.0, elapsed  # one deadline (not retried), far from for ever
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.kill()
