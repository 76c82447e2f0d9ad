"""The MLMD gRPC server, driven by real MLMD and gRPC clients over 127.0.0.1."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ml_metadata import errors as mlmd_errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from server_helpers import REPO_ROOT, ClientTLS, ServerProcess, TestCA, client_config
from zen_mlmd.errors import ConfigError
from zen_mlmd.server import ServerTLS, start_server, write_ready_file

SERVICE = "ml_metadata.MetadataStoreService"
MB = 1024 * 1024
RACING_CALL_ERRORS = (mlmd_errors.UnavailableError, mlmd_errors.CancelledError,
                      mlmd_errors.DeadlineExceededError)


@pytest.fixture
def server(tmp_path):
    process = ServerProcess(tmp_path / "server")
    yield process
    process.kill()


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path / "ca")


def record_training_step(store) -> dict[str, int]:
    """One step as an orchestrator records it: types, one input, one output, a run context."""
    dataset = mlmd_pb2.ArtifactType(name="Dataset")
    dataset.properties["split"] = mlmd_pb2.STRING
    dataset_type = store.put_artifact_type(dataset)
    trainer_type = store.put_execution_type(mlmd_pb2.ExecutionType(name="Trainer"))
    run_type = store.put_context_type(mlmd_pb2.ContextType(name="pipeline_run"))

    source = mlmd_pb2.Artifact(type_id=dataset_type, uri="/data/in", state=mlmd_pb2.Artifact.LIVE)
    source.properties["split"].string_value = "train"
    [source_id] = store.put_artifacts([source])
    trained = mlmd_pb2.Artifact(type_id=dataset_type, uri="/data/out", state=mlmd_pb2.Artifact.LIVE)
    execution = mlmd_pb2.Execution(type_id=trainer_type,
                                   last_known_state=mlmd_pb2.Execution.COMPLETE)
    execution_id, artifact_ids, [run_id] = store.put_execution(
        execution,
        # An existing input goes by id only: a full Artifact would be rewritten.
        [(None, mlmd_pb2.Event(type=mlmd_pb2.Event.INPUT, artifact_id=source_id)),
         (trained, mlmd_pb2.Event(type=mlmd_pb2.Event.OUTPUT))],
        [mlmd_pb2.Context(type_id=run_type, name="run-1")],
    )
    return {"source": source_id, "output": artifact_ids[1], "execution": execution_id,
            "run": run_id}


def assert_round_trip(store) -> None:
    ids = record_training_step(store)
    [source] = store.get_artifacts_by_id([ids["source"]])
    assert source.properties["split"].string_value == "train"
    [execution] = store.get_executions_by_id([ids["execution"]])
    assert execution.last_known_state == mlmd_pb2.Execution.COMPLETE
    events = store.get_events_by_execution_ids([ids["execution"]])
    assert {(e.artifact_id, e.type) for e in events} == {
        (ids["source"], mlmd_pb2.Event.INPUT), (ids["output"], mlmd_pb2.Event.OUTPUT)}
    assert {a.id for a in store.get_artifacts_by_context(ids["run"])} == {
        ids["source"], ids["output"]}

    options = mlmd_pb2.LineageSubgraphQueryOptions(
        starting_artifacts=mlmd_pb2.LineageSubgraphQueryOptions.StartingNodes(
            filter_query=f"id = {ids['output']}"),
        max_num_hops=2,
        direction=mlmd_pb2.LineageSubgraphQueryOptions.UPSTREAM,
    )
    graph = store.get_lineage_subgraph(options, ["artifacts", "executions", "events"])
    assert {a.id for a in graph.artifacts} == {ids["source"], ids["output"]}
    assert [e.id for e in graph.executions] == [ids["execution"]]
    assert len(graph.events) == 2


def test_mlmd_client_records_and_reads_a_step(server):
    store = metadata_store.MetadataStore(server.client_config())
    assert_round_trip(store)
    assert server.stdout.strip() == f"serving MLMD on 127.0.0.1:{server.port} (tls: off, auth: none)"


def test_mlmd_errors_keep_their_code(server):
    store = metadata_store.MetadataStore(server.client_config())
    with pytest.raises(mlmd_errors.NotFoundError, match="missing"):
        store.get_execution_type("missing")
    store.put_artifact_type(mlmd_pb2.ArtifactType(name="Model", properties={"n": mlmd_pb2.INT}))
    with pytest.raises(mlmd_errors.AlreadyExistsError):
        store.put_artifact_type(
            mlmd_pb2.ArtifactType(name="Model", properties={"n": mlmd_pb2.STRING}))


def test_tls_client_trusting_the_ca_gets_through(tmp_path, ca):
    server_files = ca.issue("server")
    process = ServerProcess(tmp_path / "server", "--tls-cert", str(server_files.cert),
                            "--tls-key", str(server_files.key))
    try:
        store = metadata_store.MetadataStore(
            process.client_config(tls=ClientTLS(ca_pem=ca.cert_pem)))
        assert_round_trip(store)
        assert "(tls: on, auth: none)" in process.stdout
    finally:
        process.kill()


def test_client_trusting_another_ca_is_refused(tmp_path, ca):
    server_files = ca.issue("server")
    process = ServerProcess(tmp_path / "server", "--tls-cert", str(server_files.cert),
                            "--tls-key", str(server_files.key))
    try:
        other_ca = TestCA(tmp_path / "other-ca", name="another CA")
        store = metadata_store.MetadataStore(
            process.client_config(tls=ClientTLS(ca_pem=other_ca.cert_pem)))
        with pytest.raises(mlmd_errors.UnavailableError):
            store.get_artifact_types()
        plain = metadata_store.MetadataStore(process.client_config())
        with pytest.raises(mlmd_errors.UnavailableError):
            plain.get_artifact_types()
    finally:
        process.kill()


def test_mutual_tls_requires_a_client_certificate_from_the_ca(tmp_path, ca):
    server_files = ca.issue("server")
    process = ServerProcess(tmp_path / "server", "--tls-cert", str(server_files.cert),
                            "--tls-key", str(server_files.key), "--tls-client-ca", str(ca.cert))
    try:
        client_files = ca.issue("client", client=True)
        with_cert = ClientTLS(ca.cert_pem, client_files.cert_pem, client_files.key_pem)
        assert_round_trip(metadata_store.MetadataStore(process.client_config(tls=with_cert)))

        without_cert = metadata_store.MetadataStore(
            process.client_config(tls=ClientTLS(ca.cert_pem)))
        with pytest.raises(mlmd_errors.UnavailableError):
            without_cert.get_artifact_types()

        stranger_ca = TestCA(tmp_path / "stranger-ca", name="stranger CA")
        stranger = stranger_ca.issue("stranger", client=True)
        stranger_store = metadata_store.MetadataStore(process.client_config(
            tls=ClientTLS(ca.cert_pem, stranger.cert_pem, stranger.key_pem)))
        with pytest.raises(mlmd_errors.UnavailableError):
            stranger_store.get_artifact_types()
    finally:
        process.kill()


@pytest.mark.parametrize(
    "method", ["GetLineageGraph", "GetParentContextsByContexts", "GetChildrenContextsByContexts"])
def test_rpcs_missing_from_mlmd_answer_unimplemented(server, method):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = channel.unary_unary(f"/{SERVICE}/{method}")
        with pytest.raises(grpc.RpcError) as raised:
            call(b"", timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert method in raised.value.details()


def test_garbage_request_is_invalid_argument(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = channel.unary_unary(f"/{SERVICE}/PutArtifacts")
        with pytest.raises(grpc.RpcError) as raised:
            call(b"\xff\xff\xff", timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_health_service_reports_serving(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as raised:
            health.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=10)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_services(tmp_path):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    server = ServerProcess(tmp_path / "server", "--reflection")  # off unless asked for
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        [answer] = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    server.kill()
    names = {s.name for s in answer.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names


def artifact_with_text(store, size: int) -> mlmd_pb2.Artifact:
    type_id = store.put_artifact_type(mlmd_pb2.ArtifactType(name="Blob"))
    artifact = mlmd_pb2.Artifact(type_id=type_id, uri="/blob")
    artifact.custom_properties["text"].string_value = "x" * size
    return artifact


def test_ten_megabyte_messages_go_through(server):
    store = metadata_store.MetadataStore(server.client_config(max_receive_mb=100))
    size = 10 * MB  # well above gRPC's 4 MB default, in both directions
    [artifact_id] = store.put_artifacts([artifact_with_text(store, size)])
    [artifact] = store.get_artifacts_by_id([artifact_id])
    assert len(artifact.custom_properties["text"].string_value) == size


def test_message_limit_is_the_configured_one(tmp_path):
    process = ServerProcess(tmp_path / "server", "--max-message-mb", "1")
    try:
        store = metadata_store.MetadataStore(process.client_config())
        with pytest.raises(mlmd_errors.ResourceExhaustedError):
            store.put_artifacts([artifact_with_text(store, 2 * MB)])
    finally:
        process.kill()


def test_sigterm_finishes_calls_then_exits_zero(server):
    store = metadata_store.MetadataStore(server.client_config())
    type_id = store.put_artifact_type(mlmd_pb2.ArtifactType(name="Tick"))
    stored_by_client, failures = [], []
    writing = threading.Event()

    def keep_writing():
        writer = metadata_store.MetadataStore(server.client_config(timeout=5))
        while True:
            try:
                stored_by_client.extend(writer.put_artifacts([mlmd_pb2.Artifact(type_id=type_id)]))
            except mlmd_errors.StatusError as exc:
                failures.append(exc)
                return
            writing.set()

    writer_thread = threading.Thread(target=keep_writing)
    writer_thread.start()
    writing.wait(timeout=30)
    assert server.terminate(timeout=30) == 0
    writer_thread.join(timeout=30)

    assert stored_by_client, "no call went through before SIGTERM"
    # A call racing with the shutdown is refused (UNAVAILABLE), or dropped by
    # gRPC before it reaches the store (CANCELLED, or at worst DEADLINE_EXCEEDED
    # at the client's own timeout): never a hang, never a half-done write.
    [failure] = failures
    assert isinstance(failure, RACING_CALL_ERRORS), failure
    # Every call the client saw succeed was committed, and nothing else.
    direct = metadata_store.MetadataStore(sqlite_config(server.db_path))
    assert sorted(a.id for a in direct.get_artifacts_by_type("Tick")) == sorted(stored_by_client)

    late = metadata_store.MetadataStore(server.client_config(timeout=5))
    with pytest.raises((mlmd_errors.UnavailableError, mlmd_errors.DeadlineExceededError)) as raised:
        late.get_artifact_types()
    assert str(raised.value)


def sqlite_config(path) -> mlmd_pb2.ConnectionConfig:
    config = mlmd_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    return config


# -- the Python API, in this process --------------------------------------------------


def test_start_server_picks_a_port_and_stops_cleanly(tmp_path):
    with start_server(sqlite_config(tmp_path / "mlmd.sqlite")) as running:
        assert running.port > 0
        assert running.address == f"127.0.0.1:{running.port}"
        store = metadata_store.MetadataStore(client_config(running.port))
        assert_round_trip(store)
    assert running.wait(timeout=0)
    running.stop()  # stopping again is harmless


def test_busy_port_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*cannot bind"):
            start_server(sqlite_config(tmp_path / "mlmd.sqlite"), port=port)


def test_second_server_on_the_same_port_is_refused(tmp_path):
    # gRPC enables SO_REUSEPORT by default, which would let both bind silently.
    with start_server(sqlite_config(tmp_path / "first.sqlite")) as first:
        with pytest.raises(ConfigError, match="cannot bind"):
            start_server(sqlite_config(tmp_path / "second.sqlite"), port=first.port)


def test_sigint_stops_the_server_cleanly(server):
    metadata_store.MetadataStore(server.client_config()).get_artifact_types()
    assert server.terminate(signal.SIGINT) == 0


def test_configs_that_would_abort_mlmd_are_refused(tmp_path):
    both = mlmd_pb2.ConnectionConfig()
    both.mysql.host, both.mysql.socket, both.mysql.database = "127.0.0.1", "/tmp/s", "db"
    with pytest.raises(ConfigError, match="exactly one of host and socket"):
        start_server(both)
    no_db = mlmd_pb2.ConnectionConfig()
    no_db.postgresql.host = "127.0.0.1"
    with pytest.raises(ConfigError, match="postgresql.dbname"):
        start_server(no_db)
    with pytest.raises(ConfigError, match="MetadataStoreClientConfig"):
        start_server(mlmd_pb2.MetadataStoreClientConfig(host="127.0.0.1", port=1))


def test_unopenable_database_is_a_clear_error(tmp_path):
    from zen_mlmd.errors import StoreUnavailableError

    with pytest.raises(StoreUnavailableError, match="could not open the database"):
        start_server(sqlite_config(tmp_path / "no" / "such" / "dir" / "mlmd.sqlite"))


def test_tls_files_are_checked_before_serving(tmp_path, ca):
    server_files = ca.issue("server")
    with pytest.raises(ConfigError, match="tls.server_key.*file not found"):
        start_server(sqlite_config(tmp_path / "m.sqlite"),
                     tls=ServerTLS(server_files.cert, tmp_path / "missing.key"))
    with pytest.raises(ConfigError, match="tls.server_key.*PRIVATE KEY"):
        start_server(sqlite_config(tmp_path / "m.sqlite"),
                     tls=ServerTLS(server_files.cert, server_files.cert))


def test_ready_file_holds_just_the_port(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    ready = folder / "ready"
    write_ready_file(ready, 8080)
    assert ready.read_text() == "8080\n"
    assert [p.name for p in folder.iterdir()] == ["ready"]  # no temp file left behind


def test_bad_config_file_names_the_line_but_not_the_text(tmp_path):
    config = tmp_path / "bad.pbtxt"
    config.write_text('mysql {\n  host: "db"\n  password: hunter2secret\n}\n')
    result = subprocess.run(
        [sys.executable, "-m", "zen_mlmd.server", "--connection-config", str(config)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )
    assert result.returncode == 2
    assert "line 3" in result.stderr
    assert "hunter2secret" not in result.stderr + result.stdout
