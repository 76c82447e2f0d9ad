"""SQLite stores in write-ahead-log mode: set when zen_mlmd opens them read-write.

* A store opened through the sqlite flavor is in WAL mode; `journal_mode:
  delete` keeps (or puts back) SQLite's rollback journal; a read-only open
  changes nothing; our gRPC server does the same for the file it serves.
* A reader in another process, opening the store read-only as reading
  commands do (`open(read_only=True)`, again and again), lists runs and
  reads the newest one while a writer process records: every open and read
  succeeds (no "database is locked") and the reader sees the store grow.
The concurrency test (test_concurrency.py) checks that its writers shared a
WAL file; the retries that wait for another writer's lock are in
test_faults.py.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ml_metadata.proto import metadata_store_pb2 as pb

from backends import GrpcServer, connection_config, sqlite_spec
from tracking_helpers import journal_mode
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.stack.components import MetadataStoreComponent

REPO = Path(__file__).resolve().parents[2]
WAIT_LIMIT = 120.0  # a bound on waiting for the processes, never a measurement


def _component(db: Path, **options) -> MetadataStoreComponent:
    return MetadataStoreComponent("local", "sqlite", {"path": str(db), **options})


def _rollback_journal_file(db: Path) -> None:
    """A store created by plain ml-metadata, in SQLite's default journal mode."""
    from ml_metadata.metadata_store import metadata_store as plain

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(db)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    plain.MetadataStore(config).put_context_type(pb.ContextType(name="made_by_plain_mlmd"))


def test_a_new_store_opened_through_the_flavor_is_in_wal_mode(tmp_path: Path):
    db = tmp_path / "new" / "metadata.db"
    store = _component(db).open()
    store.get_context_types()
    assert journal_mode(db) == "wal"


def test_an_existing_store_is_switched_to_wal_and_back(tmp_path: Path):
    db = tmp_path / "metadata.db"
    _rollback_journal_file(db)
    assert journal_mode(db) == "delete"
    # read-only: the file is not touched
    _component(db, connection_mode="readonly").open().get_context_types()
    assert journal_mode(db) == "delete"
    store = _component(db).open()
    assert journal_mode(db) == "wal"
    assert [t.name for t in store.get_context_types()] == ["made_by_plain_mlmd"]
    store.close()
    del store
    gc.collect()  # the MLMD connection is closed: nothing uses the file any more
    # for a network file system: the rollback journal again
    _component(db, journal_mode="delete").open().get_context_types()
    assert journal_mode(db) == "delete"


CHILD_WRITER = textwrap.dedent('''
    import sys
    from ml_metadata.proto import metadata_store_pb2 as pb
    from zen_mlmd.stack.components import MetadataStoreComponent

    store = MetadataStoreComponent("local", "sqlite", {"path": sys.argv[1]}).open()
    type_id = store.type_id("context", pb.ContextType(name="written_elsewhere"))
    store.put_contexts([pb.Context(type_id=type_id, name=f"{sys.argv[2]}-{i}") for i in range(50)])
''')


def test_opening_a_store_again_keeps_the_log_of_the_first_connection(tmp_path: Path):
    """A second open in a process that has the store open leaves the file alone.

    Were it read there (with a second copy of SQLite, or even a plain open),
    closing that handle would release the first connection's locks, and the
    next process to close its own connection would delete the write-ahead log
    under it: "database disk image is malformed".
    """
    db = tmp_path / "shared.db"
    first = _component(db).open()
    first.get_context_types()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for round_ in range(3):
        again = _component(db).open()  # e.g. the next run of a long-lived process
        subprocess.run([sys.executable, "-c", CHILD_WRITER, str(db), f"r{round_}"], env=env, check=True,
                       timeout=WAIT_LIMIT)
        for store in (first, again):
            assert len(store.get_contexts_by_type("written_elsewhere")) == 50 * (round_ + 1)
    assert Path(f"{db}-wal").exists() and Path(f"{db}-shm").exists()


def test_the_journal_mode_option_is_validated(tmp_path: Path):
    import pytest

    from zen_mlmd.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        _ = _component(tmp_path / "x.db", journal_mode="truncate").config
    assert "journal_mode='truncate'" in str(raised.value) and "wal or delete" in str(raised.value)


def test_the_grpc_server_serves_its_sqlite_file_in_wal_mode(tmp_path: Path):
    for mode, expected in (("default", "wal"), ("delete", "delete")):
        workdir = tmp_path / mode
        database = connection_config(sqlite_spec(workdir))
        extra = () if mode == "default" else ("--sqlite-journal", mode)
        with GrpcServer(database, workdir, extra) as server:
            client = MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=server.port))
            client.raw.put_context_type(pb.ContextType(name="served"))
            assert journal_mode(workdir / "mlmd.sqlite") == expected, mode


# -- a reader next to a writer ------------------------------------------------------------------
WRITER = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from zen_mlmd.mlmd.records import OutputArtifact
    from zen_mlmd.stack.components import MetadataStoreComponent
    from zen_mlmd.tracking.recorder import Recorder

    db, ready, done, runs, steps = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    recorder = Recorder(MetadataStoreComponent("local", "sqlite", {"path": db}).open())
    while not ready.exists():  # the reader has opened the store and reads
        time.sleep(0.01)
    for r in range(runs):
        with recorder.start_run("busy", f"busy-{r:03d}") as run:
            inputs = None
            for i in range(steps):
                step = run.start_step(f"step_{i}", "tests.busy", parameters={"i": i}, inputs=inputs)
                refs = step.publish({"out": OutputArtifact(uri=f"/busy/{r}/{i}", kind="data",
                                     materializer="builtins.json", data_type="builtins.dict")}, defer=True)
                inputs = {"x": refs["out"]}
    done.touch()
''')

READER = textwrap.dedent('''
    import json, sys, time
    from pathlib import Path
    from zen_mlmd.mlmd.reader import StoreReader
    from zen_mlmd.stack.components import MetadataStoreComponent

    db, ready, done, result = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    def open_reader():
        # as every reading command opens a store (preflight included)
        return StoreReader(MetadataStoreComponent("local", "sqlite", {"path": db}).open(read_only=True))

    reader = open_reader()
    reader.list_pipelines()
    ready.touch()
    seen, errors, reads = [], [], 0
    while True:
        finished = done.exists()
        try:
            if reads % 5 == 4:  # opened again while the writer writes
                reader = open_reader()
            runs = list(reader.iter_runs("busy"))
            newest = reader.read_run(runs[0]) if runs else None
            seen.append([len(runs), len(newest.steps) if newest else 0])
        except Exception as exc:  # what a locked database would raise
            errors.append(f"{type(exc).__name__}: {exc}")
        reads += 1
        if finished:
            break
    result.write_text(json.dumps({"reads": reads, "errors": errors, "seen": seen}))
''')


def test_a_reader_in_another_process_reads_while_a_run_writes(tmp_path: Path):
    db = tmp_path / "busy.db"
    _component(db).open().get_context_types()  # the store exists before both start
    ready, done, result = tmp_path / "ready", tmp_path / "done", tmp_path / "reader.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    runs, steps = 10, 30
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(ready), str(done),
                               str(runs), str(steps)], env=env, stderr=subprocess.PIPE, text=True)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db), str(ready), str(done), str(result)],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.wait(WAIT_LIMIT) == 0, writer.stderr.read()[-3000:]
        assert reader.wait(WAIT_LIMIT) == 0, reader.stderr.read()[-3000:]
    finally:
        for process in (writer, reader):
            if process.poll() is None:
                process.kill()
                process.wait()
    found = json.loads(result.read_text())
    assert found["errors"] == [], found["errors"][:3]
    # it read again and again while the writer wrote, and saw the store grow
    assert found["reads"] >= 5, found
    progress = {tuple(s) for s in found["seen"]}
    assert len(progress) >= 3, found["seen"]
    assert found["seen"][-1] == [runs, steps]
    assert journal_mode(db) == "wal"
