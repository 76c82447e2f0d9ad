"""Reach a Kubeflow metadata service from outside the cluster with `kubectl port-forward`.

`PortForward` runs ``kubectl --context CTX -n kubeflow port-forward
svc/metadata-grpc-service LOCAL:8080 --address 127.0.0.1`` as a child process
of this Python process, for as long as a store needs it:

- `start()` waits (bounded) for kubectl's ``Forwarding from 127.0.0.1:PORT``
  line; with ``local_port=0`` kubectl binds a free port itself (no race
  between choosing a port and binding it) and the port is read from that line.
  If kubectl is missing or exits first (unknown context, no such service, no
  access, cluster unreachable) a `PortForwardError` carries kubectl's own
  message and the fix.
- `health_check()` makes one cheap MLMD call (``GetContextTypes``) through
  the forward: kubectl listens locally before it has reached any pod, so only
  a call proves that the service answers.
- `stop()` terminates kubectl, kills it after a grace period, and is
  idempotent. It is registered with `atexit`, so the forward never outlives
  the Python process that started it. There is no PID file and no daemon.

kubectl is used, not the `kubernetes` Python client: it is what users have,
it knows every authentication plugin their kubeconfig names, and it resolves
a service to a ready pod. Nothing here imports the `kubernetes` package.

kubectl is started in its own session, so a Ctrl+C in the terminal reaches
Python only: a run that is being interrupted can still record its failed
step through the forward before `stop()` ends it.
"""
from __future__ import annotations

import atexit
import collections
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Sequence

from zen_mlmd.errors import ConfigError, PreflightError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import grpc

DEFAULT_NAMESPACE = "kubeflow"
DEFAULT_SERVICE = "metadata-grpc-service"
DEFAULT_REMOTE_PORT = 8080
DEFAULT_TIMEOUT = 15.0
#: Seconds kubectl gets to exit after SIGTERM before it is killed.
DEFAULT_STOP_GRACE = 5.0
LISTEN_ADDRESS = "127.0.0.1"
KUBECTL_INSTALL_URL = "https://kubernetes.io/docs/tasks/tools/"

_FORWARDING = re.compile(r"^Forwarding from (?P<address>\S+):(?P<port>\d+) -> (?P<remote>\d+)")
#: DNS-1123 label: the form of namespace and service names.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
#: klog's prefix (``E1130 01:29:27.937984    1132 memcache.go:265] ...``).
_KLOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\] ")
_KEPT_LINES = 40
_SHOWN_LINES = 5
#: Seconds given to the pipe readers after a failed call, so that kubectl's own
#: error line (written as the failure happens) makes it into the message.
_SETTLE = 0.2
_MLMD_PROBE = "/ml_metadata.MetadataStoreService/GetContextTypes"


class PortForwardError(PreflightError):
    """The port-forward could not be started or does not reach the service.

    Attributes:
        problem: what failed, with kubectl's own message when it gave one.
        fix: what to do about it.
        stderr: the last lines kubectl wrote to stderr ("" if none).
    """

    def __init__(self, problem: str, fix: str, stderr: str = ""):
        self.problem = problem
        self.fix = fix
        self.stderr = stderr
        super().__init__(f"{problem}. Fix: {fix}" if fix else problem)


class PortForward:
    """A `kubectl port-forward` to a Kubernetes service, owned by this process.

    Args:
        context: the kubectl context (``kubectl config get-contexts``).
        namespace: the service's namespace.
        service: the service name.
        remote_port: the service port to reach.
        local_port: the port to listen on at 127.0.0.1; 0 lets kubectl pick a
            free one (read back from its output, see `local_port`).
        kubectl: the kubectl executable, a name looked up on PATH or a path.
        timeout: bound, in seconds, on `start()` and on `health_check()`.

    Raises:
        ConfigError: an argument is not a valid context, name or port.

    Use as a context manager (``with PortForward("my-cluster") as forward:``)
    or call `start()` and `stop()`.
    """

    def __init__(self, context: str, namespace: str = DEFAULT_NAMESPACE,
                 service: str = DEFAULT_SERVICE, remote_port: int = DEFAULT_REMOTE_PORT,
                 local_port: int = 0, kubectl: str = "kubectl", timeout: float = DEFAULT_TIMEOUT):
        if not isinstance(context, str) or not context.strip() or context.startswith("-"):
            raise ConfigError("kubernetes_context", context, "is not a kubectl context name",
                              "give a name listed by `kubectl config get-contexts`")
        for field, value in (("namespace", namespace), ("service", service)):
            if not isinstance(value, str) or not _DNS_LABEL.fullmatch(value):
                raise ConfigError(field, value, "is not a Kubernetes name (lower-case letters, "
                                  "digits and '-', at most 63 characters)",
                                  f"give the {field} as `kubectl get {field}s` shows it")
        _check_port("remote_port", remote_port, allow_zero=False)
        _check_port("local_port", local_port, allow_zero=True)
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ConfigError("timeout", timeout, "must be a positive number of seconds", "use e.g. 15")
        if not isinstance(kubectl, str) or not kubectl:
            raise ConfigError("kubectl", kubectl, "is not an executable name or path",
                              "give 'kubectl' or the path of the kubectl binary")
        self.context = context
        self.namespace = namespace
        self.service = service
        self.remote_port = remote_port
        self.kubectl = kubectl
        self.timeout = float(timeout)
        self._requested_port = local_port
        self._local_port: int | None = None
        self._process: subprocess.Popen | None = None
        self._lock = threading.RLock()
        self._ready = threading.Event()
        #: set when kubectl reports forwarding, closes its stdout or exits
        self._progress = threading.Event()
        self._stdout: collections.deque[str] = collections.deque(maxlen=_KEPT_LINES)
        self._stderr: collections.deque[str] = collections.deque(maxlen=_KEPT_LINES)
        self._readers: list[threading.Thread] = []

    # -- what is run -----------------------------------------------------------------
    def command(self) -> list[str]:
        """The exact kubectl argv (with the executable as given, before the PATH lookup)."""
        return [self.kubectl, "--context", self.context, "-n", self.namespace, "port-forward",
                f"svc/{self.service}", f"{self._requested_port}:{self.remote_port}",
                "--address", LISTEN_ADDRESS]

    @property
    def target(self) -> str:
        """What is forwarded, for messages: ``svc/NAME:PORT in NAMESPACE (context CTX)``."""
        return f"svc/{self.service}:{self.remote_port} in namespace {self.namespace} (context {self.context})"

    @property
    def local_port(self) -> int:
        """The local port: the one kubectl bound once started, else the one requested (0: any)."""
        return self._local_port if self._local_port is not None else self._requested_port

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` once started."""
        return f"{LISTEN_ADDRESS}:{self.local_port}"

    @property
    def running(self) -> bool:
        """True while kubectl runs and has reported that it forwards."""
        process = self._process
        return process is not None and self._ready.is_set() and process.poll() is None

    @property
    def pid(self) -> int | None:
        """kubectl's process id while it runs (for diagnostics; nothing is written to disk)."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def stderr_tail(self) -> str:
        """The last lines kubectl wrote to stderr."""
        return "\n".join(self._stderr)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> "PortForward":
        """Start kubectl and wait for it to forward; returns self. A running forward is kept.

        Raises:
            PortForwardError: kubectl is not installed, exited (its stderr is in
                the message), or did not report forwarding within `timeout`.
        """
        with self._lock:
            if self.running:
                return self
            if self._process is not None:  # a previous forward that died: clean it up first
                self.stop()
            executable = shutil.which(self.kubectl)
            if executable is None:
                raise PortForwardError(
                    f"cannot port-forward to {self.target}: {self.kubectl!r} was not found"
                    + ("" if os.sep in self.kubectl else " on PATH"),
                    f"install kubectl ({KUBECTL_INSTALL_URL}) and put it on PATH, or set host and "
                    "port to reach the metadata service directly")
            argv = [executable, *self.command()[1:]]
            self._reset()
            try:
                self._process = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, start_new_session=True,
                )
            except OSError as exc:
                raise PortForwardError(
                    f"cannot run {executable}: {exc.strerror or exc}",
                    "check that it is an executable kubectl binary") from None
            atexit.register(self.stop)
            try:
                self._start_readers()
                self._wait_until_forwarding()
            except BaseException:
                self.stop()
                raise
            return self

    def stop(self, grace: float = DEFAULT_STOP_GRACE) -> None:
        """Terminate kubectl (SIGTERM, then SIGKILL after `grace` seconds). Safe to call again."""
        with self._lock:
            process = self._process
            if process is None:
                return
            try:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(grace)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
            finally:
                for reader in self._readers:
                    reader.join(1.0)  # the pipes reach EOF when kubectl exits
                if not any(reader.is_alive() for reader in self._readers):
                    for stream in (process.stdout, process.stderr):
                        if stream is not None:
                            stream.close()
                self._readers = []
                self._ready.clear()
                atexit.unregister(self.stop)

    def __enter__(self) -> "PortForward":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running on {self.address}" if self.running else "stopped"
        return f"PortForward({self.target}, {state})"

    # -- health --------------------------------------------------------------------------
    def health_check(self, timeout: float | None = None,
                     credentials: "grpc.ChannelCredentials | None" = None) -> None:
        """Check that the MLMD service answers through the forward.

        Connects to the local port, then makes one ``GetContextTypes`` call
        (cheap: a handful of rows) with a deadline.

        Args:
            timeout: seconds for the whole check; the forward's `timeout` by default.
            credentials: gRPC channel credentials when the service uses TLS.

        Raises:
            PortForwardError: kubectl is not running, or no MLMD answer came in time.
        """
        import grpc

        timeout = self.timeout if timeout is None else timeout
        self._require_running()
        try:
            with socket.create_connection((LISTEN_ADDRESS, self.local_port), timeout=timeout):
                pass
        except OSError as exc:
            self._require_running()
            raise PortForwardError(
                f"kubectl reports forwarding {self.target} but {self.address} does not accept "
                f"connections ({exc.strerror or exc})",
                "stop other programs that use the port, or let zen-mlmd pick one (local_port=0)",
                self.stderr_tail()) from None
        target = self.address
        channel = (grpc.secure_channel(target, credentials) if credentials is not None
                   else grpc.insecure_channel(target))
        try:
            probe = channel.unary_unary(_MLMD_PROBE)  # raw bytes in and out: an empty request
            probe(b"", timeout=timeout)
        except grpc.RpcError as exc:
            time.sleep(_SETTLE)  # let the readers catch kubectl's own report of the failure
            self._require_running()
            code = exc.code()
            details = exc.details() or ""
            problem, fix = _health_problem(self, code, details, timeout)
            raise PortForwardError(problem + _kubectl_said(self._stderr), fix,
                                   self.stderr_tail()) from None
        finally:
            channel.close()

    # -- internals ----------------------------------------------------------------------------
    def _reset(self) -> None:
        self._local_port = None
        self._ready.clear()
        self._progress.clear()
        self._stdout.clear()
        self._stderr.clear()

    def _start_readers(self) -> None:
        """Drain both pipes for kubectl's whole life (a full pipe would block it)."""
        process = self._process
        readers = [
            threading.Thread(target=self._read_stdout, args=(process.stdout,),
                             name=f"kubectl-stdout-{process.pid}", daemon=True),
            threading.Thread(target=self._read_stderr, args=(process.stderr,),
                             name=f"kubectl-stderr-{process.pid}", daemon=True),
        ]
        for reader in readers:
            reader.start()
        self._readers = readers

    def _read_stdout(self, stream) -> None:
        try:
            for raw in stream:
                line = raw.decode(errors="replace").rstrip()
                self._stdout.append(line)
                match = _FORWARDING.match(line)
                if match and not self._ready.is_set():
                    self._local_port = int(match.group("port"))
                    self._ready.set()
                    self._progress.set()
        except (OSError, ValueError):  # the pipe was closed by stop()
            pass
        finally:
            self._progress.set()

    def _read_stderr(self, stream) -> None:
        try:
            for raw in stream:
                self._stderr.append(raw.decode(errors="replace").rstrip())
        except (OSError, ValueError):
            pass

    def _wait_until_forwarding(self) -> None:
        process = self._process
        threading.Thread(target=self._wake_on_exit, args=(process,), daemon=True,
                         name=f"kubectl-wait-{process.pid}").start()
        deadline = time.monotonic() + self.timeout
        self._progress.wait(self.timeout)
        if self._ready.is_set() and process.poll() is None:
            return
        try:  # its stdout closed: it is exiting (bounded, as a grandchild may hold the pipe)
            process.wait(max(deadline - time.monotonic(), _SETTLE))
        except subprocess.TimeoutExpired:
            pass
        if process.poll() is None:  # still running, never said it forwards
            self.stop()
            raise PortForwardError(
                f"kubectl did not report forwarding {self.target} within {self.timeout:g} s"
                + _kubectl_said(self._stderr),
                "check that the cluster answers (`kubectl --context "
                f"{self.context} -n {self.namespace} get svc {self.service}`), or raise the timeout",
                self.stderr_tail())
        status = process.wait()
        for reader in self._readers:
            reader.join(1.0)  # collect everything kubectl wrote before it exited
        stderr = self.stderr_tail()
        problem, fix = _start_problem(self, stderr)
        said = _kubectl_said(self._stderr) or f" (kubectl exited with status {status} and no message)"
        raise PortForwardError(problem + said, fix, stderr)

    def _wake_on_exit(self, process: subprocess.Popen) -> None:
        process.wait()
        self._progress.set()  # kubectl exited (a grandchild might still hold its stdout open)

    def _require_running(self) -> None:
        process = self._process
        if process is None or not self._ready.is_set():
            raise PortForwardError(f"the port-forward to {self.target} is not started",
                                   "call start() first (or use it as a context manager)")
        status = process.poll()
        if status is not None:
            for reader in self._readers:
                reader.join(1.0)
            raise PortForwardError(
                f"the port-forward to {self.target} stopped: kubectl exited with status {status}"
                + _kubectl_said(self._stderr),
                "open the store again to start a new port-forward; if it keeps stopping, check "
                f"the service's pods (`kubectl --context {self.context} -n {self.namespace} "
                f"get endpoints {self.service}`)",
                self.stderr_tail())


def channel_credentials(client_config) -> "grpc.ChannelCredentials | None":
    """gRPC credentials from a `MetadataStoreClientConfig`'s ``ssl_config`` (None without TLS).

    As in MLMD's client: ``custom_ca`` verifies the server, ``server_cert``
    and ``client_key`` are the client's certificate chain and key.
    """
    if not client_config.HasField("ssl_config"):
        return None
    import grpc

    ssl = client_config.ssl_config
    return grpc.ssl_channel_credentials(ssl.custom_ca.encode() or None,
                                        ssl.client_key.encode() or None,
                                        ssl.server_cert.encode() or None)


def _check_port(field: str, value: int, allow_zero: bool) -> None:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
        raise ConfigError(field, value, f"is not a TCP port ({low}-65535)",
                          "give a port number" + (", or 0 for any free port" if allow_zero else ""))


def _kubectl_said(lines: Sequence[str]) -> str:
    """``; kubectl said: ...`` with its meaningful lines (klog noise only when nothing else)."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return ""
    plain = [line for line in lines if not _KLOG_LINE.match(line)]
    shown = (plain or lines)[-_SHOWN_LINES:]
    return "; kubectl said: " + " | ".join(shown)


def _start_problem(forward: PortForward, stderr: str) -> tuple[str, str]:
    """(problem, fix) for a kubectl that exited before forwarding, from what it printed."""
    ctx, ns, svc = forward.context, forward.namespace, forward.service
    problem = f"kubectl could not port-forward to {forward.target}"
    text = stderr.lower()
    if "context" in text and "does not exist" in text:
        return (f"the kubectl context {ctx!r} does not exist",
                "set kubernetes_context to a context listed by `kubectl config get-contexts` "
                "(and check KUBECONFIG)")
    if "namespaces" in text and "not found" in text:
        return (f"the namespace {ns!r} does not exist in context {ctx!r}",
                "check that Kubeflow Pipelines is installed in this cluster "
                f"(`kubectl --context {ctx} get namespaces`)")
    if "services" in text and "not found" in text:
        return (f"the service {svc!r} does not exist in namespace {ns!r} (context {ctx!r})",
                f"check that Kubeflow Pipelines is installed there (`kubectl --context {ctx} -n "
                f"{ns} get svc`), or use the context of the cluster that runs it")
    if "unable to listen" in text or "address already in use" in text:
        return (f"{problem}: local port {forward._requested_port} is taken",
                "use another local port, or 0 to let kubectl pick a free one")
    if "forbidden" in text:
        return (f"{problem}: access denied",
                f"ask for permission to create pods/portforward in namespace {ns!r}")
    if "unauthorized" in text or "must be logged in" in text:
        return (f"{problem}: the cluster rejected the credentials of context {ctx!r}",
                "log in again (refresh the kubeconfig credentials), then retry")
    if ("unable to connect" in text or "connection to the server" in text
            or "no such host" in text or "i/o timeout" in text):
        return (f"{problem}: the cluster of context {ctx!r} cannot be reached",
                "check the network / VPN and `kubectl --context "
                f"{ctx} cluster-info`")
    if "does not have any active pod" in text or "no pods" in text or "pod is not running" in text:
        return (f"{problem}: the service has no running pod",
                f"check the pods behind it: `kubectl --context {ctx} -n {ns} get endpoints {svc}`")
    return problem, f"run `{' '.join(forward.command())}` yourself to see the whole error"


def _health_problem(forward: PortForward, code, details: str, timeout: float) -> tuple[str, str]:
    import grpc

    name = code.name if code is not None else "UNKNOWN"
    reason = f"{name}: {details}" if details else name
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return (f"{forward.target} answers gRPC but does not serve MLMD's MetadataStoreService "
                f"({reason})",
                "check that the service is the MLMD gRPC metadata service and the port is right "
                "(Kubeflow: metadata-grpc-service, port 8080)")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return (f"no answer from the MLMD service through the port-forward to {forward.target} "
                f"within {timeout:g} s ({reason})",
                f"check the service's pods (`kubectl --context {forward.context} -n "
                f"{forward.namespace} get endpoints {forward.service}`) and their logs")
    return (f"the MLMD service did not answer through the port-forward to {forward.target} "
            f"({reason})",
            f"check that its pods are running (`kubectl --context {forward.context} -n "
            f"{forward.namespace} get endpoints {forward.service}`), and whether it needs TLS")
