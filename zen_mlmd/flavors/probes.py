"""Checks shared by the flavors' preflights: TCP reachability, schema version.

Everything here does I/O and is imported by a preflight only.
"""
from __future__ import annotations

import socket


def tcp_problem(host: str, port: int, timeout: float) -> tuple[str, str] | None:
    """Connect to host:port; None when it answers, else (problem, fix)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror as exc:
        return (f"cannot resolve the host name {host!r} ({exc.strerror})",
                "check the host name, or give an IP address")
    except ConnectionRefusedError:
        return (f"nothing listens on {host}:{port} (connection refused)",
                "start the server, or correct the host and port")
    except (socket.timeout, TimeoutError):
        return (f"no answer from {host}:{port} within {timeout:g} s",
                "check that the server runs and that no firewall blocks the port")
    except OSError as exc:
        return (f"cannot connect to {host}:{port}: {exc.strerror or exc}",
                "check the host, the port and the network")


def unix_socket_problem(path: str, timeout: float) -> tuple[str, str] | None:
    """Connect to a Unix socket; None when it answers, else (problem, fix)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        return None
    except FileNotFoundError:
        return (f"the socket {path} does not exist",
                "start the server, or give the socket path it listens on")
    except ConnectionRefusedError:
        return (f"nothing listens on the socket {path}",
                "start the server, or give the socket path it listens on")
    except OSError as exc:
        return (f"cannot connect to the socket {path}: {exc.strerror or exc}",
                "check the socket path and its permissions")
    finally:
        sock.close()


def schema_warnings(version: int | None) -> list[str]:
    """Warnings for a database whose MLMD schema differs from this library's."""
    from zen_mlmd.mlmd.store import library_schema_version

    library = library_schema_version()
    if version is None or version == library:
        return []
    if version > library:
        return [f"the database has MLMD schema version {version}, newer than this "
                f"ml-metadata library ({library}): upgrade zen-mlmd and ml-metadata to open it"]
    return [f"the database has MLMD schema version {version}, older than this ml-metadata "
            f"library ({library}): back it up, then run `zen-mlmd metadata-store upgrade`"]
