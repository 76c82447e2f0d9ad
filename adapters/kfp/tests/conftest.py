"""Fixtures: real ml-metadata stores (in memory and SQLite files) and a stack on them."""
from __future__ import annotations

import pytest

from zen_mlmd.mlmd.store import MetadataStore, in_memory_connection_config
from zen_mlmd.stack.components import ArtifactStoreComponent, MetadataStoreComponent, OrchestratorComponent
from zen_mlmd.stack.stack import Stack


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
