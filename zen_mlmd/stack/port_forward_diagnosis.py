"""What went wrong with a `kubectl port-forward`, in words a user can act on.

`PortForward` (in `zen_mlmd.stack.port_forward`) runs kubectl; this module
turns what kubectl printed, or the gRPC status of the health check's MLMD
call, into a (problem, fix) pair for its `PortForwardError`. It also builds
the gRPC channel credentials of a TLS metadata service.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # pragma: no cover - typing only
    import grpc

    from zen_mlmd.stack.port_forward import PortForward

#: klog's prefix (``E1130 01:29:27.937984    1132 memcache.go:265] ...``).
_KLOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\] ")
_SHOWN_LINES = 5


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


def kubectl_said(lines: Sequence[str]) -> str:
    """``; kubectl said: ...`` with its meaningful lines (klog noise only when nothing else)."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return ""
    plain = [line for line in lines if not _KLOG_LINE.match(line)]
    shown = (plain or lines)[-_SHOWN_LINES:]
    return "; kubectl said: " + " | ".join(shown)


def start_problem(forward: "PortForward", stderr: str) -> tuple[str, str]:
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


def health_problem(forward: "PortForward", code, details: str, timeout: float) -> tuple[str, str]:
    """(problem, fix) for an MLMD call through the forward that failed with gRPC status `code`."""
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
