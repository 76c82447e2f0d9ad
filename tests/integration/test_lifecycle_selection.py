"""Which runs retention and exports select, and deletion refusing a schema it does not know.

On SQLite files; the times the selections compare are the runs' own
recorded start times, with `now` fixed.
"""
from __future__ import annotations

import datetime as _dt
import json
import subprocess
import sys

import pytest

from recording_pipelines import training
from recording_pipelines import executed_cleared  # noqa: F401 (fixture)
from test_store_copy_sources import retraining
from tracking_helpers import LocalTestStack, sqlite_store
from zen_mlmd.errors import SchemaVersionError
from zen_mlmd.lifecycle import delete_runs
from zen_mlmd.lifecycle.archive import export_archive
from zen_mlmd.lifecycle.retention import RetentionPolicy, select_runs
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.mlmd.store_reading import select_runs as select_for_export


@pytest.fixture
def recorded(tmp_path):
    store = sqlite_store(tmp_path / "mlmd.sqlite")
    stack = LocalTestStack(store, tmp_path / "artifacts")
    for name, n in (("t-1", 4), ("t-2", 5), ("t-3", 6)):
        training.run(stack=stack, quiet=True, run_name=name, n=n)
    retraining.run(stack=stack, quiet=True, run_name="r-1", n=7)
    created = {r.name: r.created_ms for r in StoreReader(store).iter_runs()}
    assert created["t-1"] < created["t-2"] < created["t-3"] < created["r-1"]
    return store, created


def at(ms: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc)


def test_gc_older_than_selects_runs_started_before_now_minus_the_age(recorded):
    store, created = recorded
    day = _dt.timedelta(days=1)
    now = at(created["t-3"]) + day  # t-3 started exactly `day` ago: not older than it

    selected, _ = select_runs(store, RetentionPolicy(older_than=day), now=now)
    assert [r.name for r in selected] == ["t-2", "t-1"]  # newest first

    selected, _ = select_runs(store, RetentionPolicy(older_than=day, pipeline="retraining"), now=now)
    assert selected == []
    later = at(created["r-1"]) + 2 * day
    selected, _ = select_runs(store, RetentionPolicy(older_than=day, keep_last=1), now=later)
    assert [r.name for r in selected] == ["t-2", "t-1"]  # t-3 and r-1: newest of their pipelines


def test_export_selects_by_pipeline_and_since(recorded, tmp_path):
    store, created = recorded

    def exported_runs(pipeline=None, since_ms=None) -> set[str]:
        path = tmp_path / "archive.jsonl"
        export_archive(store, path, select_for_export(store, pipeline, since_ms))
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        return {r["name"] for r in lines if r["record"] == "context" and r["type"] == "pipeline_run"}

    assert exported_runs("retraining") == {"r-1"}
    assert exported_runs(since_ms=created["t-2"]) == {"t-2", "t-3", "r-1"}
    assert exported_runs("training", created["t-2"]) == {"t-2", "t-3"}
    assert exported_runs() == {"t-1", "t-2", "t-3", "r-1"}


def _set_schema_version(path, version: int) -> None:
    # another process: Python's SQLite must not share this one with MLMD's (see zen_mlmd.mlmd.journal)
    script = ("import sqlite3, sys\n"
              "c = sqlite3.connect(sys.argv[1])\n"
              "c.execute('UPDATE MLMDEnv SET schema_version = ?', (int(sys.argv[2]),))\n"
              "c.commit(); c.close()\n")
    subprocess.run([sys.executable, "-c", script, str(path), str(version)], check=True)


def test_deletion_refuses_a_schema_version_it_does_not_know(recorded, tmp_path):
    store, _ = recorded
    _set_schema_version(tmp_path / "mlmd.sqlite", 11)  # as a newer ml-metadata would leave it

    with pytest.raises(SchemaVersionError) as refused:
        delete_runs(store, ["t-1"])

    message = str(refused.value)
    assert "schema version 11" in message and "Fix:" in message
    _set_schema_version(tmp_path / "mlmd.sqlite", 10)
    assert "t-1" in {r.name for r in StoreReader(store).iter_runs()}  # nothing was deleted
