"""Run `python -m zen_mlmd.server` as a real subprocess, and make test certificates.

`ServerProcess` follows the server's start-up contract: start it on port 0
with `--ready-file`, wait until the file appears, read the port from it.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ml_metadata.proto import metadata_store_pb2

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Upper bound for a server to come up; a guard against hanging, not a measurement.
START_TIMEOUT = 60.0


class ServerProcess:
    """One MLMD server subprocess over a SQLite file.

    Args:
        workdir: a fresh folder for the config, database, ready file and logs.
        args: extra command-line arguments (TLS files, --max-message-mb, ...).
        connection_config: text-format ConnectionConfig; a SQLite file in
            `workdir` by default.
    """

    def __init__(self, workdir: Path, *args: str, connection_config: str | None = None):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.db_path = workdir / "mlmd.sqlite"
        self.config_path = workdir / "connection_config.pbtxt"
        self.config_path.write_text(
            connection_config or f'sqlite {{ filename_uri: "{self.db_path}" }}\n'
        )
        self.ready_file = workdir / "ready"
        self.stdout_path = workdir / "server.stdout"
        self.stderr_path = workdir / "server.stderr"
        command = [
            sys.executable, "-m", "zen_mlmd.server",
            "--connection-config", str(self.config_path),
            "--host", "127.0.0.1", "--port", "0",
            "--ready-file", str(self.ready_file), *args,
        ]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        self.port = self._wait_until_ready()

    def _wait_until_ready(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                return int(self.ready_file.read_text())
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with status {self.process.returncode}: "
                    f"{self.stderr_path.read_text()}"
                )
            time.sleep(0.01)
        self.kill()
        raise RuntimeError(f"the server did not write {self.ready_file} in {START_TIMEOUT} s")

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def terminate(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `signum` (SIGTERM by default) and return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def client_config(self, *, timeout: float = 10.0, **fields) -> metadata_store_pb2.MetadataStoreClientConfig:
        return client_config(self.port, timeout=timeout, **fields)


def client_config(port: int, *, timeout: float = 10.0, tls: "ClientTLS | None" = None,
                  max_receive_mb: int | None = None) -> metadata_store_pb2.MetadataStoreClientConfig:
    """A `MetadataStoreClientConfig` for a local server.

    In MLMD's Python client, `ssl_config.custom_ca` is the CA that verifies
    the server, and `client_key` with `server_cert` are the *client's* key and
    certificate chain (it passes `server_cert` to gRPC as the certificate
    chain). All three hold PEM text, not paths.
    """
    config = metadata_store_pb2.MetadataStoreClientConfig(
        host="127.0.0.1", port=port, client_timeout_sec=timeout
    )
    if max_receive_mb:
        config.channel_arguments.max_receive_message_length = max_receive_mb * 1024 * 1024
    if tls is not None:
        config.ssl_config.custom_ca = tls.ca_pem
        if tls.client_cert_pem:
            config.ssl_config.client_key = tls.client_key_pem
            config.ssl_config.server_cert = tls.client_cert_pem
    return config


@dataclass(frozen=True)
class ClientTLS:
    ca_pem: str
    client_cert_pem: str = ""
    client_key_pem: str = ""


@dataclass(frozen=True)
class CertificateFiles:
    cert: Path
    key: Path

    @property
    def cert_pem(self) -> str:
        return self.cert.read_text()

    @property
    def key_pem(self) -> str:
        return self.key.read_text()


class TestCA:
    """A throw-away certificate authority that issues server and client certificates."""

    __test__ = False  # not a pytest class

    def __init__(self, folder: Path, name: str = "zen-mlmd test CA"):
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self._subject = subject
        self._cert = (
            self._builder(subject, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                              content_commitment=False, key_encipherment=False,
                              data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False),
                critical=True,
            )
            .sign(self._key, _sha256())
        )
        self.cert = folder / "ca.pem"
        self.cert.write_bytes(self._pem(self._cert))

    @property
    def cert_pem(self) -> str:
        return self.cert.read_text()

    def issue(self, name: str, *, client: bool = False) -> CertificateFiles:
        """A key and certificate for 127.0.0.1/localhost (server) or a client."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            self._builder(subject, key.public_key(), issuer=self._subject)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if not client:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]),
                critical=False,
            )
        cert = builder.sign(self._key, _sha256())
        files = CertificateFiles(self.folder / f"{name}.pem", self.folder / f"{name}.key")
        files.cert.write_bytes(self._pem(cert))
        files.key.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ))
        return files

    @staticmethod
    def _builder(subject, public_key, issuer=None):
        from cryptography import x509

        now = datetime.datetime.now(datetime.timezone.utc)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer or subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    @staticmethod
    def _pem(cert) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return cert.public_bytes(serialization.Encoding.PEM)


def _sha256():
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()
