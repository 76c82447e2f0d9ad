"""The server's TLS files: checked and read when the server starts."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from zen_mlmd.errors import ConfigError


@dataclass(frozen=True)
class ServerTLS:
    """TLS files of the server; PEM files, read when the server starts.

    Args:
        server_cert: the server certificate chain (its SAN must match the
            host name clients dial, e.g. 127.0.0.1 or the service DNS name).
        server_key: the private key of `server_cert`.
        client_ca: a CA bundle. When set, clients must present a certificate
            signed by it (mutual TLS); when None, any client may connect.
    """

    server_cert: str | os.PathLike
    server_key: str | os.PathLike
    client_ca: str | os.PathLike | None = None

    def read(self) -> tuple[bytes, bytes, bytes | None]:
        """The PEM bytes of (certificate chain, private key, client CA or None).

        Raises:
            ConfigError: a file is missing, unreadable or not the expected PEM.
                The message names the file, never its content.
        """
        cert = _read_pem("tls.server_cert", self.server_cert, "CERTIFICATE")
        key = _read_pem("tls.server_key", self.server_key, "PRIVATE KEY")
        ca = None
        if self.client_ca is not None:
            ca = _read_pem("tls.client_ca", self.client_ca, "CERTIFICATE")
        return cert, key, ca


def _read_pem(field: str, path: str | os.PathLike, marker: str) -> bytes:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(field, str(path), "file not found",
                          "give the path of an existing PEM file") from None
    except OSError as exc:
        raise ConfigError(field, str(path), f"cannot be read ({exc.strerror})",
                          "check the path and its permissions") from None
    if b"-----BEGIN" not in data or marker.encode() not in data:
        raise ConfigError(field, str(path), f"is not a PEM file holding a {marker}",
                          f"give a PEM file with a '-----BEGIN ... {marker}-----' block")
    return data
