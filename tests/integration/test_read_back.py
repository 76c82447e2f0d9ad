"""Round trip on every backend: record a pipeline, read it all back, in bounded calls."""
from __future__ import annotations

from post_execution_helpers import LocalTestStack, record_bare_runs, record_training
from zen_mlmd.post_execution import compare_runs, get_artifact, get_pipeline, get_run


def test_recorded_pipeline_reads_back(metadata_store, tmp_path):
    stack = LocalTestStack(metadata_store, tmp_path / "artifacts")
    record_training(stack, run_name="rt-first", C=1.0)
    record_training(stack, run_name="rt-second", C=1.0)
    runs = get_pipeline("training", metadata_store).runs
    assert [r.name for r in runs] == ["rt-second", "rt-first"]
    assert [r.status for r in runs] == ["cached", "completed"]
    first = get_run("rt-first", metadata_store)
    model = first.steps["train"].outputs["model"]
    assert model.read() == {"weight": 10.0}
    assert dict(first.steps["split"].parameters) == {"test_fraction": 0.5}
    assert first.steps["evaluate"].inputs["model"].id == model.id
    cached = get_run("rt-second", metadata_store).steps["train"]
    assert cached.original.id == first.steps["train"].id
    assert get_artifact(model.id, metadata_store).producer_step.run_name == "rt-first"
    graph = model.lineage()
    assert {n.name for n in graph.steps} == {"load", "split", "train"}
    assert compare_runs(list(runs)).rows[0]["evaluate.metrics.accuracy"] > 0


def test_reads_stay_bounded(metadata_store, tmp_path):
    stack = LocalTestStack(metadata_store, tmp_path / "artifacts")
    run_name = record_training(stack)
    run = get_run(run_name, metadata_store)
    metadata_store.reset_counts()
    assert len(run.steps) == 4
    assert metadata_store.total_calls <= 7
    metadata_store.reset_counts()
    run.steps["train"].outputs["model"].lineage()
    assert metadata_store.calls["GetLineageSubgraph"] == 1 and metadata_store.total_calls <= 3


def test_listing_and_statuses_page_on_every_backend(metadata_store):
    names = record_bare_runs(metadata_store, 120)
    runs = get_pipeline("bare", metadata_store).runs
    metadata_store.reset_counts()
    assert [r.name for r in runs] == names[::-1]
    assert metadata_store.calls["GetContexts"] == 2
    assert {r.status for r in runs} == {"completed"}
    assert metadata_store.calls["GetExecutionsByContext"] == 0


def test_backslashes_and_long_values_read_back_exactly(metadata_store):
    """Values MLMD 1.17.1 cannot write as plain strings or structs on PostgreSQL: a
    string with a backslash (a syntax error in its SQL), a string or struct over
    2704 bytes that does not compress (too long for the index on `string_value`).
    They are stored tagged or in `proto_value`, the same way on every backend."""
    import random

    from zen_mlmd.mlmd import records
    from zen_mlmd.mlmd.reader import StoreReader
    from zen_mlmd.tracking.recorder import Recorder

    rng = random.Random(7)
    path = "C:\\data\\train.csv"
    long_text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(6000))
    long_list = [rng.random() for _ in range(400)]
    parameters = {"path": path, "pattern": r"\d+\.csv", "notes": long_text, "weights": long_list,
                  "nested": {"text": long_text[:3000], "path": path}}
    message = f"cannot parse {path!r}: " + long_text[:3500]
    with Recorder(metadata_store).start_run("awkward", "awkward-1") as run:
        step = run.start_step("load", "tests.load", parameters=parameters)
        # a data type JSON escapes (a quote, a backslash): the output's facts are tagged too
        odd_type = 'odd.Typé"\\x'
        step.publish({"out": records.OutputArtifact(uri="/nowhere/out", kind="data", materializer="builtins.json",
                                                    data_type=odd_type, content_hash="sha256:" + "0" * 64)})
        failing = run.start_step("parse", "tests.parse", parameters={"sep": "\\t"})
        failing.fail(ValueError(message))
    reader = StoreReader(metadata_store)
    steps = {s.name: s for s in reader.read_run(reader.get_run("awkward-1")).steps}
    assert dict(steps["load"].parameters) == parameters
    assert dict(steps["parse"].parameters) == {"sep": "\\t"}
    assert steps["parse"].state == records.FAILED
    assert steps["parse"].error_message == message
    [out] = reader.read_run(reader.get_run("awkward-1")).artifacts.values()
    assert (out.data_type, out.materializer, out.properties["producer_execution_id"]) == (
        odd_type, "builtins.json", steps["load"].id)
    # the long ones are kept where no backend indexes them
    [load] = metadata_store.raw.get_executions_by_id([steps["load"].id])
    kinds = {name: load.custom_properties[f"param.{name}"].WhichOneof("value") for name in parameters}
    assert kinds == {"path": "struct_value", "pattern": "struct_value", "notes": "proto_value",
                     "weights": "proto_value", "nested": "proto_value"}
