"""The delete extension of `zen-mlmd metadata-store serve`: `zen_mlmd.RunDeletion/DeleteRuns`.

MLMD's `MetadataStoreService` has no delete RPC. A zen-mlmd server adds one
service beside it, so that its own clients (the `kubeflow` flavor pointed at
it) can delete runs for real instead of soft-deleting them. Kubeflow's
metadata service does not have it: clients then get UNIMPLEMENTED and fall
back to the soft delete.

Request and response are JSON (UTF-8) rather than a compiled proto: the
service is zen-mlmd's own and small, and a gRPC generic handler carries the
bytes. Request: ``{"runs": [names], "keep_artifacts": bool, "dry_run": bool}``.
Response: the `DeletionPlan` as ``{"run_ids", "executions", "artifacts"
{id: uri}, "kept_artifacts" {id: uri}, "contexts"}``. Bad input (an unknown
or running run) is INVALID_ARGUMENT with zen-mlmd's message. Files are the
client's business: the server may not see the artifact store.

This module imports grpc at module level; import it only where a server starts.
"""
from __future__ import annotations

import json
import logging
import threading

import grpc

from zen_mlmd.errors import ConfigError, UnknownNameError, ZenMLMDError

logger = logging.getLogger(__name__)

#: The full gRPC name of the extension and its one method.
SERVICE_NAME = "zen_mlmd.RunDeletion"
METHOD = "DeleteRuns"


class RunDeletionService:
    """Deletes runs in the database the server serves.

    Args:
        connection_config: the server's database `ConnectionConfig`.
        store_name: how messages name the store.
    """

    def __init__(self, connection_config, store_name: str = ""):
        self._config = connection_config
        self._store_name = store_name or "metadata store"
        self._store = None
        self._lock = threading.Lock()  # one deletion at a time

    def generic_handler(self) -> grpc.GenericRpcHandler:
        handler = grpc.unary_unary_rpc_method_handler(self.delete_runs)
        return grpc.method_handlers_generic_handler(SERVICE_NAME, {METHOD: handler})

    def delete_runs(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            payload = json.loads(request.decode("utf-8"))
            names = payload["runs"]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError("runs must be a list of run names")
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"{METHOD}: the request is not {{\"runs\": [...]}} JSON: {exc}")
        keep, dry_run = bool(payload.get("keep_artifacts")), bool(payload.get("dry_run"))
        try:
            with self._lock:
                plan = self._delete(names, keep, dry_run)
        except (UnknownNameError, ConfigError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc)[:4096])
        except ZenMLMDError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc)[:4096])
        return json.dumps({
            "run_ids": list(plan.run_ids), "executions": list(plan.executions),
            "artifacts": {str(k): v for k, v in plan.artifacts.items()},
            "kept_artifacts": {str(k): v for k, v in plan.kept_artifacts.items()},
            "contexts": list(plan.contexts),
        }).encode("utf-8")

    def _delete(self, names, keep_artifacts: bool, dry_run: bool):
        from zen_mlmd.lifecycle.deletion import refuse_running, resolve_runs
        from zen_mlmd.mlmd.deletion import delete_runs_sql, plan_deletion, run_types

        store = self._open()
        records = resolve_runs(store, names)
        refuse_running(store, records)
        types = run_types(store)
        with store.database() as db:
            if dry_run:
                return plan_deletion(db, [r.id for r in records], types, keep_artifacts)
            plan = delete_runs_sql(db, [r.id for r in records], types, keep_artifacts)
        logger.info("deleted runs %s (%d executions, %d artifacts)", ", ".join(names),
                    len(plan.executions), len(plan.artifacts))
        return plan

    def _open(self):
        # a second MLMD connection, opened on first use: reads resolve run names
        if self._store is None:
            from zen_mlmd.mlmd.store import MetadataStore

            self._store = MetadataStore(self._config, store_name=self._store_name)
        return self._store
