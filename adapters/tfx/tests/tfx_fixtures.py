"""Fixtures: SQLite stores written in TFX's shapes, and readers over them."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ml_metadata.metadata_store import metadata_store as mlmd

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from tfx_shapes import LegacyTfxWriter, PortableTfxWriter, sqlite_config  # noqa: E402

from zen_mlmd.mlmd.store import MetadataStore  # noqa: E402
from zen_mlmd.mlmd.reader import StoreReader  # noqa: E402

PIPELINE = "chicago_taxi"
EXAMPLE_GEN = "tfx.components.example_gen.csv_example_gen.component.CsvExampleGen"
STATISTICS_GEN = "tfx.components.statistics_gen.component.StatisticsGen"
SCHEMA_GEN = "tfx.components.schema_gen.component.SchemaGen"
TRAINER = "tfx.components.trainer.component.Trainer"


@dataclass
class Written:
    """What a TFX-shaped writer put in a store: ids to check the reads against."""

    path: Path
    executions: dict = field(default_factory=dict)  # (run, node id) -> execution proto
    artifacts: dict = field(default_factory=dict)  # (run, node id, key) -> [artifact protos]
    runs: dict = field(default_factory=dict)  # run id -> run context proto
    cache_keys: dict = field(default_factory=dict)  # (run, node id) -> cache key


def open_reader(path) -> StoreReader:
    return StoreReader(MetadataStore(sqlite_config(path), store_name="tfx-test"))


@pytest.fixture
def portable_store(tmp_path) -> Written:
    """Two runs of a four-component pipeline; the second reuses two cached outputs and fails.

    Trainer registers its outputs PENDING before it runs (as orchestrators
    calling TFX's ``execution_lib.register_pending_output_artifacts`` do), the
    other components follow the portable launcher alone (`tfx_shapes`).
    """
    written = Written(tmp_path / "tfx.db")
    return write_portable_runs(written, mlmd.MetadataStore(sqlite_config(written.path)))


def write_portable_runs(written: Written, raw: mlmd.MetadataStore) -> Written:
    """What `portable_store` holds, written into `raw` (an `ml_metadata.MetadataStore` on any database)."""
    writer = PortableTfxWriter(raw, PIPELINE)

    run1 = writer.start_run("2024-01-01T00:00:00.000001")
    written.runs["run1"] = run1[1]
    gen, gen_out = writer.run_component(
        run1, "CsvExampleGen", EXAMPLE_GEN,
        outputs={"examples": [("Examples", {"span": 1, "version": 0, "split_names": ["train", "eval"]})]},
        exec_properties={"input_base": "/data/taxi", "output_data_format": 6})
    stats, stats_out = writer.run_component(
        run1, "StatisticsGen", STATISTICS_GEN, inputs=gen_out,
        outputs={"statistics": [("ExampleStatistics", {"span": 1, "split_names": ["train", "eval"]})]})
    schema, schema_out = writer.run_component(
        run1, "SchemaGen", SCHEMA_GEN, inputs={"statistics": stats_out["statistics"]},
        outputs={"schema": [("Schema", {})]}, exec_properties={"infer_feature_shape": 1})
    trainer, trainer_out = writer.run_component(
        run1, "Trainer", TRAINER,
        inputs={"examples": gen_out["examples"], "schema": schema_out["schema"]},
        outputs={"model": [("Model", {})]},
        exec_properties={"module_file": "taxi_utils.py", "train_args": '{"num_steps": 100}'},
        pending_outputs=True)  # PENDING_OUTPUT then OUTPUT events (register_pending_output_artifacts)
    for node, execution, out in (("CsvExampleGen", gen, gen_out), ("StatisticsGen", stats, stats_out),
                                 ("SchemaGen", schema, schema_out), ("Trainer", trainer, trainer_out)):
        written.executions[("run1", node)] = execution
        written.cache_keys[("run1", node)] = writer.cache_key_of(execution)
        for key, artifacts in out.items():
            written.artifacts[("run1", node, key)] = artifacts

    run2 = writer.start_run("2024-01-02T00:00:00.000001")
    written.runs["run2"] = run2[1]
    written.executions[("run2", "CsvExampleGen")] = writer.cached_component(
        run2, "CsvExampleGen", EXAMPLE_GEN, written.cache_keys[("run1", "CsvExampleGen")], gen_out)
    written.executions[("run2", "StatisticsGen")] = writer.cached_component(
        run2, "StatisticsGen", STATISTICS_GEN, written.cache_keys[("run1", "StatisticsGen")], stats_out,
        inputs=gen_out)
    written.executions[("run2", "Trainer")], out = writer.run_component(
        run2, "Trainer", TRAINER, inputs={"examples": gen_out["examples"], "schema": schema_out["schema"]},
        outputs={"model": [("Model", {})]}, exec_properties={"module_file": "taxi_utils_v2.py"}, fail=True,
        pending_outputs=True)
    written.artifacts[("run2", "Trainer", "model")] = out["model"]
    return written


@pytest.fixture
def legacy_store(tmp_path) -> Written:
    """Two legacy runs; the second serves ExampleGen from the cache."""
    written = Written(tmp_path / "legacy.db")
    writer = LegacyTfxWriter(mlmd.MetadataStore(sqlite_config(written.path)), PIPELINE)
    run1 = writer.start_run("run-1")
    written.runs["run1"] = run1[1]
    gen, gen_out = writer.run_component(
        run1, "CsvExampleGen", EXAMPLE_GEN,
        outputs={"examples": [("ExamplesPath", {"span": 3, "split_names": ["train", "eval"]})]},
        exec_properties={"input_base": "/data/taxi"})
    trainer, trainer_out = writer.run_component(
        run1, "Trainer.taxi", TRAINER, inputs=gen_out, outputs={"output": [("ModelExportPath", {})]},
        exec_properties={"module_file": "taxi_utils.py"})
    written.executions.update({("run1", "CsvExampleGen"): gen, ("run1", "Trainer.taxi"): trainer})
    written.artifacts[("run1", "CsvExampleGen", "examples")] = gen_out["examples"]
    written.artifacts[("run1", "Trainer.taxi", "output")] = trainer_out["output"]
    run2 = writer.start_run("run-2")
    written.runs["run2"] = run2[1]
    written.executions[("run2", "CsvExampleGen")] = writer.cached_component(
        run2, "CsvExampleGen", EXAMPLE_GEN, gen_out)
    return written
