"""Who may call the MLMD server, and what: bearer tokens, read-only mode, refusals.

`AccessInterceptor` is a server-wide gRPC interceptor: it sees every call to
every service the server hosts (MLMD's, health, reflection, and any service
added later), before the service does.

- With a token, a call must carry ``authorization: Bearer <token>``; the
  token is compared in constant time (`hmac.compare_digest`). Health checks
  are exempt so that load balancers and Kubernetes probes, which carry no
  token, can watch the server; they reveal nothing about the store.
- In read-only mode only reads pass: methods named ``Get*`` and the health
  and reflection services. Everything else (every ``Put*``, and any write RPC
  another service adds) is refused with PERMISSION_DENIED: deny by default.
- Every refusal is logged with the method, the peer and the reason, never
  with the token a client presented.

`listens_beyond_loopback` tells whether an address is reachable from other
machines; `start_server` refuses to serve such an address without a token
or mutual TLS.

This module imports grpc: import it only where a server is started.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Callable

import grpc

logger = logging.getLogger("zen_mlmd.server.access")

#: Services that only read, whatever their method names.
READ_ONLY_SERVICES = frozenset({
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
})
#: Methods answered without a token (health checks; see the module docstring).
UNAUTHENTICATED_METHODS = frozenset({
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
})
_BEARER = "bearer "


def listens_beyond_loopback(host: str) -> bool:
    """True unless `host` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return False
    try:
        return not ipaddress.ip_address(name).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return True


def is_read(method: str) -> bool:
    """True for a method that only reads: ``/pkg.Service/Get*``, health, reflection."""
    service, _, name = method.lstrip("/").rpartition("/")
    return service in READ_ONLY_SERVICES or name.startswith("Get")


@dataclass(frozen=True)
class AccessPolicy:
    """What the server asks of a call.

    Attributes:
        token: the bearer token calls must present, or None for none. It is
            the resolved secret: never printed (not in `repr` either).
        read_only: refuse every call that is not a read (`is_read`).
    """

    token: str | None = field(default=None, repr=False)
    read_only: bool = False

    def refusal(self, method: str, metadata) -> tuple[grpc.StatusCode, str, str] | None:
        """(code, message for the client, reason for the log), or None when the call may pass."""
        if self.token is not None and method not in UNAUTHENTICATED_METHODS:
            reason = self._token_problem(metadata)
            if reason is not None:
                return (grpc.StatusCode.UNAUTHENTICATED,
                        f"{method}: {reason}. Fix: send the header `authorization: Bearer <token>` "
                        "with the server's token (the kubeflow flavor's `token` option)",
                        reason)
        if self.read_only and not is_read(method):
            return (grpc.StatusCode.PERMISSION_DENIED,
                    f"{method}: this metadata server is read-only; it answers reads (Get*) only. "
                    "Fix: write through a server started without --read-only",
                    "read-only server")
        return None

    def _token_problem(self, metadata) -> str | None:
        values = [value for key, value in (metadata or ()) if key == "authorization"]
        if not values:
            return "no bearer token (no authorization header)"
        value = values[-1]
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if len(values) > 1 or not value[:len(_BEARER)].lower() == _BEARER:
            return "the authorization header is not one `Bearer <token>`"
        presented = value[len(_BEARER):].strip().encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(presented, self.token.encode("utf-8", "surrogatepass")):
            return "wrong bearer token"
        return None


class AccessInterceptor(grpc.ServerInterceptor):
    """Applies an `AccessPolicy` to every call the server receives."""

    def __init__(self, policy: AccessPolicy):
        self._policy = policy

    def intercept_service(self, continuation: Callable, handler_call_details):
        method = handler_call_details.method
        refusal = self._policy.refusal(method, handler_call_details.invocation_metadata)
        handler = continuation(handler_call_details)
        if refusal is None or handler is None:  # unknown methods stay UNIMPLEMENTED
            return handler
        return _refusing(handler, method, *refusal)


def _refusing(handler: grpc.RpcMethodHandler, method: str, code: grpc.StatusCode,
              message: str, reason: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that refuses the call (and logs it)."""

    def refuse(request_or_iterator, context: grpc.ServicerContext):
        logger.warning("refused %s from %s: %s (%s)", method, context.peer(), reason, code.name)
        context.abort(code, message)

    def refuse_streaming(request_or_iterator, context: grpc.ServicerContext):
        refuse(request_or_iterator, context)
        yield  # pragma: no cover - abort raises first; this makes it a generator

    options = {"request_deserializer": handler.request_deserializer,
               "response_serializer": handler.response_serializer}
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse_streaming, **options)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse, **options)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse_streaming, **options)
    return grpc.unary_unary_rpc_method_handler(refuse, **options)
