"""The kubeflow flavor: endpoint resolution, exact protos, TLS material, preflight on real gRPC servers."""
from __future__ import annotations

import datetime
import ipaddress
import socket
from concurrent import futures

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ml_metadata.proto import metadata_store_pb2

from zen_mlmd.errors import ConfigError
from zen_mlmd.flavors import get_flavor

MB = 1024 * 1024


@pytest.fixture
def kubeflow():
    return get_flavor("kubeflow")


@pytest.fixture(autouse=True)
def outside_a_pod(monkeypatch):
    monkeypatch.delenv("METADATA_GRPC_SERVICE_HOST", raising=False)
    monkeypatch.delenv("METADATA_GRPC_SERVICE_PORT", raising=False)


def expected(host: str, port: int, size_mb: int = 100) -> metadata_store_pb2.MetadataStoreClientConfig:
    proto = metadata_store_pb2.MetadataStoreClientConfig()
    proto.host = host
    proto.port = port
    proto.channel_arguments.max_receive_message_length = size_mb * MB
    proto.client_timeout_sec = 30  # the default deadline: a call never waits for ever
    return proto


# --- TLS material made here ------------------------------------------------------------------
def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, issuer, public_key, signing_key, *, ca: bool, san=None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 signed by it, a client pair, and an unrelated CA."""
    directory = tmp_path_factory.mktemp("tls")
    ca_key, wrong_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("test CA", "test CA", ca_key.public_key(), ca_key, ca=True)
    wrong_ca = _certificate("unrelated CA", "unrelated CA", wrong_key.public_key(), wrong_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate("127.0.0.1", "test CA", server_key.public_key(), ca_key, ca=False,
                          san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _certificate("client", "test CA", client_key.public_key(), ca_key, ca=False)
    files = {"ca": _pem(ca), "wrong_ca": _pem(wrong_ca), "server_cert": _pem(server),
             "server_key": _key_pem(server_key), "client_cert": _pem(client), "client_key": _key_pem(client_key)}
    paths = {}
    for name, data in files.items():
        paths[name] = directory / f"{name}.pem"
        paths[name].write_bytes(data)
    return paths


class Server:
    """A gRPC server with no services: enough for a channel to become ready."""

    def __init__(self, credentials=None):
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        if credentials is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = self.server.add_secure_port("127.0.0.1:0", credentials)
        self.server.start()

    def stop(self):
        self.server.stop(None)


@pytest.fixture
def plain_server():
    server = Server()
    yield server
    server.stop()


@pytest.fixture
def tls_server(tls):
    credentials = grpc.ssl_server_credentials(
        [(tls["server_key"].read_bytes(), tls["server_cert"].read_bytes())],
        root_certificates=tls["ca"].read_bytes(), require_client_auth=False)
    server = Server(credentials)
    yield server
    server.stop()


# --- endpoint and protos -------------------------------------------------------------------------
def test_host_with_the_default_port_and_message_limit(kubeflow):
    config = kubeflow.parse_config({"host": "metadata-grpc-service.kubeflow"})
    assert kubeflow.connection_config(config) == expected("metadata-grpc-service.kubeflow", 8080)
    assert kubeflow.is_database is False


def test_every_option(kubeflow, tls):
    config = kubeflow.parse_config({
        "host": "ml.example", "port": 9090, "custom_ca": str(tls["ca"]),
        "server_cert": str(tls["client_cert"]), "client_key": str(tls["client_key"]),
        "client_timeout_sec": 2.5, "max_message_size_mb": 8})
    proto = expected("ml.example", 9090, size_mb=8)
    proto.ssl_config.custom_ca = tls["ca"].read_text()
    proto.ssl_config.server_cert = tls["client_cert"].read_text()
    proto.ssl_config.client_key = tls["client_key"].read_text()
    proto.client_timeout_sec = 2.5
    assert kubeflow.connection_config(config) == proto


def test_inline_pem_and_a_key_reference(kubeflow, tls, monkeypatch):
    monkeypatch.setenv("ZEN_TEST_CLIENT_KEY", tls["client_key"].read_text())
    config = kubeflow.parse_config({"host": "ml", "custom_ca": tls["ca"].read_text(),
                                    "server_cert": tls["client_cert"].read_text(),
                                    "client_key": "${ZEN_TEST_CLIENT_KEY}"})
    ssl = kubeflow.connection_config(config).ssl_config
    assert ssl.custom_ca == tls["ca"].read_text()
    assert ssl.client_key == tls["client_key"].read_text()
    assert config.describe()["client_key"] == "${ZEN_TEST_CLIENT_KEY}"


def test_inside_a_kubeflow_pod_the_service_variables_are_used(kubeflow, monkeypatch):
    monkeypatch.setenv("METADATA_GRPC_SERVICE_HOST", "10.0.0.7")
    monkeypatch.setenv("METADATA_GRPC_SERVICE_PORT", "8081")
    config = kubeflow.parse_config({})
    assert kubeflow.connection_config(config) == expected("10.0.0.7", 8081)
    assert kubeflow.connection_config(kubeflow.parse_config({"port": 9999})).port == 9999
    assert kubeflow.connection_config(kubeflow.parse_config({"host": "other"})).host == "other"


def test_inside_a_pod_the_service_comes_before_kubectl(kubeflow, monkeypatch):
    """A store registered with a kubectl context works in a Kubeflow pod: it dials the service."""
    from zen_mlmd.stack.components import MetadataStoreComponent

    component = MetadataStoreComponent("kf", "kubeflow", {"kubernetes_context": "prod"})
    assert component._port_forward() is not None  # on a laptop: kubectl port-forward
    monkeypatch.setenv("METADATA_GRPC_SERVICE_HOST", "metadata-grpc-service.kubeflow")
    monkeypatch.setenv("METADATA_GRPC_SERVICE_PORT", "8080")
    assert component._port_forward() is None  # in a pod: never kubectl
    assert kubeflow.connection_config(component.config) == expected("metadata-grpc-service.kubeflow", 8080)


def test_without_host_outside_a_pod_says_what_to_do(kubeflow):
    config = kubeflow.parse_config({})  # valid: the same config may be used inside a pod
    with pytest.raises(ConfigError) as caught:
        kubeflow.connection_config(config)
    assert caught.value.field == "host"
    assert "set host" in caught.value.fix and "Kubeflow pod" in caught.value.fix


def test_kubernetes_context_uses_the_forwarded_local_port(kubeflow):
    config = kubeflow.parse_config({"kubernetes_context": "kind-kubeflow"})
    assert kubeflow.connection_config(config, local_port=31234) == expected("127.0.0.1", 31234)
    with pytest.raises(ConfigError, match="port-forward"):
        kubeflow.connection_config(config)


@pytest.mark.parametrize("options, field, text", [
    ({"host": "ml", "port": 0}, "port", "between 1 and 65535"),
    ({"host": "ml", "port": 70000}, "port", "between 1 and 65535"),
    ({"host": "ml", "custom_ca": "/no/ca.pem"}, "custom_ca", "neither PEM text nor an existing file"),
    ({"host": "ml", "server_cert": "-----BEGIN CERTIFICATE-----"}, "client_key", "go together"),
    ({"host": "ml", "max_message_size_mb": 0}, "max_message_size_mb", "between 1 and 2047"),
    ({"host": "ml", "max_message_size_mb": 4096}, "max_message_size_mb", "between 1 and 2047"),
    ({"host": "ml", "client_timeout_sec": 0}, "client_timeout_sec", "greater than 0"),
    ({"host": "ml", "namespace": "kubeflow"}, "namespace", "unknown option"),
])
def test_bad_options_are_refused(kubeflow, options, field, text):
    with pytest.raises(ConfigError) as caught:
        kubeflow.parse_config(options)
    assert caught.value.field == field
    assert text in str(caught.value)


def test_an_unreadable_key_is_never_repeated(kubeflow):
    with pytest.raises(ConfigError) as caught:
        kubeflow.parse_config({"host": "ml", "server_cert": "-----BEGIN CERTIFICATE-----",
                               "client_key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"})
    assert "MIIEvQ" not in str(caught.value)


# --- preflight -------------------------------------------------------------------------------------
def test_preflight_of_a_closed_port(kubeflow):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = kubeflow.preflight(kubeflow.parse_config({"host": "127.0.0.1", "port": port}), timeout=2)
    assert not report.ok and "nothing listens" in report.problem
    assert report.target == f"grpc://127.0.0.1:{port}"


def test_preflight_outside_a_pod_without_host(kubeflow):
    report = kubeflow.preflight(kubeflow.parse_config({}))
    assert not report.ok and "host is not set" in report.problem


def test_preflight_of_a_plain_grpc_server(kubeflow, plain_server):
    report = kubeflow.preflight(kubeflow.parse_config({"host": "127.0.0.1", "port": plain_server.port}))
    assert report.ok, report
    assert report.details == {"tls": "off", "grpc": "ready"}


def test_preflight_with_tls_and_the_right_ca(kubeflow, tls_server, tls):
    config = kubeflow.parse_config({"host": "127.0.0.1", "port": tls_server.port, "custom_ca": str(tls["ca"]),
                                    "server_cert": str(tls["client_cert"]), "client_key": str(tls["client_key"])})
    report = kubeflow.preflight(config)
    assert report.ok, report


def test_preflight_with_tls_and_a_wrong_ca(kubeflow, tls_server, tls):
    config = kubeflow.parse_config({"host": "127.0.0.1", "port": tls_server.port,
                                    "custom_ca": str(tls["wrong_ca"])})
    report = kubeflow.preflight(config, timeout=1.5)
    assert not report.ok
    assert "no gRPC channel was ready" in report.problem and "custom_ca" in report.fix


def test_preflight_in_plaintext_against_a_tls_server(kubeflow, tls_server):
    report = kubeflow.preflight(kubeflow.parse_config({"host": "127.0.0.1", "port": tls_server.port}),
                                timeout=1.5)
    assert not report.ok and "requires TLS" in report.fix
