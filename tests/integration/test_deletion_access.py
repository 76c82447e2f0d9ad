"""The server's delete extension under the server's access rules: token and read-only.

Real servers (`python -m zen_mlmd.server` as a subprocess over SQLite) and
the `kubeflow` flavor as users configure it. `DeleteRuns` is no `Get*`: a
read-only server refuses it (a dry run too), and a server with a token
wants the token, as for MLMD's own writes. A refusal deletes nothing and
falls back to nothing (no soft delete either).
"""
from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from ml_metadata.metadata_store import metadata_store

from recording_pipelines import training
from server_helpers import ServerProcess
from tracking_helpers import LocalTestStack
from zen_mlmd.errors import ReadOnlyStoreError, StoreError
from zen_mlmd.lifecycle import delete_runs
from zen_mlmd.mlmd.remote_deletion import METHOD, SERVICE_NAME, remote_delete
from zen_mlmd.mlmd.soft_delete import DELETED_PROPERTY
from zen_mlmd.post_execution import get_runs
from zen_mlmd.stack import StackRegistry

TOKEN = "t0ken-for-deletions-83be1f"


def kubeflow_store(name: str, port: int, **options):
    registry = StackRegistry()
    registry.register_metadata_store(name, "kubeflow", {"host": "127.0.0.1", "port": port, **options})
    return registry.get_metadata_store(name).open()


def raw_delete_call(port: int, metadata=None):
    """DeleteRuns as any gRPC client sends it: the JSON request of `zen_mlmd.server.deletion_service`."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(f"/{SERVICE_NAME}/{METHOD}")
        return call(json.dumps({"runs": ["kept-1"]}).encode(), timeout=30, metadata=metadata)


def untouched(raw) -> bool:
    """No run context marked deleted, no artifact DELETED: no soft delete happened either."""
    return (all(DELETED_PROPERTY not in c.custom_properties for c in raw.get_contexts())
            and all(a.state != a.DELETED for a in raw.get_artifacts()))


# two names for the one server, one with a wrong token: the sharing warning is expected
@pytest.mark.filterwarnings("ignore::zen_mlmd.stack.stack.SharedStoreWarning")
def test_deletions_need_the_servers_token(tmp_path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    server = ServerProcess(tmp_path / "server", "--token", f"file:{token_file}")
    try:
        monkeypatch.setenv("MLMD_TOKEN", TOKEN)
        store = kubeflow_store("right", server.port, token="${MLMD_TOKEN}")
        stack = LocalTestStack(store, tmp_path / "artifacts")
        training.run(stack=stack, quiet=True, run_name="kept-1", n=3)
        training.run(stack=stack, quiet=True, run_name="gone-1", n=5)

        with pytest.raises(grpc.RpcError) as caught:  # a client without the token
            raw_delete_call(server.port)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as caught:
            raw_delete_call(server.port, metadata=(("authorization", "Bearer " + TOKEN[:-1] + "x"),))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        monkeypatch.setenv("MLMD_TOKEN", TOKEN[:-1] + "x")
        wrong = kubeflow_store("wrong", server.port, token="${MLMD_TOKEN}")
        with pytest.raises(StoreError, match="wrong bearer token"):
            remote_delete(wrong, ["kept-1"])
        assert {r.name for r in get_runs(store=store)} == {"kept-1", "gone-1"}

        report = delete_runs(store, ["gone-1"], artifact_stores=[stack.artifacts])  # the token: deleted
        assert not report.soft and report.executions == 4 and report.artifacts
        assert [r.name for r in get_runs(store=store)] == ["kept-1"]
    finally:
        server.terminate()
    log = server.stderr
    assert f"refused /{SERVICE_NAME}/{METHOD} from ipv4:127.0.0.1" in log
    assert "no bearer token (no authorization header) (UNAUTHENTICATED)" in log
    assert log.count(f"/{METHOD} from ipv4:127.0.0.1") == 3 and log.count("wrong bearer token") == 2
    assert TOKEN not in log and TOKEN[:-1] + "x" not in log


def test_a_read_only_server_refuses_deletions_and_dry_runs_and_nothing_changes(tmp_path):
    writable = ServerProcess(tmp_path / "rw")
    try:
        store = kubeflow_store("rw", writable.port)
        stack = LocalTestStack(store, tmp_path / "artifacts")
        training.run(stack=stack, quiet=True, run_name="kept-1")
        store.close()
    finally:
        writable.terminate()
    server = ServerProcess(tmp_path / "ro", "--read-only",
                           connection_config=f'sqlite {{ filename_uri: "{writable.db_path}" }}\n')
    try:
        store = kubeflow_store("ro", server.port)
        raw = metadata_store.MetadataStore(server.client_config())
        before = (len(raw.get_executions()), len(raw.get_artifacts()), len(raw.get_contexts()))
        with pytest.raises(ReadOnlyStoreError, match="read-only") as caught:
            delete_runs(store, ["kept-1"], artifact_stores=[stack.artifacts])
        assert "Fix:" in str(caught.value) and "nothing was deleted" in str(caught.value)
        with pytest.raises(ReadOnlyStoreError, match="read-only"):
            delete_runs(store, ["kept-1"], dry_run=True)
        with pytest.raises(grpc.RpcError) as refused:
            raw_delete_call(server.port)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert (len(raw.get_executions()), len(raw.get_artifacts()), len(raw.get_contexts())) == before
        assert untouched(raw)
        assert [r.name for r in get_runs(store=store)] == ["kept-1"]
        assert all(Path(a.uri).exists() for a in raw.get_artifacts())  # no file removed
    finally:
        server.terminate()
    assert f"refused /{SERVICE_NAME}/{METHOD}" in server.stderr
    assert "read-only server (PERMISSION_DENIED)" in server.stderr
