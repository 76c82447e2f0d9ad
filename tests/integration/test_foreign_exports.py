"""Exports of runs Kubeflow Pipelines and TFX wrote: OpenLineage events and the JSONL archive.

The runs are written with plain ml_metadata by the adapters' fixtures, which
follow those tools' code call by call: adapters/kfp/tests/kfp_v2_runs.py
(KFP v2's driver and launcher, after kubeflow/pipelines
backend/src/v2/metadata/client.go: a root DAG, a sub-pipeline, a
3-iteration ParallelFor, an importer, cached and failed tasks) and
adapters/tfx/tests/tfx_shapes.py (TFX's portable launcher); a native run
sits beside them. OpenLineage events validate against the specification's
schemas, name jobs by the steps' paths and carry KFP's object-store URIs as
datasets; the archive round-trips into an empty store and reads the same.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ml_metadata.metadata_store import metadata_store as mlmd

from lifecycle_helpers import openlineage_validators
from recording_pipelines import training
from tracking_helpers import LocalTestStack, sqlite_store
from zen_mlmd.lifecycle.archive import export_archive, import_archive
from zen_mlmd.lifecycle.openlineage import run_events, run_uuid, to_json
from zen_mlmd.mlmd.reader import StoreReader

_ADAPTER_TESTS = Path(__file__).resolve().parents[2] / "adapters"
for _folder in ("kfp/tests", "tfx/tests"):
    if str(_ADAPTER_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_ADAPTER_TESTS / _folder))

from kfp_v2_runs import PIPELINE, ROOT, RUN_1, RUN_2, write_training_runs  # noqa: E402
from tfx_shapes import PortableTfxWriter  # noqa: E402

RUN_1_STEPS = ["importer", "make-data", "for-loop-2[0]/train", "for-loop-2[1]/train",
               "for-loop-2[2]/train", "evaluate-pipeline/report"]


def mixed_store(tmp_path: Path):
    """A SQLite store with two KFP runs, two TFX runs and a native run; (store, KFP records)."""
    store = sqlite_store(tmp_path / "mixed.sqlite")
    plain = mlmd.MetadataStore(store.connection_config)  # as KFP and TFX write: ml_metadata alone
    first, second = write_training_runs(plain)
    writer = PortableTfxWriter(plain, "tfx-pipe", pipeline_root=str(tmp_path / "tfx-root"))
    for run_id in ("tfx-1", "tfx-2"):
        contexts = writer.start_run(run_id)
        _, examples = writer.run_component(contexts, "ExampleGen", "tfx.ExampleGen",
                                           outputs={"examples": [("Examples", {"span": 1})]})
        writer.run_component(contexts, "Trainer", "tfx.Trainer", inputs=examples,
                             outputs={"model": [("Model", {})]}, fail=run_id == "tfx-2")
    training.run(stack=LocalTestStack(store, tmp_path / "artifacts"), quiet=True, run_name="native-1")
    return store, first, second


def test_openlineage_events_of_kfp_and_tfx_runs_validate_and_name_steps_by_their_paths(tmp_path):
    store, first, second = mixed_store(tmp_path)
    events = [json.loads(to_json(e)) for e in run_events(store)]
    event_schema, parent_schema = openlineage_validators()
    for event in events:
        event_schema.validate(event)
        parent_schema.validate(event["run"]["facets"]["parent"])
    by_parent: dict[str, list[dict]] = {}
    for event in events:
        by_parent.setdefault(event["run"]["facets"]["parent"]["run"]["runId"], []).append(event)
    assert len(by_parent) == 5  # every run: two KFP, two TFX, one native

    kfp_1 = by_parent[run_uuid(store.identity, "run", first.run_context_id)]
    assert {e["job"]["name"] for e in kfp_1} == {f"{PIPELINE}.{step}" for step in RUN_1_STEPS}
    assert {e["run"]["facets"]["parent"]["job"]["name"] for e in kfp_1} == {PIPELINE}
    assert sorted(e["eventType"] for e in kfp_1) == ["COMPLETE"] * 6 + ["START"] * 6  # no DAG is a job
    ends = {e["job"]["name"]: e for e in kfp_1 if e["eventType"] == "COMPLETE"}
    assert ends[f"{PIPELINE}.importer"]["outputs"] == [{"namespace": "gs://ml-public", "name": "iris.csv",
                                                        "facets": {}, "outputFacets": {}}]
    train = ends[f"{PIPELINE}.for-loop-2[1]/train"]
    bucket, _, folder = ROOT.removeprefix("minio://").partition("/")
    assert {d["namespace"] for d in train["inputs"] + train["outputs"]} == {f"minio://{bucket}"}
    assert all(d["name"].startswith(f"/{folder}/{PIPELINE}/{RUN_1}/") for d in train["outputs"])
    assert sorted(Path(d["name"]).name for d in train["outputs"]) == ["metrics", "model"]

    kfp_2 = by_parent[run_uuid(store.identity, "run", second.run_context_id)]
    finals = {e["job"]["name"]: e["eventType"] for e in kfp_2 if e["eventType"] != "START"}
    assert finals == {f"{PIPELINE}.importer": "COMPLETE", f"{PIPELINE}.make-data": "COMPLETE",  # cached
                      f"{PIPELINE}.for-loop-2[0]/train": "COMPLETE",
                      f"{PIPELINE}.for-loop-2[1]/train": "COMPLETE",
                      f"{PIPELINE}.for-loop-2[2]/train": "FAIL"}
    tfx_jobs = {(e["job"]["name"], e["eventType"]) for e in events if e["job"]["name"].startswith("tfx-pipe.")}
    assert tfx_jobs == {("tfx-pipe.ExampleGen", "START"), ("tfx-pipe.ExampleGen", "COMPLETE"),
                        ("tfx-pipe.Trainer", "START"), ("tfx-pipe.Trainer", "COMPLETE"),
                        ("tfx-pipe.Trainer", "FAIL")}
    # one run id per execution, the same in every export of the store
    assert len({e["run"]["runId"] for e in events}) == len(events) // 2
    assert [json.loads(to_json(e)) for e in run_events(store)] == events


def read_all(store) -> dict:
    reader = StoreReader(store)
    runs = list(reader.iter_runs())
    return {(r.name, r.pipeline_name, r.convention, r.created_ms): [
        (s.id, s.name, s.state, s.inputs, s.outputs, s.parameters, s.start_ms, s.end_ms)
        for s in reader.read_run(r).steps] for r in runs}


def test_the_archive_of_kfp_tfx_and_native_runs_round_trips_and_reads_the_same(tmp_path):
    store, _, _ = mixed_store(tmp_path)
    first, again = tmp_path / "first.jsonl", tmp_path / "again.jsonl"
    counts = export_archive(store, first)
    assert counts["execution"] == 13 + 10 + 4 + 4  # KFP runs with their DAGs, TFX, native
    empty = sqlite_store(tmp_path / "imported.sqlite")
    assert import_archive(first, empty) == counts
    export_archive(empty, again)
    assert first.read_text().splitlines()[1:] == again.read_text().splitlines()[1:]
    source_reads = read_all(store)
    assert {key[2] for key in source_reads} == {"kfp", "tfx", "native"}
    assert read_all(empty) == source_reads
