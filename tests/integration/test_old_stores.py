"""Stores written before records were made lean still read correctly.

tests/fixtures/native_schema1_store.sql is a store written by zen_mlmd at
commit a9d013b (native convention schema 1: every step execution carries
`task_name`, `step_name`, `pipeline_name`, `run_name`, `code_fingerprint`,
every output `display_name` and `output_index`); how it was made is in
tests/fixtures/make_native_store.py. It is loaded into a fresh
SQLite file and read with the current code, alone and after a new (current
schema) run was recorded into it.

tests/fixtures/native_schema4_store.sql is the same runs written at commit
3d8c559 (schema 4: an output's facts as one JSON object in `string_value`,
where schema 5 keeps a list in `proto_value`).
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tracking_helpers import journal_mode
from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.cache_query import find_cached_outputs
from zen_mlmd.mlmd.history import step_history
from zen_mlmd.mlmd.lineage_query import query_lineage
from zen_mlmd.mlmd.native import SCHEMA_VERSION
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.post_execution.api import get_run
from zen_mlmd.post_execution.session import ReadSession
from zen_mlmd.stack.components import MetadataStoreComponent
from zen_mlmd.tracking.explain import explain_run
from zen_mlmd.tracking.recorder import Recorder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = FIXTURES / "native_schema1_store.sql"
STEPS = ["load", "fit", "merge", "gate", "after_gate"]


def _loaded(fixture: Path, db: Path):
    connection = sqlite3.connect(db)
    connection.executescript(fixture.read_text())
    connection.close()
    return MetadataStoreComponent("old", "sqlite", {"path": str(db)}).open()


@pytest.fixture
def old_store(tmp_path: Path):
    db = tmp_path / "schema1.sqlite"
    store = _loaded(FIXTURE, db)
    yield store, db
    store.close()


@pytest.fixture
def schema4_store(tmp_path: Path):
    db = tmp_path / "schema4.sqlite"
    store = _loaded(FIXTURES / "native_schema4_store.sql", db)
    yield store, db
    store.close()


def test_the_fixture_is_a_schema_1_store(old_store):
    store, db = old_store
    assert journal_mode(db) == "wal"  # opened read-write: the file was switched
    run = store.raw.get_context_by_type_and_name("pipeline_run", "fixture-1")
    assert run.custom_properties["schema_version"].int_value == 1
    execution = store.raw.get_executions_by_context(run.id)[0]
    assert {"task_name", "step_name", "run_name", "pipeline_name", "code_fingerprint"} <= set(
        execution.custom_properties)


def test_old_runs_and_steps_read_as_they_did(old_store):
    store, _ = old_store
    reader = StoreReader(store)
    runs = {r.name: r for r in reader.iter_runs()}
    assert set(runs) == {"fixture-1", "fixture-2", "fixture-3", "manual-1"}
    assert {n: r.recorded_status for n, r in runs.items()} == {
        "fixture-1": "completed", "fixture-2": "completed", "fixture-3": "failed", "manual-1": "completed"}
    # its execution_cache contexts (schemas 1 and 2 wrote them) are the native convention's own
    assert any(c.type == "execution_cache" for c in store.raw.get_contexts())
    assert reader.unrecognised_contexts() == {}
    states = reader.run_step_states(list(runs.values()))
    assert states[runs["fixture-2"].id] == ("CACHED",) * 5
    assert sorted(states[runs["fixture-3"].id]) == ["CACHED", "CACHED", "CACHED", "CANCELED", "FAILED"]

    data = reader.read_run(runs["fixture-1"])
    steps = {s.name: s for s in data.steps}
    assert list(steps) == STEPS
    for step in data.steps:
        assert step.properties["run_name"] == "fixture-1"
        assert step.code_fingerprint.startswith("sha256:")
        assert step.cache_key and step.state == records.COMPLETE
    assert steps["fit"].parameters == {"lr": 0.5}
    assert steps["merge"].inputs == {"parts": (steps["load"].outputs["train"][0],
                                               steps["load"].outputs["test"][0])}
    outputs = {data.artifacts[i].properties["display_name"]: data.artifacts[i].properties["output_index"]
               for ids in steps["load"].outputs.values() for i in ids}
    assert outputs == {"train": 0, "test": 0}

    # one artifact on two inputs: the mapping stored on the execution
    manual = {s.name: s for s in reader.read_run(runs["manual-1"]).steps}
    assert manual["use"].inputs == {"left": manual["make"].outputs["data"],
                                    "right": manual["make"].outputs["data"]}
    assert manual["make"].code_fingerprint == "sha256:" + "1" * 64


def test_old_cache_entries_lineage_history_and_explanations_still_work(old_store):
    store, _ = old_store
    reader = StoreReader(store)
    first = {s.name: s for s in reader.read_run(reader.get_run("fixture-1")).steps}
    cached = find_cached_outputs(store, first["fit"].cache_key)
    assert cached.execution_id == first["fit"].id
    assert {n: [a.id for a in arts] for n, arts in cached.outputs.items()} == {
        "model": list(first["fit"].outputs["model"])}

    lineage = query_lineage(store, first["after_gate"].outputs["output"][0], "upstream", max_hops=10)
    assert {lineage.steps[i].name for i in lineage.steps} == {"load", "fit", "gate", "after_gate"}
    # the cached steps of the later runs output the same artifacts
    assert set(lineage.step_runs.values()) == {"fixture-1", "fixture-2", "fixture-3"}

    history = step_history(store, "fixture", "fit")
    assert [s.properties["run_name"] for s in history] == ["fixture-3", "fixture-2", "fixture-1"]

    explained = {e.step: e for e in explain_run(store, "fixture-2")}
    assert explained["fit"].status == "hit"
    assert explained["fit"].compared_with == f"fixture-1.fit (execution {first['fit'].id})"


def test_a_new_run_in_an_old_store_reads_beside_the_old_ones(old_store, tmp_path: Path):
    store, _ = old_store
    reader = StoreReader(store)
    old = {s.name: s for s in reader.read_run(reader.get_run("fixture-1")).steps}
    with Recorder(store).start_run("fixture", "fresh-1") as run:
        step = run.start_step("fit", "tests.fresh.fit", parameters={"lr": 0.9},
                              inputs={"train": old["load"].outputs["train"]}, cache_key="c" * 64,
                              code_fingerprint="sha256:" + "2" * 64,
                              cache_key_parts={"code": "sha256:" + "2" * 64})
        refs = step.publish({"model": records.OutputArtifact(
            uri=str(tmp_path / "m"), kind="model", materializer="builtins.json",
            data_type="builtins.dict", properties={"cache_key": "c" * 64})}, defer=True)
        after = run.start_step("gate", "tests.fresh.gate", inputs={"model": refs["model"]})
        after.publish({})

    fresh = reader.get_run("fresh-1")
    assert fresh.properties["schema_version"] == SCHEMA_VERSION == 5
    assert not [c for c in store.raw.get_contexts() if c.type == "execution_cache" and c.name == "c" * 64]
    new = {s.name: s for s in reader.read_run(fresh).steps}
    assert new["fit"].properties["run_name"] == "fresh-1"
    assert "step_name" not in new["fit"].properties and "task_name" not in new["fit"].properties
    assert new["fit"].code_fingerprint == "sha256:" + "2" * 64
    assert new["gate"].inputs == {"model": new["fit"].outputs["model"]}

    # one history, one listing, one lineage across both schema versions
    assert [s.properties["run_name"] for s in step_history(store, "fixture", "fit")][:2] == [
        "fresh-1", "fixture-3"]
    runs = list(reader.iter_runs("fixture"))
    states = reader.run_step_states(runs)
    assert states[fresh.id] == ("COMPLETE", "COMPLETE")
    lineage = query_lineage(store, new["fit"].outputs["model"][0], "upstream", max_hops=4)
    assert {lineage.step_runs[i] for i in lineage.steps} == {"fresh-1", "fixture-1", "fixture-2",
                                                             "fixture-3"}
    view = get_run("fresh-1", ReadSession(store, ArtifactStore(str(tmp_path))))
    assert view.get_step("fit").outputs["model"].name == "model"

    # schema 5 keeps an output's facts in one property, in a type that still declares
    # schema 1's typed properties; both layouts read alike, for the cache too
    [model] = store.raw.get_artifacts_by_id(new["fit"].outputs["model"])
    assert set(model.properties) == set() and set(model.custom_properties) == {"zen_mlmd_output", "cache_key"}
    [model_type] = store.raw.get_artifact_types_by_id([model.type_id])
    assert set(model_type.properties) == {"materializer", "data_type", "content_hash"}
    old_model = reader.read_run(reader.get_run("fixture-1")).artifacts[old["fit"].outputs["model"][0]]
    assert old_model.type_name == model_type.name and old_model.materializer
    assert set(old_model.properties) >= {"size_bytes", "producer_execution_id"}
    read = reader.read_run(fresh).artifacts[model.id]
    assert (read.materializer, read.data_type) == ("builtins.json", "builtins.dict")
    assert read.properties["producer_execution_id"] == new["fit"].id
    cached = find_cached_outputs(store, "c" * 64)
    assert cached.execution_id == new["fit"].id
    assert [(a.id, a.materializer) for a in cached.outputs["model"]] == [(model.id, "builtins.json")]


def _facts_rows(db: Path) -> dict[int, str | None]:
    """Each output's facts row: the text schema 4 wrote (None when not a string), read with sqlite3."""
    connection = sqlite3.connect(db)
    try:
        return dict(connection.execute(
            "SELECT artifact_id, string_value FROM ArtifactProperty WHERE name = 'zen_mlmd_output'"))
    finally:
        connection.close()


def test_schema_4_facts_read_as_written_and_serve_the_cache(schema4_store):
    store, db = schema4_store
    stored = {i: json.loads(text) for i, text in _facts_rows(db).items()}
    assert len(stored) == 7  # fixture-1's six outputs and manual-1's one
    reader = StoreReader(store)
    first = reader.read_run(reader.get_run("fixture-1"))
    assert reader.get_run("fixture-1").properties["schema_version"] == 4
    for artifact_id, facts in stored.items():
        if artifact_id not in first.artifacts:
            continue
        read = first.artifacts[artifact_id]
        assert (read.materializer, read.data_type, read.content_hash) == (
            facts["materializer"], facts["data_type"], facts["content_hash"])
        assert read.properties["size_bytes"] == facts["size_bytes"]
        assert read.properties["producer_execution_id"] == facts["producer_execution_id"]
        assert "zen_mlmd_output" not in read.properties
    fit = {s.name: s for s in first.steps}["fit"]
    cached = find_cached_outputs(store, fit.cache_key)
    [model] = cached.outputs["model"]
    assert cached.execution_id == fit.id == stored[model.id]["producer_execution_id"]
    assert (model.materializer, model.data_type, model.content_hash) == (
        stored[model.id]["materializer"], stored[model.id]["data_type"], stored[model.id]["content_hash"])


def test_a_schema_5_run_beside_schema_4_runs_reads_alike(schema4_store, tmp_path: Path):
    store, db = schema4_store
    reader = StoreReader(store)
    old = {s.name: s for s in reader.read_run(reader.get_run("fixture-1")).steps}
    with Recorder(store).start_run("fixture", "fresh-1") as run:
        step = run.start_step("fit", "tests.fresh.fit", inputs={"train": old["load"].outputs["train"]},
                              cache_key="d" * 64)
        step.publish({"model": records.OutputArtifact(
            uri=str(tmp_path / "m"), kind="model", materializer="builtins.json", data_type="builtins.dict",
            content_hash="sha256:" + "e" * 64, size_bytes=7, properties={"cache_key": "d" * 64})})
    fresh = reader.read_run(reader.get_run("fresh-1"))
    [new_fit] = fresh.steps
    [model_id] = new_fit.outputs["model"]
    [model] = store.raw.get_artifacts_by_id([model_id])
    assert model.custom_properties["zen_mlmd_output"].WhichOneof("value") == "proto_value"
    assert _facts_rows(db)[model_id] is None  # not a string: no MLMD index holds it
    read = fresh.artifacts[model_id]
    assert (read.materializer, read.data_type, read.content_hash) == (
        "builtins.json", "builtins.dict", "sha256:" + "e" * 64)
    assert (read.properties["size_bytes"], read.properties["producer_execution_id"]) == (7, new_fit.id)
    cached = find_cached_outputs(store, "d" * 64)
    assert cached.execution_id == new_fit.id
    assert [(a.id, a.content_hash) for a in cached.outputs["model"]] == [(model_id, "sha256:" + "e" * 64)]
    # the old and the new outputs on one lineage, both with their facts
    lineage = query_lineage(store, model_id, "upstream", max_hops=4)
    assert {lineage.step_runs[i] for i in lineage.steps} == {"fresh-1", "fixture-1", "fixture-2", "fixture-3"}
    assert all(a.materializer == "builtins.json" for a in lineage.artifacts.values())
