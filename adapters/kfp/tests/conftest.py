"""Fixtures: real ml-metadata stores (in memory and SQLite files), a stack on them, and stores KFP wrote."""
from __future__ import annotations

import os
import sys

import pytest
from ml_metadata.metadata_store import metadata_store

from zen_mlmd.mlmd.store import MetadataStore, in_memory_connection_config
from zen_mlmd.stack.components import ArtifactStoreComponent, MetadataStoreComponent, OrchestratorComponent
from zen_mlmd.stack.stack import Stack

# the fixture writers next to the tests (kfp_v2_client, kfp_v2_runs, ...) import each other
sys.path.insert(0, os.path.dirname(__file__))
from kfp_v2_client import sqlite_config  # noqa: E402


@pytest.fixture
def memory_store() -> MetadataStore:
    return MetadataStore(in_memory_connection_config(), store_name="memory")


@pytest.fixture
def sqlite_stack(tmp_path) -> Stack:
    """A stack of a SQLite metadata store and a local artifact store under tmp_path."""
    return Stack(
        "kfp-test",
        MetadataStoreComponent("kfp-test-db", "sqlite", {"path": str(tmp_path / "metadata.db")}),
        ArtifactStoreComponent("kfp-test-artifacts", str(tmp_path / "artifacts")),
        OrchestratorComponent("kfp-test-orchestrator", "kubeflow"),
    )


@pytest.fixture
def foreign_store(tmp_path):
    """(plain ml_metadata store, zen_mlmd store) on one SQLite file: KFP's code writes through the first."""
    config = sqlite_config(tmp_path / "kfp-written.db")
    raw = metadata_store.MetadataStore(config)
    return raw, MetadataStore(config, store_name="kfp-written")


@pytest.fixture
def kfp_v2_runs(foreign_store):
    """Two runs recorded as KFP v2's driver and launcher record them (`kfp_v2_runs`)."""
    from kfp_v2_runs import write_training_runs

    raw, store = foreign_store
    first, second = write_training_runs(raw)
    return store, first, second
