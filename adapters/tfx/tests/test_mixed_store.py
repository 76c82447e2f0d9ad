"""One store holding runs of zen_mlmd's native writer, TFX's portable launcher and legacy TFX."""
from __future__ import annotations

from tfx_fixtures import EXAMPLE_GEN, open_reader
from ml_metadata.metadata_store import metadata_store as mlmd
from tfx_shapes import LegacyTfxWriter, PortableTfxWriter, sqlite_config

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.tracking.recorder import Recorder


def _mixed_store(path):
    raw = mlmd.MetadataStore(sqlite_config(path))
    portable = PortableTfxWriter(raw, "tfx_pipe")
    _, out = portable.run_component(portable.start_run("tfx-run"), "Gen", EXAMPLE_GEN,
                                    outputs={"examples": [("Examples", {"span": 1})]})
    legacy = LegacyTfxWriter(raw, "legacy_pipe")
    legacy.run_component(legacy.start_run("legacy-run"), "Gen", EXAMPLE_GEN,
                         outputs={"examples": [("ExamplesPath", {})]})
    recorder = Recorder(MetadataStore(sqlite_config(path)))
    with recorder.start_run("native_pipe", run_name="native-run") as run:
        step = run.start_step("load", type_name="my_steps.load", parameters={"n": 3})
        step.publish({"output": records.OutputArtifact(uri="/tmp/out", kind="dataset",
                                                       materializer="json", data_type="builtins.dict")})


def test_each_pipeline_and_run_is_read_once_in_its_own_convention(tmp_path):
    _mixed_store(tmp_path / "mixed.db")
    reader = open_reader(tmp_path / "mixed.db")
    assert sorted((p.name, p.convention) for p in reader.list_pipelines()) == [
        ("legacy_pipe", "tfx_legacy"), ("native_pipe", "native"), ("tfx_pipe", "tfx")]
    assert sorted((r.name, r.pipeline_name, r.convention) for r in reader.iter_runs()) == [
        ("legacy_pipe.legacy-run", "legacy_pipe", "tfx_legacy"),
        ("native-run", "native_pipe", "native"),
        ("tfx-run", "tfx_pipe", "tfx"),
    ]
    assert [r.name for r in reader.iter_runs("tfx_pipe")] == ["tfx-run"]
    assert [r.name for r in reader.iter_runs("native_pipe")] == ["native-run"]
    assert [r.name for r in reader.iter_runs("legacy_pipe")] == ["legacy_pipe.legacy-run"]
    assert reader.get_run("native-run").convention == "native"
    assert reader.get_run("tfx-run").convention == "tfx"


def test_native_runs_read_the_same_through_the_tfx_aware_reader(tmp_path):
    _mixed_store(tmp_path / "mixed.db")
    reader = open_reader(tmp_path / "mixed.db")
    [step] = reader.read_run(reader.get_run("native-run")).steps
    assert (step.name, step.state, step.parameters) == ("load", records.COMPLETE, {"n": 3})
    [gen] = reader.read_run(reader.get_run("tfx-run")).steps
    assert (gen.name, gen.state) == ("Gen", records.COMPLETE)
