"""`zen-mlmd run list` on a store that holds contexts no installed convention reads."""
from __future__ import annotations

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.stack import StackRegistry


def register_store(config_home, path) -> None:
    StackRegistry(config_home).register_metadata_store("other", "sqlite", {"path": str(path)})


def raw_store(path) -> metadata_store.MetadataStore:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)


def test_contexts_no_convention_reads_are_counted_by_type(run, config_home, tmp_path):
    store = raw_store(tmp_path / "other.db")
    experiment = store.put_context_type(pb.ContextType(name="mlflow.Experiment"))
    trial = store.put_context_type(pb.ContextType(name="katib.Trial"))
    store.put_contexts([pb.Context(type_id=experiment, name="e1"), pb.Context(type_id=experiment, name="e2"),
                        pb.Context(type_id=trial, name="t1")])
    register_store(config_home, tmp_path / "other.db")
    text = run("run", "list", "--store", "other").output
    assert "3 contexts of types katib.Trial, mlflow.Experiment are not recognised" in text
    assert "Fix: install the zen_mlmd adapter" in text
    assert "No runs recorded yet" not in text


def test_an_empty_store_has_no_runs_yet(run, config_home, tmp_path):
    raw_store(tmp_path / "empty.db")
    register_store(config_home, tmp_path / "empty.db")
    assert "No runs recorded yet." in run("run", "list", "--store", "other").output
