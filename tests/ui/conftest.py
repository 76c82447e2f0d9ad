"""Fixtures of the web view's tests: native runs recorded on a backend, the app over them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from post_execution_helpers import LocalTestStack, record_training
from ui_helpers import chromium, register_store, ui_client  # noqa: F401  (chromium: a fixture)

#: The web view is tested on the embedded default and on the production backend.
UI_BACKENDS = ["sqlite", "mysql"]


@dataclass
class NativeRuns:
    """Three training runs: C=1.0, C=2.0, then C=2.0 again (every step served from the cache)."""

    names: list[str]
    store_name: str
    artifact_root: Path
    client: object
    opener: object


@pytest.fixture
def native_runs(metadata_store, backend, tmp_path) -> NativeRuns:
    artifact_root = tmp_path / "artifacts"
    stack = LocalTestStack(metadata_store, artifact_root)
    names = [record_training(stack, C=1.0), record_training(stack, C=2.0), record_training(stack, C=2.0)]
    store_name = register_store(backend, "ui", artifact_root)
    client, opener = ui_client(store_name)
    return NativeRuns(names, store_name, artifact_root, client, opener)
