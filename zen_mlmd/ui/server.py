"""Serving the web view with uvicorn: the address, the store it reads, and the warning beyond loopback."""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Callable

from zen_mlmd.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8237


@dataclass(frozen=True)
class StoreChoice:
    """The metadata store to serve: its registered name (None: the active stack's) and its label."""

    name: str | None
    label: str


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or "localhost") is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int, label: str) -> str | None:
    """What binding `host` exposes, or None for a loopback address."""
    if is_loopback(host):
        return None
    return (f"serving on {host}:{port}: anyone who can reach this machine there can read every run, "
            f"parameter and artifact preview of {label}; the web view has no login. Serve on "
            f"{DEFAULT_HOST} (the default) and use an SSH tunnel to reach it from elsewhere.")


def allowed_hosts(host: str) -> list[str]:
    """Host header values the app accepts: loopback names, plus the bound address when it is not a wildcard."""
    from zen_mlmd.ui.app import LOOPBACK_HOSTS

    if host in ("0.0.0.0", "::", "[::]"):
        return ["*"]  # reachable under any of this machine's names
    return list(dict.fromkeys([*LOOPBACK_HOSTS, host.strip("[]"), host]))


def choose_store(store_name: str | None) -> StoreChoice:
    """The store to serve, labelled by its registered name and flavor (never its connection details).

    Raises:
        UnknownNameError: no metadata store is registered under `store_name`.
    """
    from zen_mlmd.stack import StackRegistry

    registry = StackRegistry()
    if store_name is None:
        component = registry.get_active_stack().metadata_store
    else:
        component = registry.get_metadata_store(store_name)
    return StoreChoice(store_name, f"{component.name} ({component.flavor_name})")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 picks a free one.

    Raises:
        ConfigError: the address cannot be bound (in use, not this machine's).
    """
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as error:
        sock.close()
        raise ConfigError("--port" if error.errno == 98 else "--host", f"{host}:{port}",
                          f"cannot be listened on ({error.strerror})",
                          "pick another --port (0 picks a free one), or an address of this machine") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(choice: StoreChoice, sock: socket.socket, on_started: Callable[[str], None] = print) -> None:
    """Serve the web view of `choice` on the bound socket until interrupted (Ctrl-C)."""
    import uvicorn

    from zen_mlmd.post_execution.session import open_named_session
    from zen_mlmd.ui.app import create_app

    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    app = create_app(lambda: open_named_session(choice.name), store_label=choice.label,
                     allowed_hosts=allowed_hosts(shown_host))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    on_started(f"http://{shown_host}:{port}/")
    server.run(sockets=[sock])
