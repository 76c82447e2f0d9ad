"""What a stack must be for its pipelines to run in Kubeflow pods, checked before anything is submitted.

Every task of a cluster run is a pod of its own: it has the image, the
packages the compiled package installs, the environment the package gives it
and nothing of the submitting machine. So the stack is refused, naming the
component, the reason and the fix, when a pod could not reach it:

* a metadata store that lives on this machine: SQLite (a file), a server on
  the loopback address or a Unix socket, an option naming a local file (a
  password file, TLS files; a `kubeflow` store's public certificates are
  sent along as PEM text instead);
* a secret given as a literal (it would be in the package) or as `file:`
  (a file on this machine); `${NAME}` references become Kubernetes Secret
  references (`pod_settings`);
* an artifact store in a local directory or in memory.

A `kubeflow` store with only a `kubernetes_context` is fine: in a pod the
flavor dials the in-cluster service (`METADATA_GRPC_SERVICE_HOST` / `_PORT`)
before anything else, never kubectl.
"""
from __future__ import annotations

import ipaddress
import os
from typing import Any, Mapping

from zen_mlmd.errors import ConfigError
from zen_mlmd.flavors.kubeflow import read_pem
from zen_mlmd.secrets import FILE_PREFIX, is_reference

#: fsspec protocols that are places on this machine only.
LOCAL_PROTOCOLS = frozenset({"file", "local", "memory"})
#: Options that are host names (a loopback one is this machine, not the pod's peer).
_HOST_OPTIONS = ("host", "hostaddr")
#: `kubeflow` options holding public certificates: sent to the pods as PEM text.
_INLINED_CERTIFICATES = ("custom_ca", "server_cert")
_PEM_MARKER = "-----BEGIN "


def check_stack(stack, secret_name: str) -> dict[str, Any]:
    """Refuse a stack the pods cannot use; return the metadata store's options as the pods get them.

    Args:
        secret_name: the Kubernetes Secret that holds the `${NAME}` references.

    Raises:
        ConfigError: naming the component, why a pod cannot use it, and the fix.
    """
    options = check_metadata_store(stack.metadata_store, secret_name)
    check_artifact_store(stack.artifact_store)
    return options


def check_artifact_store(component) -> None:
    from zen_mlmd.artifacts.store import ArtifactStore

    protocol = ArtifactStore(component.path).protocol
    if protocol in LOCAL_PROTOCOLS:
        where = "a directory on this machine" if protocol != "memory" else "this process's memory"
        raise ConfigError(
            f"artifact store {component.name!r}", component.path,
            f"is {where}: each Kubeflow pod has a file system of its own, so no task would see "
            "another's outputs",
            "register an artifact store in object storage the pods reach "
            "(`zen-mlmd artifact-store register NAME --path s3://bucket/prefix`, or gs://...) "
            "and use a stack with it")


def check_metadata_store(component, secret_name: str) -> dict[str, Any]:
    """The store's options for the pods (certificates inlined), after refusing what they cannot reach."""
    name = f"metadata store {component.name!r}"
    config = component.config
    if component.flavor_name == "sqlite":
        raise ConfigError(
            name, config.describe().get("path"),
            "is a SQLite file on this machine: every pod would record into an empty database of its own",
            "register a store the pods reach: the Kubeflow metadata service (`zen-mlmd metadata-store "
            "register NAME -f kubeflow --kubernetes-context CONTEXT`), or a MySQL/PostgreSQL server, "
            "and use a stack with it")
    options = dict(component.options)
    secrets = getattr(config, "SECRET_FIELDS", frozenset())
    for key, value in options.items():
        field = f"{name}: {key}"
        if key in secrets and value is not None:
            _check_secret(field, value, secret_name)
        elif key in _HOST_OPTIONS and isinstance(value, str) and _is_loopback(value):
            raise ConfigError(
                field, value, "is this machine's loopback address: in a pod it is the pod itself",
                "give the server's address as the pods see it (a cluster service name or a routable host)")
        elif component.flavor_name == "kubeflow" and key in _INLINED_CERTIFICATES and value:
            options[key] = read_pem(getattr(config, key), field)
        elif isinstance(value, str) and _is_local_path(value):
            raise ConfigError(
                field, value, "names a file on this machine, which the pods do not have",
                "use a setting that needs no local file (a TCP host instead of a socket; certificates "
                "as PEM text where the flavor takes it), or bake the file into the task image at the "
                "same path")
    return options


def _check_secret(field: str, value: Any, secret_name: str) -> None:
    if not is_reference(value):
        raise ConfigError(field, "********", "a literal secret would be written into the compiled pipeline",
                          f"store it as `${{NAME}}` and put NAME in the Kubernetes Secret {secret_name!r}")
    if str(value).startswith(FILE_PREFIX):
        raise ConfigError(field, value, "is a file on this machine, which the pods do not have",
                          f"use `${{NAME}}` instead and put NAME in the Kubernetes Secret {secret_name!r} "
                          f"(kubectl create secret generic {secret_name} --from-file=NAME=...)")


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.startswith("/"):
        return True  # (a PostgreSQL host starting with / is a Unix-socket directory)
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_local_path(value: str) -> bool:
    # flavors store file options as absolute paths (their validators resolve them)
    return _PEM_MARKER not in value and "://" not in value and os.path.isabs(os.path.expanduser(value))


def secret_references(options: Mapping[str, Any], secret_fields) -> list[str]:
    """The environment variables `${NAME}` secret options name, in order."""
    names = []
    for key, value in options.items():
        if key in secret_fields and isinstance(value, str) and value.startswith("${"):
            names.append(value[2:-1])
    return names
