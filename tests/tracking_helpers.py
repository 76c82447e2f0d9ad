"""A minimal stack for recording tests: a given MetadataStore and a local artifact dir.

`Pipeline.run(stack=...)` needs `.name`, `.describe()`, `.metadata_store.open()`
and `.artifact_store.open()`. `LocalTestStack` hands out the *same*
`MetadataStore` object on every `open()`, so tests can count the MLMD calls
of several runs on one connection (and see types registered only once).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.mlmd.store import MetadataStore, in_memory_connection_config


@dataclass
class _Opener:
    """A stack component whose `open()` returns an already built object."""

    target: Any
    flavor: str

    def open(self):
        return self.target

    def describe(self) -> dict[str, Any]:
        return {"flavor": self.flavor}


def register_artifact_root(root: str | os.PathLike) -> None:
    """Register `root` as an artifact store in the test's private registry, as a
    user registers the stores they read from (readers open nothing elsewhere)."""
    import hashlib

    from zen_mlmd.errors import AlreadyExistsError
    from zen_mlmd.stack import StackRegistry

    name = "test-" + hashlib.sha1(str(root).encode()).hexdigest()[:12]
    try:
        StackRegistry().register_artifact_store(name, str(root))
    except AlreadyExistsError:
        pass


class LocalTestStack:
    """A stack over `store` (a MetadataStore) and a local artifact directory.

    The artifact directory is registered on this machine (`register_artifact_root`).

    Args:
        store: the metadata store every run records into.
        artifact_root: the artifact store's root directory (created if missing).
        name: the stack name recorded in run configs.
    """

    def __init__(self, store: MetadataStore, artifact_root: str | os.PathLike, name: str = "test"):
        Path(artifact_root).mkdir(parents=True, exist_ok=True)
        register_artifact_root(artifact_root)
        self.name = name
        self.store = store
        self.artifacts = ArtifactStore(str(artifact_root))
        self.metadata_store = _Opener(store, "test")
        self.artifact_store = _Opener(self.artifacts, "local")
        self.orchestrator = _Opener(None, "local")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metadata_store": self.metadata_store.describe(),
            "artifact_store": {"flavor": "local", "path": self.artifacts.root},
            "orchestrator": self.orchestrator.describe(),
        }


def in_memory_stack(tmp_path: Path, name: str = "test") -> LocalTestStack:
    """A stack over a fresh in-memory MLMD store and `tmp_path/artifacts`."""
    return LocalTestStack(MetadataStore(in_memory_connection_config(), store_name="memory"),
                          tmp_path / "artifacts", name=name)


def sqlite_store(path: str | os.PathLike) -> MetadataStore:
    """A MetadataStore on a SQLite file (created if missing)."""
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return MetadataStore(config, store_name="sqlite-test")


def journal_mode(path: str | os.PathLike) -> str:
    """The journal mode of a SQLite file, as SQLite reports it ("wal", "delete", ...).

    Asked in another process: Python's SQLite closing a handle on a file that
    MLMD has open in this process would release MLMD's locks on it (see
    `zen_mlmd.mlmd.journal`).
    """
    import subprocess
    import sys

    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "print(c.execute('PRAGMA journal_mode').fetchone()[0])")
    done = subprocess.run([sys.executable, "-c", code, os.fspath(path)], capture_output=True,
                          text=True, check=True, timeout=60)
    return done.stdout.strip()
