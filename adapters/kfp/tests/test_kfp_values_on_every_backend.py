"""KFP-convention values every backend stores: long parameters, many outputs, backslashes.

On PostgreSQL, MLMD indexes the whole text of a string or struct value and
an index entry over 2704 bytes fails the write ("index row size ... exceeds
btree version 4 maximum 2704"); a backslash makes its SQL invalid. The
values are random text: PostgreSQL compresses index entries, so repeated
characters would fit and hide the limit. Each run is recorded and read back
on every backend, and its cache entry found.
"""
from __future__ import annotations

import secrets

from backends import connection_config
from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.mlmd.convention_registry import get_convention
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.tracking.recorder import Recorder
from zen_mlmd_kfp.cached_outputs import find_cached_outputs

OUTPUTS = [f"part_{i:02d}" for i in range(16)]  # their facts pass 2,000 bytes of struct text


def test_long_and_backslashed_values_record_and_read_back_on_every_backend(backend, tmp_path):
    store = MetadataStore(connection_config(backend), store_name=f"kfp-values-{backend.name}")
    blob = secrets.token_hex(2500)
    parameters = {"blob": blob, "path": "C:\\data\\train", "rows": 10}
    config = {"parameters": {"config_blob": secrets.token_hex(1500)},
              "kfp": {"namespace": "team-a", "pipeline_root": str(tmp_path / "root")}}
    recorder = Recorder(store, ArtifactStore(str(tmp_path / "artifacts")), convention=get_convention("kfp"))
    with recorder.start_run("values", "run-1", config=config) as run:
        step = run.start_step("load", "pkg.steps.load", parameters=parameters, cache_key="key-load",
                              properties={"image": "registry\\team\\img:1"})
        for name in OUTPUTS:
            step.save_output(name, [name], kind="dataset")
        step.save_output("metrics", {"accuracy": 0.5}, kind="metrics")
        ids = step.publish()

    reader = StoreReader(store)
    data = reader.read_run(reader.get_run("run-1"))
    [load] = data.steps
    assert load.parameters == parameters
    assert load.properties["image"] == "registry\\team\\img:1"
    assert set(load.outputs) == {*OUTPUTS, "metrics"}
    for name in OUTPUTS:
        [artifact_id] = load.outputs[name]
        assert artifact_id == ids[name][0]
        assert data.artifacts[artifact_id].materializer == "builtins.json"
        assert data.artifacts[artifact_id].content_hash.startswith("sha256:")
    assert reader.get_run("run-1").config["parameters"]["config_blob"] == config["parameters"]["config_blob"]
    cached = find_cached_outputs(store, "key-load")
    assert cached is not None and cached.execution_id == load.id
    assert {name: [a.id for a in found] for name, found in cached.outputs.items()} == dict(
        (name, list(ids[name])) for name in [*OUTPUTS, "metrics"])
