"""Deleting runs over plain gRPC: a service with MLMD's RPCs only, as Kubeflow's metadata service.

The server here is MLMD's service alone (zen-mlmd's forwarder without its
delete extension), in this process, over a SQLite file: what a Kubeflow
`metadata-grpc-service` offers. Deletion is then soft: the run is hidden
and its own artifacts are DELETED (no cache lookup finds them), rows remain.
"""
from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from click.testing import CliRunner
from ml_metadata.metadata_store import metadata_store as mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

from lifecycle_helpers import integrity
from recording_pipelines import EXECUTED, run_data, training
from recording_pipelines import executed_cleared  # noqa: F401 (fixture)
from tracking_helpers import LocalTestStack, journal_mode
from zen_mlmd.cli.main import cli
from zen_mlmd.lifecycle import delete_runs
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.post_execution import get_runs
from zen_mlmd.server.service import StoreForwarder, open_store_handle


@pytest.fixture
def plain_grpc(tmp_path):
    """(client config, port) of an MLMD service without zen-mlmd's delete extension."""
    database = pb.ConnectionConfig()
    database.sqlite.filename_uri = str(tmp_path / "served.sqlite")
    forwarder = StoreForwarder(open_store_handle(database))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((forwarder.generic_handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield pb.MetadataStoreClientConfig(host="127.0.0.1", port=port, client_timeout_sec=10), port
    server.stop(None).wait()
    forwarder.close()


def test_soft_delete_hides_the_run_and_retires_only_its_own_artifacts(plain_grpc, tmp_path):
    config, port = plain_grpc
    store = MetadataStore(config, store_name="kubeflow")
    stack = LocalTestStack(store, tmp_path / "artifacts")
    training.run(stack=stack, quiet=True, run_name="soft-1")
    training.run(stack=stack, quiet=True, run_name="soft-2")  # from soft-1's cache
    training.run(stack=stack, quiet=True, run_name="soft-3", n=6)
    shared = {a for s in run_data(store, "soft-1").steps for ids in s.outputs.values() for a in ids}
    own3 = {a for s in run_data(store, "soft-3").steps for ids in s.outputs.values() for a in ids}

    first = delete_runs(store, ["soft-1"], artifact_stores=[stack.artifacts])
    assert first.soft and first.artifacts == () and {a.id for a in first.kept} == shared
    report = delete_runs(store, ["soft-3"], artifact_stores=[stack.artifacts])

    assert report.soft and {a.id for a in report.artifacts} == own3
    raw = mlmd.MetadataStore(config)
    assert raw.get_context_by_type_and_name("pipeline_run", "soft-3") is not None  # rows remain
    states = {a.id: a.state for a in raw.get_artifacts_by_id(sorted(shared | own3))}
    assert {states[i] for i in own3} == {pb.Artifact.DELETED}
    assert {states[i] for i in shared} == {pb.Artifact.LIVE}  # soft-2 still uses them
    assert [r.name for r in get_runs(store=store)] == ["soft-2"]

    EXECUTED.clear()  # soft-3's outputs cannot be served from the cache any more
    training.run(stack=stack, quiet=True, run_name="soft-4", n=6)
    assert "fit" in EXECUTED and "load" in EXECUTED


def _recorded_and_registered(plain_grpc, tmp_path, run_name: str) -> tuple[MetadataStore, CliRunner]:
    """A training run recorded over the served store, registered as `kf` for the CLI."""
    config, port = plain_grpc
    store = MetadataStore(config, store_name="kubeflow")
    training.run(stack=LocalTestStack(store, tmp_path / "artifacts"), quiet=True, run_name=run_name)
    runner = CliRunner()
    registered = runner.invoke(cli, ["metadata-store", "register", "kf", "-f", "kubeflow",
                                     "--host", "127.0.0.1", "--port", str(port)])
    assert registered.exit_code == 0, registered.output
    return store, runner


def test_the_cli_says_rows_remain(plain_grpc, tmp_path):
    store, runner = _recorded_and_registered(plain_grpc, tmp_path, "cli-soft")
    result = runner.invoke(cli, ["run", "delete", "cli-soft", "--store", "kf", "--yes"])
    assert result.exit_code == 0, result.output
    assert "rows remain" in result.stderr
    assert [r.name for r in get_runs(store=store)] == []


def test_the_servers_delete_extension_leaves_no_stale_reads_on_a_wal_sqlite_file(tmp_path):
    """The extension deletes with SQL beside the server's own MLMD handle: reads stay current, writes kept."""
    from zen_mlmd.server.deletion_service import RunDeletionService

    path = tmp_path / "wal.sqlite"
    database = pb.ConnectionConfig()
    database.sqlite.filename_uri = str(path)
    database.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    forwarder = StoreForwarder(open_store_handle(database))
    assert journal_mode(path) == "wal"  # the server's default for a SQLite file
    deletion = RunDeletionService(database)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((forwarder.generic_handler(), deletion.generic_handler()))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        config = pb.MetadataStoreClientConfig(host="127.0.0.1", port=port, client_timeout_sec=10)
        store = MetadataStore(config, store_name="served")
        stack = LocalTestStack(store, tmp_path / "artifacts")
        for name in ("wal-1", "wal-2"):
            training.run(stack=stack, quiet=True, run_name=name, n=3 + len(name))
        assert [r.name for r in get_runs(store=store)] == ["wal-2", "wal-1"]
        report = delete_runs(store, ["wal-1"], artifact_stores=[stack.artifacts])
        assert not report.soft
        assert [r.name for r in get_runs(store=store)] == ["wal-2"]
        assert mlmd.MetadataStore(config).get_context_by_type_and_name("pipeline_run", "wal-1") is None
        # the server's handle still writes, and every write lands in the file
        training.run(stack=stack, quiet=True, run_name="wal-3", n=9)
        assert [r.name for r in get_runs(store=store)] == ["wal-3", "wal-2"]
    finally:
        server.stop(None).wait()
        forwarder.close()
    reopened = mlmd.MetadataStore(database)  # the file alone, after the server closed it
    assert {c.name for c in reopened.get_contexts_by_type("pipeline_run")} == {"wal-2", "wal-3"}
    assert integrity(path) == "ok"


def test_outputs_two_runs_shared_are_retired_with_the_second_soft_delete(plain_grpc, tmp_path):
    """Run 2 reused run 1's outputs through the cache: they go (DELETED, files removed) with the later delete."""
    from pathlib import Path

    config, port = plain_grpc
    store = MetadataStore(config, store_name="kubeflow")
    stack = LocalTestStack(store, tmp_path / "artifacts")
    training.run(stack=stack, quiet=True, run_name="shared-1")
    training.run(stack=stack, quiet=True, run_name="shared-2")  # every step from shared-1's cache
    training.run(stack=stack, quiet=True, run_name="other", n=7)
    shared = {a for s in run_data(store, "shared-1").steps for ids in s.outputs.values() for a in ids}
    assert shared == {a for s in run_data(store, "shared-2").steps for ids in s.outputs.values() for a in ids}
    raw = mlmd.MetadataStore(config)
    uris = {a.id: a.uri for a in raw.get_artifacts_by_id(sorted(shared))}
    assert all(Path(uri).exists() for uri in uris.values())

    first = delete_runs(store, ["shared-1"], artifact_stores=[stack.artifacts])
    assert first.artifacts == () and {a.id for a in first.kept} == shared
    assert {a.state for a in raw.get_artifacts_by_id(sorted(shared))} == {pb.Artifact.LIVE}

    store.reset_counts()
    dry = delete_runs(store, ["shared-2"], artifact_stores=[stack.artifacts], dry_run=True)
    assert {a.id for a in dry.artifacts} == shared and dry.kept == ()
    # the earlier soft delete costs a fixed number of calls, not one per execution or artifact
    assert store.calls["GetContexts"] == 1 and store.calls["GetExecutions"] <= 2, store.calls

    second = delete_runs(store, ["shared-2"], artifact_stores=[stack.artifacts])
    assert second.soft and {a.id for a in second.artifacts} == shared and second.kept == ()
    assert {a.state for a in raw.get_artifacts_by_id(sorted(shared))} == {pb.Artifact.DELETED}
    assert not any(Path(uri).exists() for uri in uris.values())  # as for a run's own outputs
    # the run nobody deleted keeps its outputs
    own = {a for s in run_data(store, "other").steps for ids in s.outputs.values() for a in ids}
    assert {a.state for a in raw.get_artifacts_by_id(sorted(own))} == {pb.Artifact.LIVE}
    assert [r.name for r in get_runs(store=store)] == ["other"]


def test_an_execution_a_live_run_also_holds_keeps_its_outputs(plain_grpc, tmp_path):
    """The filter asks for executions whose every run is soft-deleted: a second, live run context keeps them."""
    from zen_mlmd.mlmd.deletion import soft_deleted_executions

    config, port = plain_grpc
    store = MetadataStore(config, store_name="kubeflow")
    training.run(stack=LocalTestStack(store, tmp_path / "artifacts"), quiet=True, run_name="gone")
    training.run(stack=LocalTestStack(store, tmp_path / "artifacts"), quiet=True, run_name="live", n=8)
    raw = mlmd.MetadataStore(config)
    gone = raw.get_context_by_type_and_name("pipeline_run", "gone")
    live = raw.get_context_by_type_and_name("pipeline_run", "live")
    gone_executions = sorted(e.id for e in raw.get_executions_by_context(gone.id))
    assert soft_deleted_executions(store, gone_executions) == set()  # nothing soft-deleted yet

    delete_runs(store, ["gone"])
    assert soft_deleted_executions(store, gone_executions) == set(gone_executions)
    # one of them is also associated with the live run: it is not gone
    raw.put_attributions_and_associations(
        [], [pb.Association(execution_id=gone_executions[0], context_id=live.id)])
    assert soft_deleted_executions(store, gone_executions) == set(gone_executions[1:])


def test_run_describe_shows_a_soft_deleted_run_as_deleted_and_listings_hide_it(plain_grpc, tmp_path):
    import json
    import re

    _, runner = _recorded_and_registered(plain_grpc, tmp_path, "described")
    before = runner.invoke(cli, ["run", "describe", "described", "--store", "kf"])
    assert before.exit_code == 0 and "deleted" not in before.output, before.output
    assert runner.invoke(cli, ["run", "delete", "described", "--store", "kf", "--yes"]).exit_code == 0

    listed = runner.invoke(cli, ["run", "list", "--store", "kf"])
    assert listed.exit_code == 0 and "described" not in listed.output, listed.output
    shown = runner.invoke(cli, ["run", "describe", "described", "--store", "kf"])
    assert shown.exit_code == 0, shown.output
    assert re.search(r"deleted at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(soft delete; rows remain\)",
                     shown.output), shown.output
    as_json = json.loads(runner.invoke(cli, ["run", "describe", "described", "--store", "kf",
                                             "--json"]).output)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", as_json["deleted_at"])
