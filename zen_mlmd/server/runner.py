"""Start, run and stop the MLMD gRPC server: binding, TLS, health, signals.

Importing this module is cheap: grpc and ml-metadata are imported when a
server is started, so the CLI can import `serve_forever` without paying for
them.
"""
from __future__ import annotations

import logging
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from zen_mlmd.errors import ConfigError, ZenMLMDError
from zen_mlmd.server.tls import ServerTLS  # noqa: F401 (part of this module's API)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import grpc

    from zen_mlmd.server.service import StoreForwarder

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
#: Kubeflow's metadata service and its clients allow 100 MB messages; gRPC's
#: 4 MB default is too small for large property values and lineage graphs.
DEFAULT_MAX_MESSAGE_MB = 100
#: Requests (writes) are far smaller than responses (lineage graphs): with at
#: most DEFAULT_MAX_CONCURRENT_RPCS calls held at once, requests take at most
#: 32 x 16 MB of memory.
DEFAULT_MAX_REQUEST_MB = 16
DEFAULT_MAX_WORKERS = 8
#: Calls beyond this many at once are refused with RESOURCE_EXHAUSTED rather
#: than queued without bound (the C++ store answers one call at a time).
DEFAULT_MAX_CONCURRENT_RPCS = 32
DEFAULT_GRACE_SECONDS = 10.0


class RunningServer:
    """A started MLMD server. Made by `start_server`; stop it with `stop()`.

    Attributes:
        host: the address it is bound to.
        port: the bound port (the chosen one when started with port 0).
        tls: True when clients must use TLS.
        auth: how clients authenticate: "token", "mutual TLS", both, or "none".
        read_only: True when every call but reads is refused.
    """

    def __init__(self, server: "grpc.Server", health, forwarder: "StoreForwarder",
                 host: str, port: int, tls: bool, auth: str = "none", read_only: bool = False):
        self._server = server
        self._health = health
        self._forwarder = forwarder
        self._lock = threading.Lock()
        self._stopping = False
        self.host = host
        self.port = port
        self.tls = tls
        self.auth = auth
        self.read_only = read_only

    @property
    def address(self) -> str:
        """`host:port` as a client dials it (IPv6 hosts in brackets)."""
        return f"{_bracketed(self.host)}:{self.port}"

    def stop(self, grace: float | None = DEFAULT_GRACE_SECONDS) -> None:
        """Stop gracefully and return once the server has stopped.

        Health turns NOT_SERVING first: once the server stops accepting calls
        nobody could read it any more, so health watchers and load balancers
        must learn it while the port is still open. Then new calls are
        refused, calls in flight get `grace` seconds to finish (longer ones
        are cancelled), and finally the database connection is released.
        Safe to call again, from any thread; a shorter `grace` in a later call
        cuts the wait short (None cancels in-flight calls at once).
        """
        with self._lock:
            if not self._stopping:
                self._stopping = True
                self._health.enter_graceful_shutdown()
            stopped = self._server.stop(grace)
        stopped.wait()
        self._forwarder.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server has stopped; True if it has, False on timeout."""
        timed_out = self._server.wait_for_termination(timeout)
        return not timed_out

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopping" if self._stopping else "serving"
        return (f"RunningServer({self.address}, tls={'on' if self.tls else 'off'}, "
                f"auth={self.auth}{', read-only' if self.read_only else ''}, {state})")


def start_server(
    connection_config,
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    max_message_mb: float = DEFAULT_MAX_MESSAGE_MB,
    tls: ServerTLS | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    allow_upgrade: bool = False,
    store_name: str = "",
    token: str | None = None,
    read_only: bool = False,
    reflection: bool = False,
    max_concurrent_rpcs: int = DEFAULT_MAX_CONCURRENT_RPCS,
    max_request_mb: float = DEFAULT_MAX_REQUEST_MB,
    sqlite_journal: str = "wal",
) -> RunningServer:
    """Serve MLMD's `MetadataStoreService` over a database-backed store.

    Also serves the standard gRPC health service (SERVING for "" and for
    `ml_metadata.MetadataStoreService`) and, when asked, server reflection.
    Access rules (token, read-only) apply to every service it hosts
    (`zen_mlmd.server.access`).

    Args:
        connection_config: the database `ConnectionConfig` (sqlite, mysql,
            postgresql, fake_database), as a flavor builds it.
        host: the address to bind. Only 127.0.0.1 unless given explicitly.
            Any other address needs `token` or mutual TLS (`tls` with a
            `client_ca`): anyone who reaches it could otherwise write the store.
        port: the port; 0 picks a free one (read it from `.port`).
        max_message_mb: largest request and response, in MB.
        tls: serve TLS (and mutual TLS when `tls.client_ca` is set).
        max_workers: threads answering calls. The C++ store runs one call at
            a time, so more threads only help slow clients and health checks.
        allow_upgrade: migrate an older database schema at start; never
            done otherwise.
        store_name: how error messages name the store.
        token: the bearer token every call must carry (the secret itself,
            resolved from its reference by the caller); None for none.
        read_only: refuse every call but reads with PERMISSION_DENIED.
        reflection: serve gRPC server reflection (off by default: it lists
            the services to anyone who may call).
        max_concurrent_rpcs: calls held at once; more are refused with
            RESOURCE_EXHAUSTED.
        max_request_mb: largest request, in MB (at most `max_message_mb`).
        sqlite_journal: the journal mode of a SQLite database, ``wal``
            (default) or ``delete`` (see `zen_mlmd.mlmd.journal`).

    Returns:
        The running server.

    Raises:
        ConfigError: a bad argument, TLS file or connection config, a
            non-loopback address without authentication, or the address
            cannot be bound.
        SchemaVersionError: the database schema does not match ml-metadata.
        StoreUnavailableError: the database could not be opened.
    """
    _check_arguments(host, port, max_message_mb, max_workers)
    _check_limits(max_concurrent_rpcs, max_request_mb)
    _check_authentication(host, token, tls)
    tls_files = tls.read() if tls is not None else None

    import grpc  # heavy imports: only when a server really starts
    from concurrent import futures

    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    from zen_mlmd.server.access import AccessInterceptor, AccessPolicy, listens_beyond_loopback
    from zen_mlmd.server.service import SERVICE_NAME, StoreForwarder, open_store_handle

    if token is not None and tls is None and listens_beyond_loopback(host):
        logger.warning("serving on %s with a token but without TLS: the token travels in clear "
                       "text; use --tls-cert and --tls-key", host)
    forwarder = StoreForwarder(
        open_store_handle(connection_config, allow_upgrade=allow_upgrade, store_name=store_name,
                          sqlite_journal=sqlite_journal)
    )
    max_bytes = int(max_message_mb * 1024 * 1024)
    max_request_bytes = int(min(max_request_mb, max_message_mb) * 1024 * 1024)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="mlmd-server"),
        interceptors=(AccessInterceptor(AccessPolicy(token=token, read_only=read_only)),),
        maximum_concurrent_rpcs=max_concurrent_rpcs,
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", max_bytes),
            # gRPC sets SO_REUSEPORT by default on Linux: a second server on a
            # busy port would then start silently and share its traffic.
            ("grpc.so_reuseport", 0),
        ],
    )
    server.add_generic_rpc_handlers((forwarder.generic_handler(),))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if reflection:
        _add_reflection(server, (SERVICE_NAME, health.SERVICE_NAME))

    target = f"{_bracketed(host)}:{port}"
    try:
        if tls_files is None:
            bound_port = server.add_insecure_port(target)
        else:
            cert, key, ca = tls_files
            credentials = grpc.ssl_server_credentials(
                [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
            )
            bound_port = server.add_secure_port(target, credentials)
    except RuntimeError as exc:  # recent grpcio raises; older ones return 0
        raise _bind_error(target, port, str(exc)) from None
    if not bound_port:
        raise _bind_error(target, port, "")

    for service in ("", SERVICE_NAME):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    server.start()
    mutual = tls is not None and tls.client_ca is not None
    auth = " and ".join(kind for kind, on in (("token", token is not None),
                                               ("mutual TLS", mutual)) if on) or "none"
    return RunningServer(server, health_servicer, forwarder, host, bound_port,
                         tls=tls_files is not None, auth=auth, read_only=read_only)


def serve_forever(
    connection_config,
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    max_message_mb: float = DEFAULT_MAX_MESSAGE_MB,
    tls: ServerTLS | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    allow_upgrade: bool = False,
    store_name: str = "",
    grace: float = DEFAULT_GRACE_SECONDS,
    ready_file: str | os.PathLike | None = None,
    sqlite_journal: str = "wal",
    **access,
) -> None:
    """Run the server until SIGTERM or SIGINT, then stop it gracefully and return.

    Prints one line, `serving MLMD on HOST:PORT (tls: on|off)`, once the
    server accepts calls. Must be called from the main thread (signal
    handlers can only be installed there); the previous handlers are put
    back before returning. A second signal during the grace period cancels
    the calls still in flight.

    Args:
        connection_config, host, port, max_message_mb, tls, max_workers,
            allow_upgrade, store_name, sqlite_journal: as for `start_server`.
        access: `token`, `read_only`, `reflection`, `max_concurrent_rpcs`,
            `max_request_mb`, as for `start_server`.
        grace: seconds in-flight calls get to finish after a signal.
        ready_file: once serving, the bound port is written to this file
            (atomically: readers see the whole number or no file). A stale
            file is removed before the store is opened.

    Raises:
        ZenMLMDError: as `start_server` raises, before anything is served.
    """
    if threading.current_thread() is not threading.main_thread():
        raise ZenMLMDError(
            "serve_forever must run in the main thread (it installs signal handlers). "
            "Fix: call start_server() and stop() the returned server yourself"
        )
    if ready_file is not None:
        if not Path(ready_file).parent.is_dir():
            raise ConfigError("ready_file", str(ready_file), "its folder does not exist",
                              "create the folder first or choose another path")
        Path(ready_file).unlink(missing_ok=True)
    stop_requested = threading.Event()
    signals_seen = []

    def on_signal(signum, frame):
        signals_seen.append(signum)
        stop_requested.set()
        if len(signals_seen) > 1 and running is not None:
            threading.Thread(target=running.stop, args=(None,), daemon=True).start()

    running = None
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        running = start_server(
            connection_config, host=host, port=port, max_message_mb=max_message_mb,
            tls=tls, max_workers=max_workers, allow_upgrade=allow_upgrade, store_name=store_name,
            sqlite_journal=sqlite_journal, **access,
        )
        print(f"serving MLMD on {running.address} (tls: {'on' if running.tls else 'off'}, "
              f"auth: {running.auth}{', read-only' if running.read_only else ''})", flush=True)
        if ready_file is not None:
            write_ready_file(ready_file, running.port)
        # A timed wait keeps the main thread waking up, so signals are handled promptly.
        while not stop_requested.wait(1.0):
            pass
        running.stop(grace)
    finally:
        if running is not None and not stop_requested.is_set():
            running.stop(0)  # an error after start: do not leave the port open
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def log_to_stderr() -> None:
    """Show the server's log (refused calls, warnings) on stderr, with a timestamp.

    Does nothing when the program already configured logging.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def write_ready_file(path: str | os.PathLike, port: int) -> None:
    """Write `port` to `path` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(f"{port}\n")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _check_arguments(host: str, port: int, max_message_mb: float, max_workers: int) -> None:
    if not host or not isinstance(host, str):
        raise ConfigError("host", host, "no address given",
                          f"use {DEFAULT_HOST} (this machine) or 0.0.0.0 (every interface)")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError("port", port, "not a port number", "use 0 (any free port) to 65535")
    if not max_message_mb > 0:
        raise ConfigError("max_message_mb", max_message_mb, "must be positive",
                          f"use {DEFAULT_MAX_MESSAGE_MB} (the Kubeflow setting)")
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ConfigError("max_workers", max_workers, "must be a whole number of at least 1",
                          "use 8")


def _check_limits(max_concurrent_rpcs: int, max_request_mb: float) -> None:
    if isinstance(max_concurrent_rpcs, bool) or not isinstance(max_concurrent_rpcs, int) \
            or max_concurrent_rpcs < 1:
        raise ConfigError("max_concurrent_rpcs", max_concurrent_rpcs,
                          "must be a whole number of at least 1",
                          f"use {DEFAULT_MAX_CONCURRENT_RPCS}")
    if not max_request_mb > 0:
        raise ConfigError("max_request_mb", max_request_mb, "must be positive",
                          f"use {DEFAULT_MAX_REQUEST_MB}")


def _check_authentication(host: str, token: str | None, tls: ServerTLS | None) -> None:
    """Refuse an address other machines can reach unless calls must authenticate."""
    from zen_mlmd.server.access import listens_beyond_loopback  # grpc: a server is starting

    if token is not None and not token.strip():
        raise ConfigError("token", "<empty>", "the bearer token is empty",
                          "point --token at a non-empty secret")
    mutual = tls is not None and tls.client_ca is not None
    if listens_beyond_loopback(host) and token is None and not mutual:
        raise ConfigError(
            "host", host,
            "serving beyond this machine without authentication would let anyone who can reach "
            "it read and change the store",
            "require a bearer token (--token '${ENV_VAR}' or --token file:/path/to/token) or "
            "mutual TLS (--tls-cert, --tls-key and --tls-client-ca), or serve on 127.0.0.1")


def _bind_error(target: str, port: int, reason: str) -> ConfigError:
    fix = "pick another port, or 0 for any free one" if port else "check the host address"
    problem = "cannot bind: the port is in use or the address is not on this machine"
    if reason:
        problem += f" ({reason})"
    return ConfigError("address", target, problem, fix)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _add_reflection(server: "grpc.Server", service_names: tuple[str, ...]) -> None:
    try:
        from grpc_reflection.v1alpha import reflection
    except ImportError:  # optional: grpcio-reflection is not a hard dependency
        logger.info("grpcio-reflection is not installed: server reflection is off")
        return
    reflection.enable_server_reflection((*service_names, reflection.SERVICE_NAME), server)
