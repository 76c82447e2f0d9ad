"""The `kubeflow` flavor: the MLMD gRPC endpoint of a Kubeflow deployment.

Kubeflow runs MLMD as the ``metadata-grpc-service`` in the ``kubeflow``
namespace, port 8080; its pods see ``METADATA_GRPC_SERVICE_HOST`` and
``METADATA_GRPC_SERVICE_PORT``. Any server that speaks MLMD's
``MetadataStoreService`` (``zen-mlmd metadata-store serve``) works too.

The server owns the database: schema migration is its business
(`is_database` is False).
"""
from __future__ import annotations

import os

import pydantic

from zen_mlmd.errors import ConfigError
from zen_mlmd.flavors.base import FlavorConfig, MetadataStoreFlavor, PreflightReport
from zen_mlmd.flavors.fields import Host, Port, Secret, Text, config_problem
from zen_mlmd.secrets import SECRET_MASK, is_reference, resolve_secret

DEFAULT_PORT = 8080
#: Deadline of every MLMD call when `client_timeout_sec` is not set: without
#: one, a server that stops answering (paused, half-open connection) blocks
#: its client for ever. Generous, since a lineage query on a big store is slow.
DEFAULT_CLIENT_TIMEOUT_SEC = 30.0
HOST_VARIABLE = "METADATA_GRPC_SERVICE_HOST"
PORT_VARIABLE = "METADATA_GRPC_SERVICE_PORT"
_PEM_MARKER = "-----BEGIN "


def _pem_or_file(value: str) -> str:
    if _PEM_MARKER in value:
        return value
    path = os.path.abspath(os.path.expanduser(value))
    if not os.path.isfile(path):
        raise ValueError(f"is neither PEM text nor an existing file ({path}). "
                         "Fix: give the path of a PEM file, or the PEM text itself")
    return path


class KubeflowConfig(FlavorConfig):
    """Options of the `kubeflow` flavor.

    Attributes:
        host, port: the gRPC endpoint. Without `host`, inside a Kubeflow pod,
            ``METADATA_GRPC_SERVICE_HOST`` / ``_PORT`` are used, before
            `kubernetes_context` (read when the connection is built, so one
            config serves a laptop and a pod). `port` defaults to 8080.
        custom_ca: CA certificate(s) that signed the server's certificate,
            as a PEM file path or PEM text.
        server_cert: the *client's* certificate chain for mutual TLS (MLMD's
            proto calls it server_cert); PEM file path or PEM text.
        client_key: the key of that certificate: a PEM file path, PEM text,
            ``${NAME}`` or ``file:`` reference. A secret.
        client_timeout_sec: deadline of every call, in seconds
            (`DEFAULT_CLIENT_TIMEOUT_SEC`, 30, when not set).
        token: the bearer token a server started with ``serve --token``
            asks for, as a ``${NAME}`` or ``file:`` reference (never the
            token itself). A secret. Sent as ``authorization: Bearer ...``
            with every call; use TLS beyond one machine.
        max_message_size_mb: largest response accepted (gRPC's default of
            4 MB is too small for big lineage queries; Kubeflow uses 100).
        kubernetes_context: reach the service through ``kubectl port-forward``
            in this context (used when `host` is not set, outside a pod).
            `MetadataStoreComponent.open()` starts the forward
            (`zen_mlmd.stack.port_forward`) and passes its local port to
            `connection_config`; it stops with the store.
    """

    SECRET_FIELDS = frozenset({"client_key", "token"})

    host: Host | None = None
    port: Port | None = None
    custom_ca: str | None = None
    server_cert: str | None = None
    client_key: Secret | None = None
    client_timeout_sec: float | None = pydantic.Field(default=None, gt=0)
    token: Secret | None = None
    max_message_size_mb: int = 100
    kubernetes_context: Text | None = None

    @pydantic.field_validator("custom_ca", "server_cert")
    @classmethod
    def _certificate(cls, value: str) -> str:
        return _pem_or_file(value)

    @pydantic.field_validator("client_key")
    @classmethod
    def _key(cls, value: str) -> str:
        if is_reference(value) or _PEM_MARKER in value:
            return value
        path = os.path.abspath(os.path.expanduser(value))
        if not os.path.isfile(path):  # the value may be a mangled key: never repeat it
            raise ValueError("is neither PEM text, a ${NAME} or file: reference, nor an existing file. "
                             "Fix: give the path of the PEM key file, or a reference to it")
        return path

    @pydantic.field_validator("token")
    @classmethod
    def _token(cls, value: str) -> str:
        if not is_reference(value):  # never repeat it: it may be the token itself
            raise ValueError("must be a ${NAME} or file:/path reference to the token, not the token "
                             "itself. Fix: export it and give '${NAME}', or give file:/path/to/token")
        return value

    @pydantic.field_validator("max_message_size_mb")
    @classmethod
    def _message_size(cls, value: int) -> int:
        if not 1 <= value <= 2047:
            raise ValueError("must be between 1 and 2047 (MB). Fix: use e.g. 100, Kubeflow's own limit")
        return value

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> "KubeflowConfig":
        if (self.server_cert is None) != (self.client_key is None):
            raise config_problem("server_cert" if self.client_key else "client_key",
                                 "server_cert (the client certificate) and client_key go together. "
                                 "Fix: give both for mutual TLS, or neither")
        return self

    @property
    def uses_tls(self) -> bool:
        return any((self.custom_ca, self.server_cert, self.client_key))


class KubeflowFlavor(MetadataStoreFlavor):
    """An MLMD gRPC service, such as Kubeflow's metadata-grpc-service."""

    name = "kubeflow"
    notes = "The MLMD gRPC service of a Kubeflow deployment (or `zen-mlmd metadata-store serve`)."
    config_class = KubeflowConfig
    is_database = False

    def endpoint(self, config: KubeflowConfig, local_port: int | None = None) -> tuple[str, int]:
        """The (host, port) to dial: `host`, else (in a Kubeflow pod) the in-cluster service
        ``METADATA_GRPC_SERVICE_HOST`` / ``_PORT``, else the local end of a port-forward.

        In a pod the service variables come before `kubernetes_context`: a
        pod reaches the service directly and never runs kubectl.

        Raises:
            ConfigError: no host, no port-forward, and not inside a Kubeflow pod.
        """
        if config.host is not None:
            return config.host, config.port or DEFAULT_PORT
        if os.environ.get(HOST_VARIABLE):
            return self._pod_endpoint(config)
        if config.kubernetes_context is not None:
            if local_port is None:
                raise ConfigError("kubernetes_context", config.kubernetes_context,
                                  "the address is the local end of a kubectl port-forward, known "
                                  "only once the forward runs",
                                  "open the store with MetadataStoreComponent.open() (or "
                                  "`zen-mlmd metadata-store check`), which starts the forward")
            return "127.0.0.1", local_port
        raise ConfigError("host", None,
                          f"no metadata service address: host is not set and {HOST_VARIABLE} is not "
                          "(this is not a Kubeflow pod)",
                          "set host (and port), or run inside a Kubeflow pod")

    @staticmethod
    def in_pod() -> bool:
        """Whether this process runs in a Kubeflow pod (it sees the metadata service's address)."""
        return bool(os.environ.get(HOST_VARIABLE))

    def _pod_endpoint(self, config: KubeflowConfig) -> tuple[str, int]:
        env_host = os.environ[HOST_VARIABLE]
        if config.port is not None:
            return env_host, config.port
        env_port = os.environ.get(PORT_VARIABLE, str(DEFAULT_PORT))
        if not env_port.isdigit() or not 1 <= int(env_port) <= 65535:
            raise ConfigError(PORT_VARIABLE, env_port, "is not a TCP port", "set port explicitly")
        return env_host, int(env_port)

    def connection_config(self, config: KubeflowConfig, local_port: int | None = None):
        """``MetadataStoreClientConfig{host, port, ssl_config, channel_arguments, client_timeout_sec}``.

        Reads the environment (see `endpoint`) and the PEM files of the TLS
        options, whose content goes into ``ssl_config``. Every call gets a
        deadline: `client_timeout_sec`, else `DEFAULT_CLIENT_TIMEOUT_SEC`.
        The token travels outside this proto (`call_metadata`).

        Args:
            local_port: the local end of a port-forward, used with
                `kubernetes_context` when `host` is not set.

        Raises:
            ConfigError: no address can be found, or a PEM file or the key
                reference cannot be read.
        """
        from ml_metadata.proto import metadata_store_pb2

        host, port = self.endpoint(config, local_port)
        proto = metadata_store_pb2.MetadataStoreClientConfig(host=host, port=port)
        if config.custom_ca is not None:
            proto.ssl_config.custom_ca = read_pem(config.custom_ca, "custom_ca")
        if config.server_cert is not None:
            proto.ssl_config.server_cert = read_pem(config.server_cert, "server_cert")
        if config.client_key is not None:
            proto.ssl_config.client_key = read_pem(resolve_secret(config.client_key, "client_key"),
                                                    "client_key", secret=True)
        proto.client_timeout_sec = config.client_timeout_sec or DEFAULT_CLIENT_TIMEOUT_SEC
        proto.channel_arguments.max_receive_message_length = config.max_message_size_mb * 1024 * 1024
        return proto

    def call_metadata(self, config: KubeflowConfig) -> tuple[tuple[str, str], ...]:
        """``authorization: Bearer <token>`` when a `token` is set (its reference resolved now).

        Raises:
            ConfigError: the token reference cannot be resolved (or is empty).
        """
        if config.token is None:
            return ()
        token = resolve_secret(config.token, "token")
        if not token:
            raise ConfigError("token", config.token, "the token is empty",
                              "point the reference at the server's token")
        return (("authorization", f"Bearer {token}"),)

    def preflight(self, config: KubeflowConfig, timeout: float = 5.0) -> PreflightReport:
        """TCP reachability, then a gRPC channel (with the TLS options) that becomes ready in time."""
        from zen_mlmd.flavors.probes import tcp_problem

        try:
            host, port = self.endpoint(config)
            proto = self.connection_config(config)
        except ConfigError as exc:
            return PreflightReport(False, f"grpc://{config.host or '?'}", {}, f"{exc.field}: {exc.problem}",
                                   exc.fix)
        target = f"grpc://{host}:{port}"
        details = {"tls": "on" if config.uses_tls else "off"}
        problem = tcp_problem(host, port, timeout)
        if problem:
            return PreflightReport(False, target, details, *problem)
        problem = _grpc_problem(proto, timeout)
        if problem:
            return PreflightReport(False, target, details, *problem)
        details["grpc"] = "ready"
        return PreflightReport(True, target, details)


def read_pem(value: str, field: str, secret: bool = False) -> str:
    """PEM text as given, or read from the file `value` names (ConfigError if it cannot be read)."""
    if _PEM_MARKER in value:
        return value
    try:
        with open(value, encoding="ascii") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(field, SECRET_MASK if secret else value, f"cannot read the PEM file: {reason}",
                          "give the path of a readable PEM file") from None


def _grpc_problem(proto, timeout: float) -> tuple[str, str] | None:
    """Open a channel as MLMD's client does; None when it is ready within `timeout`."""
    import grpc

    target = f"{proto.host}:{proto.port}"
    options = [("grpc.max_receive_message_length", proto.channel_arguments.max_receive_message_length)]
    if proto.HasField("ssl_config"):
        ssl = proto.ssl_config
        credentials = grpc.ssl_channel_credentials(
            ssl.custom_ca.encode() if ssl.HasField("custom_ca") else None,
            ssl.client_key.encode() if ssl.HasField("client_key") else None,
            ssl.server_cert.encode() if ssl.HasField("server_cert") else None,
        )
        channel = grpc.secure_channel(target, credentials, options=options)
        fix = ("check that the server speaks TLS and that custom_ca signed its certificate "
               "(and that it accepts server_cert/client_key)")
    else:
        channel = grpc.insecure_channel(target, options=options)
        fix = "check that this is the MLMD gRPC port (not an HTTP one) and whether the server requires TLS"
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return None
    except grpc.FutureTimeoutError:
        return f"{target} accepts TCP connections but no gRPC channel was ready within {timeout:g} s", fix
    finally:
        channel.close()
