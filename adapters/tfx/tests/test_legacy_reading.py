"""Stores written in the legacy driver's shape (`run`/`component_run`), read through zen_mlmd."""
from __future__ import annotations

from tfx_fixtures import EXAMPLE_GEN, PIPELINE, TRAINER, open_reader
from ml_metadata.metadata_store import metadata_store as mlmd
from tfx_shapes import LegacyTfxWriter, sqlite_config

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.mlmd.store import MetadataStore


def test_legacy_pipeline_and_runs(legacy_store):
    reader = open_reader(legacy_store.path)
    [pipeline] = reader.list_pipelines()
    assert (pipeline.name, pipeline.convention) == (PIPELINE, "tfx_legacy")
    runs = list(reader.iter_runs(PIPELINE))
    assert [r.name for r in runs] == [f"{PIPELINE}.run-2", f"{PIPELINE}.run-1"]
    assert {(r.pipeline_name, r.convention) for r in runs} == {(PIPELINE, "tfx_legacy")}
    assert runs[1].properties["run_id"] == "run-1"
    assert reader.get_run(f"{PIPELINE}.run-1").id == legacy_store.runs["run1"].id


def test_legacy_components_states_parameters_and_lineage(legacy_store):
    reader = open_reader(legacy_store.path)
    data = reader.read_run(reader.get_run(f"{PIPELINE}.run-1"))
    steps = {s.name: s for s in data.steps}
    assert list(steps) == ["CsvExampleGen", "Trainer.taxi"]
    assert {s.state for s in data.steps} == {records.COMPLETE}
    assert steps["Trainer.taxi"].type_name == TRAINER
    assert steps["CsvExampleGen"].parameters == {"input_base": "/data/taxi"}
    assert steps["CsvExampleGen"].properties["run_id"] == "run-1"
    assert steps["Trainer.taxi"].inputs == {"examples": steps["CsvExampleGen"].outputs["examples"]}
    examples = data.artifacts[steps["CsvExampleGen"].outputs["examples"][0]]
    assert (examples.state, examples.properties["span"]) == ("LIVE", 3)
    assert examples.properties["split_names"] == ["train", "eval"]


def test_legacy_cached_component(legacy_store):
    reader = open_reader(legacy_store.path)
    data = reader.read_run(reader.get_run(f"{PIPELINE}.run-2"))
    [cached] = data.steps
    original = legacy_store.executions[("run1", "CsvExampleGen")]
    assert (cached.name, cached.state, cached.type_name) == ("CsvExampleGen", records.CACHED, EXAMPLE_GEN)
    assert cached.original_execution_id == original.id
    assert data.original_steps[original.id].name == "CsvExampleGen"
    assert data.original_runs[original.id] == f"{PIPELINE}.run-1"


def test_states_only_in_properties_as_the_earliest_legacy_versions_wrote(tmp_path):
    path = tmp_path / "old.db"
    writer = LegacyTfxWriter(mlmd.MetadataStore(sqlite_config(path)), "old", mirror_states=False)
    run = writer.start_run("r")
    _, out = writer.run_component(run, "Gen", EXAMPLE_GEN, outputs={"examples": [("ExamplesPath", {})]})
    started = writer._register(run, "Trainer", TRAINER, out, {})[0]  # started, never published
    reader = open_reader(path)
    data = reader.read_run(reader.get_run("old.r"))
    states = {s.name: s.state for s in data.steps}
    assert states == {"Gen": records.COMPLETE, "Trainer": records.RUNNING}
    assert data.steps[1].id == started.id
    assert data.artifacts[out["examples"][0].id].state == "LIVE"  # from the `published` property


def test_core_store_reader_reads_a_legacy_only_store(legacy_store):
    # Legacy TFX shares no run context type with the native convention, so the
    # core reader needs no per-context detection for it.
    reader = StoreReader(MetadataStore(sqlite_config(legacy_store.path)))
    assert [p.name for p in reader.list_pipelines()] == [PIPELINE]
    runs = list(reader.iter_runs())
    assert [r.convention for r in runs] == ["tfx_legacy", "tfx_legacy"]
    data = reader.read_run(runs[0])
    assert [(s.name, s.state) for s in data.steps] == [("CsvExampleGen", records.CACHED)]
