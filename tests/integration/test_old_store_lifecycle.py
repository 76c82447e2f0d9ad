"""Deleting and copying runs of a store written before lean records (native schema 1).

tests/fixtures/native_schema1_store.sql is a store zen_mlmd wrote at commit
a9d013b (how: tests/fixtures/make_native_store.py): `fixture-1`,
`fixture-2` (served from fixture-1's cache), `fixture-3` (partly cached, a
failed step and a canceled one) and `manual-1`. A run in the current schema (`fresh-1`,
lean records) is added, consuming one of fixture-1's outputs. Deleting the
old runs keeps what a kept run still uses; copying the store keeps both
schemas reading as they did.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from backends import BackendSpec
from lifecycle_helpers import assert_store_consistent, plain_store
from zen_mlmd.lifecycle import delete_runs
from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.copying import copy_store
from zen_mlmd.mlmd.native import SCHEMA_VERSION
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.stack.components import MetadataStoreComponent
from zen_mlmd.tracking.recorder import Recorder

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "native_schema1_store.sql"


@pytest.fixture
def old_store(tmp_path: Path):
    """(store, backend spec) of the schema-1 fixture with a schema-2 run `fresh-1` added."""
    db = tmp_path / "schema1.sqlite"
    connection = sqlite3.connect(db)  # no MLMD connection to the file exists yet
    connection.executescript(FIXTURE.read_text())
    connection.close()
    store = MetadataStoreComponent("old", "sqlite", {"path": str(db)}).open()
    reader = StoreReader(store)
    old = {s.name: s for s in reader.read_run(reader.get_run("fixture-1")).steps}
    with Recorder(store).start_run("fixture", "fresh-1") as run:
        step = run.start_step("fit", "tests.fresh.fit", parameters={"lr": 0.9},
                              inputs={"train": old["load"].outputs["train"]}, cache_key="c" * 64,
                              code_fingerprint="sha256:" + "2" * 64,
                              cache_key_parts={"code": "sha256:" + "2" * 64})
        step.publish({"model": records.OutputArtifact(
            uri=str(tmp_path / "m"), kind="model", materializer="builtins.json",
            data_type="builtins.dict", properties={"cache_key": "c" * 64})})
    yield store, BackendSpec("sqlite", "sqlite", {"path": str(db)})
    store.close()


def steps_of(store, name: str) -> list[tuple]:
    reader = StoreReader(store)
    data = reader.read_run(reader.get_run(name))
    return [(s.id, s.name, s.state, s.inputs, s.outputs, s.parameters) for s in data.steps]


def outputs_of(steps) -> set[int]:
    return {a for step in steps for ids in step[4].values() for a in ids}


def test_schema_1_runs_are_deleted_and_what_kept_runs_use_stays(old_store):
    store, backend = old_store
    raw = plain_store(backend)
    before = {n: steps_of(store, n) for n in ("fixture-1", "fixture-2", "fixture-3", "manual-1", "fresh-1")}
    assert {s[2] for s in before["fixture-2"]} == {"CACHED"}
    outputs = outputs_of(before["fixture-1"])
    assert outputs_of(before["fixture-2"]) == outputs  # every output reused through the cache
    train = dict(before["fresh-1"][0][3])["train"]  # fresh-1 consumes fixture-1's `train`

    report = delete_runs(store, ["fixture-1"])

    assert report.executions == 5 and report.artifacts == ()
    assert {a.id for a in report.kept} == outputs
    assert raw.get_executions_by_id([s[0] for s in before["fixture-1"]]) == []
    assert raw.get_context_by_type_and_name("pipeline_run", "fixture-1") is None
    for name in ("fixture-2", "fixture-3", "manual-1", "fresh-1"):
        assert steps_of(store, name) == before[name], name
    assert_store_consistent(backend)

    report = delete_runs(store, ["fixture-2", "fixture-3"])

    gone = (outputs | outputs_of(before["fixture-3"])) - set(train)
    assert {a.id for a in report.kept} == set(train)  # fresh-1 still uses it
    assert {a.id for a in report.artifacts} == gone
    assert raw.get_artifacts_by_id(sorted(gone)) == []
    assert {r.name for r in StoreReader(store).iter_runs()} == {"manual-1", "fresh-1"}
    for name in ("manual-1", "fresh-1"):
        assert steps_of(store, name) == before[name], name
    assert_store_consistent(backend)


def read_all(store) -> dict:
    reader = StoreReader(store)
    return {(r.name, r.created_ms, tuple(sorted(r.properties.items(), key=str))): [
        (s.id, s.name, s.state, s.inputs, s.outputs, s.parameters, sorted(s.properties.items(), key=str),
         s.start_ms, s.end_ms) for s in reader.read_run(r).steps] for r in reader.iter_runs()}


@pytest.mark.parametrize("backend", ["mysql", "postgresql"], indirect=True)
def test_a_store_of_both_schemas_copies_and_reads_the_same(old_store, backend, metadata_store):
    store, _ = old_store
    counts = copy_store(store, metadata_store)
    assert counts["execution"] == len(plain_store(backend).get_executions())
    source = read_all(store)
    assert {dict(key[2]).get("schema_version") for key in source} == {1, SCHEMA_VERSION}
    assert read_all(metadata_store) == source
