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
  idempotent. It is registered with `atexit` for a clean exit, and kubectl
  is started with a parent-death signal (`zen_mlmd.stack.child_process`),
  so it dies with this process on SIGTERM, SIGKILL or a crash too. There is
  no PID file and no daemon.

kubectl is used, not the `kubernetes` Python client: it is what users have,
it knows every authentication plugin their kubeconfig names, and it resolves
a service to a ready pod. Nothing here imports the `kubernetes` package.

kubectl is started in its own session, so a Ctrl+C in the terminal reaches
Python only: a run that is being interrupted can still record its failed
step through the forward before `stop()` ends it.

kubectl's output is read, and its ``Forwarding from`` line spotted, in
`zen_mlmd.stack.port_forward_output`; what that output or a failed health
check means, and what to do about it, is worked out in
`zen_mlmd.stack.port_forward_diagnosis`.
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from typing import TYPE_CHECKING

from zen_mlmd.errors import ConfigError, PreflightError
from zen_mlmd.stack import child_process
from zen_mlmd.stack.port_forward_diagnosis import health_problem, kubectl_said, start_problem
from zen_mlmd.stack.port_forward_output import KubectlOutput

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

#: DNS-1123 label: the form of namespace and service names.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
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
        self._process: subprocess.Popen | None = None
        self._lock = threading.RLock()
        self._output = KubectlOutput()

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
        bound = self._output.local_port
        return bound if bound is not None else self._requested_port

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` once started."""
        return f"{LISTEN_ADDRESS}:{self.local_port}"

    @property
    def running(self) -> bool:
        """True while kubectl runs and has reported that it forwards."""
        process = self._process
        return process is not None and self._output.ready.is_set() and process.poll() is None

    @property
    def pid(self) -> int | None:
        """kubectl's process id while it runs (for diagnostics; nothing is written to disk)."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def stderr_tail(self) -> str:
        """The last lines kubectl wrote to stderr."""
        return self._output.stderr_tail()

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
            self._output.reset()
            try:
                self._process = child_process.popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, start_new_session=True,
                )
            except OSError as exc:
                raise PortForwardError(
                    f"cannot run {executable}: {exc.strerror or exc}",
                    "check that it is an executable kubectl binary") from None
            atexit.register(self.stop)
            try:
                self._output.read(self._process)
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
                self._output.close(process)
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
                     credentials: "grpc.ChannelCredentials | None" = None,
                     metadata=()) -> None:
        """Check that the MLMD service answers through the forward.

        Connects to the local port, then makes one ``GetContextTypes`` call
        (cheap: a handful of rows) with a deadline.

        Args:
            timeout: seconds for the whole check; the forward's `timeout` by default.
            credentials: gRPC channel credentials when the service uses TLS.
            metadata: gRPC metadata for the call (a bearer token).

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
            probe(b"", timeout=timeout, metadata=tuple(metadata) or None)
        except grpc.RpcError as exc:
            time.sleep(_SETTLE)  # let the readers catch kubectl's own report of the failure
            self._require_running()
            code = exc.code()
            details = exc.details() or ""
            problem, fix = health_problem(self, code, details, timeout)
            raise PortForwardError(problem + kubectl_said(self._output.stderr), fix,
                                   self.stderr_tail()) from None
        finally:
            channel.close()

    # -- internals ----------------------------------------------------------------------------
    def _wait_until_forwarding(self) -> None:
        process = self._process
        self._output.wake_on_exit(process)
        deadline = time.monotonic() + self.timeout
        self._output.progress.wait(self.timeout)
        if self._output.ready.is_set() and process.poll() is None:
            return
        try:  # its stdout closed: it is exiting (bounded, as a grandchild may hold the pipe)
            process.wait(max(deadline - time.monotonic(), _SETTLE))
        except subprocess.TimeoutExpired:
            pass
        if process.poll() is None:  # still running, never said it forwards
            self.stop()
            raise PortForwardError(
                f"kubectl did not report forwarding {self.target} within {self.timeout:g} s"
                + kubectl_said(self._output.stderr),
                "check that the cluster answers (`kubectl --context "
                f"{self.context} -n {self.namespace} get svc {self.service}`), or raise the timeout",
                self.stderr_tail())
        status = process.wait()
        self._output.join()  # collect everything kubectl wrote before it exited
        stderr = self.stderr_tail()
        problem, fix = start_problem(self, stderr)
        said = kubectl_said(self._output.stderr) or f" (kubectl exited with status {status} and no message)"
        raise PortForwardError(problem + said, fix, stderr)

    def _require_running(self) -> None:
        process = self._process
        if process is None or not self._output.ready.is_set():
            raise PortForwardError(f"the port-forward to {self.target} is not started",
                                   "call start() first (or use it as a context manager)")
        status = process.poll()
        if status is not None:
            self._output.join()
            raise PortForwardError(
                f"the port-forward to {self.target} stopped: kubectl exited with status {status}"
                + kubectl_said(self._output.stderr),
                "open the store again to start a new port-forward; if it keeps stopping, check "
                f"the service's pods (`kubectl --context {self.context} -n {self.namespace} "
                f"get endpoints {self.service}`)",
                self.stderr_tail())


def _check_port(field: str, value: int, allow_zero: bool) -> None:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
        raise ConfigError(field, value, f"is not a TCP port ({low}-65535)",
                          "give a port number" + (", or 0 for any free port" if allow_zero else ""))
