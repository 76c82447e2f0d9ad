"""Stores written in the portable launcher's shape, read through zen_mlmd."""
from __future__ import annotations

from tfx_fixtures import EXAMPLE_GEN, PIPELINE, STATISTICS_GEN, TRAINER, open_reader
from ml_metadata.metadata_store import metadata_store as mlmd
from tfx_shapes import PortableTfxWriter, sqlite_config

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.convention_registry import get_convention


def _steps_by_name(data: records.RunData) -> dict[str, records.StepRecord]:
    return {step.name: step for step in data.steps}


def test_the_tfx_conventions_are_registered_through_entry_points():
    assert get_convention("tfx").run_context_type == "pipeline_run"
    assert get_convention("tfx_legacy").run_context_type == "run"


def test_the_pipeline_is_listed_once_as_tfx(portable_store):
    reader = open_reader(portable_store.path)
    [pipeline] = reader.list_pipelines()
    assert (pipeline.name, pipeline.convention) == (PIPELINE, "tfx")
    assert reader.get_pipeline(PIPELINE).convention == "tfx"


def test_runs_are_listed_newest_first_with_their_pipeline(portable_store):
    reader = open_reader(portable_store.path)
    runs = list(reader.iter_runs())
    assert [r.name for r in runs] == ["2024-01-02T00:00:00.000001", "2024-01-01T00:00:00.000001"]
    assert {r.pipeline_name for r in runs} == {PIPELINE}
    assert {r.convention for r in runs} == {"tfx"}
    assert [r.name for r in reader.iter_runs(PIPELINE)] == [r.name for r in runs]
    assert list(reader.iter_runs("other_pipeline")) == []


def test_a_run_by_its_tfx_run_id(portable_store):
    run = open_reader(portable_store.path).get_run("2024-01-01T00:00:00.000001")
    assert run.id == portable_store.runs["run1"].id
    assert (run.pipeline_name, run.convention) == (PIPELINE, "tfx")


def test_component_executions_are_named_by_their_node_and_typed_by_class(portable_store):
    reader = open_reader(portable_store.path)
    data = reader.read_run(reader.get_run("2024-01-01T00:00:00.000001"))
    steps = _steps_by_name(data)
    assert list(steps) == ["CsvExampleGen", "StatisticsGen", "SchemaGen", "Trainer"]
    assert {s.state for s in data.steps} == {records.COMPLETE}
    assert steps["CsvExampleGen"].type_name == EXAMPLE_GEN
    assert steps["Trainer"].type_name == TRAINER
    assert steps["CsvExampleGen"].parameters == {"input_base": "/data/taxi", "output_data_format": 6}
    assert steps["Trainer"].parameters["train_args"] == '{"num_steps": 100}'
    assert steps["Trainer"].end_ms is not None
    assert steps["CsvExampleGen"].cache_key == portable_store.cache_keys[("run1", "CsvExampleGen")]


def test_artifacts_keep_tfx_properties_and_states(portable_store):
    reader = open_reader(portable_store.path)
    data = reader.read_run(reader.get_run("2024-01-01T00:00:00.000001"))
    [examples_id] = _steps_by_name(data)["CsvExampleGen"].outputs["examples"]
    examples = data.artifacts[examples_id]
    assert examples.type_name == "Examples"
    assert examples.base_type == "DATASET"
    assert examples.state == "LIVE"
    assert examples.properties["span"] == 1
    assert examples.properties["version"] == 0
    assert examples.properties["split_names"] == ["train", "eval"]
    # TFX 1.x keeps a state MLMD has a value for in Artifact.state only (tfx/types/artifact.py)
    assert "state" not in examples.properties
    assert examples.properties["tfx_version"] == "1.14.0"
    assert data.artifacts[_steps_by_name(data)["Trainer"].outputs["model"][0]].base_type == "MODEL"


def test_lineage_links_outputs_to_the_inputs_of_later_components(portable_store):
    reader = open_reader(portable_store.path)
    data = reader.read_run(reader.get_run("2024-01-01T00:00:00.000001"))
    steps = _steps_by_name(data)
    examples = steps["CsvExampleGen"].outputs["examples"]
    assert steps["StatisticsGen"].inputs == {"examples": examples}
    assert steps["Trainer"].inputs == {"examples": examples, "schema": steps["SchemaGen"].outputs["schema"]}
    # each output listed once although it has a PENDING_OUTPUT and an OUTPUT event
    assert all(len(ids) == 1 for s in data.steps for ids in s.outputs.values())
    assert data.producers[examples[0]] == (steps["CsvExampleGen"].id, "examples")


def test_cached_components_point_at_the_execution_they_reused(portable_store):
    reader = open_reader(portable_store.path)
    data = reader.read_run(reader.get_run("2024-01-02T00:00:00.000001"))
    steps = _steps_by_name(data)
    original = portable_store.executions[("run1", "CsvExampleGen")]
    cached = steps["CsvExampleGen"]
    assert cached.state == records.CACHED
    assert cached.original_execution_id == original.id
    assert cached.cache_key == portable_store.cache_keys[("run1", "CsvExampleGen")]
    assert cached.outputs == {"examples": (portable_store.artifacts[("run1", "CsvExampleGen", "examples")][0].id,)}
    assert steps["StatisticsGen"].original_execution_id == portable_store.executions[("run1", "StatisticsGen")].id
    assert data.original_steps[original.id].name == "CsvExampleGen"
    assert data.original_steps[original.id].state == records.COMPLETE
    assert data.original_runs[original.id] == "2024-01-01T00:00:00.000001"


def test_a_failed_component_keeps_its_pending_outputs(portable_store):
    reader = open_reader(portable_store.path)
    data = reader.read_run(reader.get_run("2024-01-02T00:00:00.000001"))
    trainer = _steps_by_name(data)["Trainer"]
    assert trainer.state == records.FAILED
    # the launcher joins the cache context at publish, a failed publish included
    assert trainer.cache_key not in ("", portable_store.cache_keys[("run1", "Trainer")])
    [model_id] = trainer.outputs["model"]
    assert data.artifacts[model_id].state == "PENDING"
    assert model_id not in data.producers


def _write_run(writer, run_id, components):
    run = writer.start_run(run_id)
    _, out = writer.run_component(run, "Gen0", EXAMPLE_GEN, outputs={"examples": [("Examples", {"span": 1})]})
    for index in range(1, components):
        _, out = writer.run_component(run, f"Stats{index}", STATISTICS_GEN, inputs={"examples": out["examples"]},
                                      outputs={"examples": [("Examples", {"span": index})]})


def test_reading_a_run_costs_the_same_calls_for_3_or_30_components(tmp_path):
    path = tmp_path / "sizes.db"
    writer = PortableTfxWriter(mlmd.MetadataStore(sqlite_config(path)), "sizes")
    _write_run(writer, "small", 3)
    _write_run(writer, "large", 30)
    counts = {}
    for run_id in ("small", "large"):
        reader = open_reader(path)
        run = reader.get_run(run_id)
        reader.store.reset_counts()
        data = reader.read_run(run)
        assert len(data.steps) == {"small": 3, "large": 30}[run_id]
        counts[run_id] = reader.store.total_calls
    assert counts["small"] == counts["large"]


def test_every_component_of_a_run_longer_than_a_page_is_named(tmp_path):
    # MLMD drops lineage starting nodes beyond ~100: contexts must be paged.
    path = tmp_path / "long.db"
    writer = PortableTfxWriter(mlmd.MetadataStore(sqlite_config(path)), "long")
    _write_run(writer, "long-run", 130)
    reader = open_reader(path)
    data = reader.read_run(reader.get_run("long-run"))
    assert [s.name for s in data.steps] == ["Gen0", *(f"Stats{i}" for i in range(1, 130))]


def test_statuses_of_listed_tfx_runs_cost_no_call_per_run(portable_store):
    """TFX executions carry no run name: they are matched to runs through their contexts."""
    reader = open_reader(portable_store.path)
    runs = list(reader.iter_runs())
    assert len(runs) == 2
    expected = {run.id: tuple(step.state for step in reader.read_run_steps(run)) for run in runs}
    reader.store.reset_counts()
    assert {k: tuple(sorted(v)) for k, v in reader.run_step_states(runs).items()} == {
        k: tuple(sorted(v)) for k, v in expected.items()}
    assert reader.store.calls["GetExecutions"] == 1
    assert reader.store.calls["GetLineageSubgraph"] == 1
    assert reader.store.calls["GetExecutionsByContext"] == 0
