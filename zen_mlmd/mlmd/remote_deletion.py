"""The client side of a zen-mlmd server's delete extension (`zen_mlmd.server.deletion_service`).

In the `mlmd` layer: it reads the gRPC endpoint from the MLMD client config,
and sends the call metadata (a bearer token) the store sends with MLMD's
calls. The server's access rules apply to the extension as to MLMD's
service: a read-only server refuses it (even a dry run: it is no `Get*`),
a server with a token wants the token.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Sequence

from zen_mlmd.errors import ConfigError, ReadOnlyStoreError, StoreError, StoreUnavailableError

if TYPE_CHECKING:
    from zen_mlmd.mlmd.deletion import DeletionPlan
    from zen_mlmd.mlmd.store import MetadataStore

SERVICE_NAME = "zen_mlmd.RunDeletion"
METHOD = "DeleteRuns"
TIMEOUT_SECONDS = 300.0


def remote_delete(store: "MetadataStore", names: Sequence[str], *, keep_artifacts: bool = False,
                  dry_run: bool = False) -> "DeletionPlan | None":
    """Ask the gRPC server behind `store` to delete runs; None when it has no delete extension.

    A real (not dry) deletion first asks for the plan, so that the caller
    can journal the files before any record goes.

    Raises:
        ConfigError: the server refused the input (an unknown or running run).
        ReadOnlyStoreError: `store` was opened for reading and this is no dry
            run, or the server is read-only.
        StoreError: the server refused the token, or failed.
    """
    import grpc

    from zen_mlmd.mlmd.deletion import DeletionPlan
    from zen_mlmd.stack.port_forward_diagnosis import channel_credentials

    if store.read_only and not dry_run:
        raise ReadOnlyStoreError(
            f"{store.store_name}: {METHOD} refused: the store was opened for reading only. "
            "Fix: open it for writing (`MetadataStoreComponent.open()`)")
    config = store.connection_config
    target = f"{config.host}:{config.port}"
    credentials = channel_credentials(config)
    channel = (grpc.secure_channel(target, credentials) if credentials is not None
               else grpc.insecure_channel(target))
    timeout = config.client_timeout_sec or TIMEOUT_SECONDS
    with channel:
        call = channel.unary_unary(f"/{SERVICE_NAME}/{METHOD}")
        request = {"runs": list(names), "keep_artifacts": keep_artifacts, "dry_run": dry_run}
        try:
            answer = json.loads(call(json.dumps(request).encode("utf-8"), timeout=max(timeout, 60),
                                     metadata=store._call_metadata or None))
        except grpc.RpcError as error:
            code = error.code()
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return None  # Kubeflow's metadata service: a soft delete instead
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise ConfigError("run", ", ".join(names), error.details() or "refused",
                                  "list runs with `zen-mlmd run list`") from None
            if code == grpc.StatusCode.PERMISSION_DENIED:  # our server's message has its own Fix
                raise ReadOnlyStoreError(_refused(
                    store, error, "Fix: delete through a server started without --read-only, "
                    "or ask its operator to delete the runs")) from None
            if code == grpc.StatusCode.UNAUTHENTICATED:
                raise StoreError(_refused(
                    store, error, "Fix: give the store the server's token: `zen-mlmd "
                    f"metadata-store update {store.store_name} --token REF`")) from None
            if code == grpc.StatusCode.UNAVAILABLE:
                raise StoreUnavailableError(
                    f"{store.store_name}: {METHOD} failed: the server did not answer: "
                    f"{error.details()}. Fix: run `zen-mlmd metadata-store check "
                    f"{store.store_name}`") from None
            raise StoreError(f"{store.store_name}: {METHOD} failed: {code.name}: {error.details()}. "
                             "Fix: see the server's log; nothing was deleted unless it says so") from None
    return DeletionPlan(
        run_ids=tuple(answer["run_ids"]), executions=tuple(answer["executions"]),
        artifacts={int(k): v for k, v in answer["artifacts"].items()},
        kept_artifacts={int(k): v for k, v in answer["kept_artifacts"].items()},
        contexts=tuple(answer["contexts"]))


def _refused(store: "MetadataStore", error, fix: str) -> str:
    """The message of a refused deletion: the server's reason, and `fix` unless it gave one."""
    details = error.details() or "refused"
    return f"{store.store_name}: nothing was deleted: {details}" + ("" if "Fix:" in details else f". {fix}")
