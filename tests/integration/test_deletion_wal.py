"""Deleting runs from a SQLite store in WAL mode that other processes hold open and write.

The deletion's SQL runs in Python's sqlite3, a second copy of SQLite beside
ml-metadata's. In the process holding MLMD's connection, closing such a
handle would release MLMD's locks; another process closing its own
connection would then take itself for the last user and delete the
write-ahead log under MLMD: writes lost, "disk I/O error", a malformed file
(see `zen_mlmd.mlmd.journal` and `zen_mlmd.mlmd.sqlite_process`). Here the
process deleting holds MLMD connections (zen_mlmd's and plain
ml_metadata's) and writes before and after; another process holds the store
open, writes, and closes its connection after the deletion; then this
process writes again. Every write must be in the file, the file must be
sound, and the deleted run gone. The second test deletes from another
process (`zen-mlmd run delete`) while this one holds the store and records.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ml_metadata.metadata_store import metadata_store as mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

from backends import BackendSpec
from lifecycle_helpers import assert_store_consistent, integrity
from recording_pipelines import training
from tracking_helpers import LocalTestStack, journal_mode
from zen_mlmd.lifecycle import delete_runs
from zen_mlmd.post_execution import get_runs
from zen_mlmd.stack.components import MetadataStoreComponent

REPO = Path(__file__).resolve().parents[2]
WAIT_LIMIT = 120.0  # a bound on waiting for the other process, never a measurement

# Holds the store open with ml_metadata, writes contexts when told, closes when told.
HOLDER = textwrap.dedent('''
    import sys
    from ml_metadata.metadata_store import metadata_store as mlmd
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = sys.argv[1]
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE
    store = mlmd.MetadataStore(config)
    type_id = store.put_context_type(pb.ContextType(name="held_elsewhere"))
    written = 0
    for line in sys.stdin:
        command, _, count = line.strip().partition(" ")
        if command == "write":
            for _ in range(int(count)):
                store.put_contexts([pb.Context(type_id=type_id, name=f"held-{written}")])
                written += 1
            print(written, flush=True)
        elif command == "close":
            del store  # ml_metadata's connection closes with its store
            print("closed", flush=True)
            break
''')


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}


class Holder:
    """Another process with the store open (see HOLDER)."""

    def __init__(self, db: Path):
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=_env())

    def tell(self, command: str) -> str:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        assert answer, f"the holder process ended: {self.process.stderr.read()}"
        return answer

    def close(self) -> None:
        assert self.tell("close") == "closed"
        self.process.stdin.close()
        assert self.process.wait(timeout=WAIT_LIMIT) == 0, self.process.stderr.read()


# What the file holds, read by ml_metadata in a process of its own: a fresh
# connection in this process would share this process's view of the log.
READER = textwrap.dedent('''
    import json, sys
    from ml_metadata.metadata_store import metadata_store as mlmd
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = sys.argv[1]
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
    store = mlmd.MetadataStore(config)
    names = {t.name for t in store.get_context_types()}
    print(json.dumps({kind: sorted(c.name for c in store.get_contexts_by_type(kind))
                      for kind in ("pipeline_run", "held_elsewhere", "written_here") if kind in names}))
''')


def read_elsewhere(db: Path) -> dict[str, list[str]]:
    """Context names by type (runs, the holder's, this process's), read in another process."""
    done = subprocess.run([sys.executable, "-c", READER, str(db)], capture_output=True, text=True,
                          timeout=WAIT_LIMIT, env=_env())
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_deletion_beside_mlmd_connections_here_and_in_another_process_loses_no_write(tmp_path):
    db = tmp_path / "metadata.db"
    store = MetadataStoreComponent("local", "sqlite", {"path": str(db)}).open()
    stack = LocalTestStack(store, tmp_path / "artifacts")
    training.run(stack=stack, quiet=True, run_name="run-1", n=3)
    training.run(stack=stack, quiet=True, run_name="run-2", n=4)
    assert journal_mode(db) == "wal" and Path(f"{db}-shm").exists()  # MLMD holds it in WAL mode
    plain = mlmd.MetadataStore(store.connection_config)  # a second MLMD connection in this process
    holder = Holder(db)
    try:
        assert holder.tell("write 5") == "5"

        report = delete_runs(store, ["run-1"], artifact_stores=[stack.artifacts])
        assert report.executions == 4 and report.artifacts

        assert holder.tell("write 5") == "10"  # the other process writes after the deletion
        training.run(stack=stack, quiet=True, run_name="run-3", n=5)  # and so does this one
        plain.put_context_type(pb.ContextType(name="written_here"))
        holder.close()  # the other process lets go of the file
    finally:
        if holder.process.poll() is None:
            holder.process.kill()
    # writes after the other process closed its connection: the moment a lost
    # lock would have let it delete the write-ahead log
    training.run(stack=stack, quiet=True, run_name="run-4", n=6)
    [written_here] = [t for t in plain.get_context_types() if t.name == "written_here"]
    plain.put_contexts([pb.Context(type_id=written_here.id, name="after-close")])
    assert [r.name for r in get_runs(store=store)] == ["run-4", "run-3", "run-2"]

    # what another process reads in the file: every write is there, the file is sound
    assert read_elsewhere(db) == {"pipeline_run": ["run-2", "run-3", "run-4"],
                                  "held_elsewhere": [f"held-{i}" for i in range(10)],
                                  "written_here": ["after-close"]}
    assert integrity(db) == "ok"
    assert_store_consistent(BackendSpec("sqlite", "sqlite", {"path": str(db)}))
    store.close()
    del plain


def test_a_deletion_from_another_process_while_this_one_records(tmp_path, config_dir):
    db = tmp_path / "metadata.db"
    store = MetadataStoreComponent("local", "sqlite", {"path": str(db)}).open()
    stack = LocalTestStack(store, tmp_path / "artifacts")
    training.run(stack=stack, quiet=True, run_name="run-1", n=3)
    training.run(stack=stack, quiet=True, run_name="run-2", n=4)
    from zen_mlmd.stack import StackRegistry

    StackRegistry().register_metadata_store("shared", "sqlite", {"path": str(db)})
    deleting = subprocess.Popen(
        [sys.executable, "-m", "zen_mlmd.cli.main", "run", "delete", "run-1", "--store", "shared",
         "--yes", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**_env(), "ZEN_MLMD_CONFIG_DIR": os.environ["ZEN_MLMD_CONFIG_DIR"]})
    training.run(stack=stack, quiet=True, run_name="run-3", n=5)  # recording meanwhile
    out, err = deleting.communicate(timeout=WAIT_LIMIT)
    assert deleting.returncode == 0, err
    assert json.loads(out)["runs"] == ["run-1"]
    training.run(stack=stack, quiet=True, run_name="run-4", n=6)  # after the other process ended
    assert [r.name for r in get_runs(store=store)] == ["run-4", "run-3", "run-2"]
    assert read_elsewhere(db) == {"pipeline_run": ["run-2", "run-3", "run-4"]}
    assert integrity(db) == "ok"
    assert_store_consistent(BackendSpec("sqlite", "sqlite", {"path": str(db)}))
    store.close()
