"""Runs recorded by TFX's own code (tfx_runs/, in the TFX environment), read through zen_mlmd."""
from __future__ import annotations

from tfx_fixtures import open_reader

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.lineage_query import query_lineage
from zen_mlmd.post_execution.api import get_artifact, get_run
from zen_mlmd.post_execution.session import ReadSession


def _steps(reader, run_name):
    data = reader.read_run(reader.get_run(run_name))
    return data, {step.name: step for step in data.steps}


def test_a_cached_rerun_reuses_the_first_runs_outputs(tfx_store):
    first, second = sorted(tfx_store.run_ids["cached_rerun"])
    reader = open_reader(tfx_store.path)
    data1, run1 = _steps(reader, first)
    data2, run2 = _steps(reader, second)
    assert list(run1) == list(run2) == ["MakeExamples", "Stats", "Train"]
    assert {s.state for s in data1.steps} == {records.COMPLETE}
    assert {s.state for s in data2.steps} == {records.CACHED}
    for name in run1:
        assert run2[name].original_execution_id == run1[name].id
        assert run2[name].outputs == run1[name].outputs
        assert run2[name].cache_key == run1[name].cache_key != ""
    assert data2.original_runs[run1["Train"].id] == first
    assert {(r.name, r.pipeline_name, r.convention) for r in reader.iter_runs("taxi")} == {
        (first, "taxi", "tfx"), (second, "taxi", "tfx")}


def test_one_artifact_feeding_two_input_keys_is_an_input_under_both(tfx_store):
    # TFX writes ONE event [eval_examples, 0, train_examples, 0]; only the last key was kept.
    reader = open_reader(tfx_store.path)
    _, steps = _steps(reader, sorted(tfx_store.run_ids["cached_rerun"])[0])
    examples = steps["MakeExamples"].outputs["examples"]
    assert steps["Train"].inputs == {"train_examples": examples, "eval_examples": examples,
                                     "statistics": steps["Stats"].outputs["statistics"]}
    lineage = query_lineage(reader.store, steps["Train"].outputs["model"][0], "upstream", 2)
    keys = {(e.key, e.kind) for e in lineage.events if e.execution_id == steps["Train"].id}
    assert {("train_examples", "input"), ("eval_examples", "input")} <= keys


def test_a_failing_component_is_failed_and_its_run_failed(tfx_store):
    [run_id] = tfx_store.run_ids["failing"]
    reader = open_reader(tfx_store.path)
    _, steps = _steps(reader, run_id)
    assert steps["MakeExamples"].state == records.COMPLETE
    assert steps["Validate"].state == records.FAILED
    assert steps["Validate"].cache_key != ""  # TFX joins the execution_cache context at publish, failed too
    # A python component that raises leaves no error in MLMD (TFX logs it only).
    assert (steps["Validate"].error_type, steps["Validate"].error_message) == ("", "")
    assert get_run(run_id, ReadSession(reader.store)).status == "failed"


def test_an_execution_result_is_the_failed_steps_error(tfx_store):
    [run_id] = tfx_store.run_ids["execution_result"]
    _, steps = _steps(open_reader(tfx_store.path), run_id)
    gate = steps["Gate"]
    assert gate.state == records.FAILED
    assert gate.error_type == "FAILED_PRECONDITION"
    assert gate.error_message == "accuracy 0.75 is below the threshold 0.9"
    assert gate.parameters == {"accuracy": 0.75}


def test_an_async_pipeline_is_one_run_of_its_node_executions(tfx_store):
    reader = open_reader(tfx_store.path)
    runs = {r.name: r for r in reader.iter_runs()}
    assert runs["taxi_stream"].convention == "tfx_async"
    # sync pipelines and the sub-pipeline are not async runs
    assert [r.name for r in runs.values() if r.convention == "tfx_async"] == ["taxi_stream"]
    assert [r.name for r in reader.iter_runs("taxi_stream")] == ["taxi_stream"]
    data, steps = _steps(reader, "taxi_stream")
    assert [s.name for s in data.steps] == ["ImportExamples[0]", "Fit[0]", "ImportExamples[1]"]
    assert steps["Fit[0]"].inputs == {"examples": steps["ImportExamples[0]"].outputs["result"]}
    assert data.run.pipeline_name == "taxi_stream"
    assert reader.get_run("taxi") is None  # a sync pipeline's name is not a run


def test_a_sub_pipeline_run_is_one_run_of_its_root_pipeline(tfx_store):
    [run_id] = tfx_store.run_ids["subpipeline"]
    reader = open_reader(tfx_store.path)
    assert [r.name for r in reader.iter_runs("outer")] == [run_id]
    assert list(reader.iter_runs("training")) == []
    names = [r.name for r in reader.iter_runs()]
    assert not [n for n in names if n.startswith("training_")]  # no phantom runs
    assert reader.get_run(f"training_{run_id}") is None
    run = reader.get_run(run_id)
    assert run.pipeline_name == "outer"
    data, steps = _steps(reader, run_id)
    assert [s.name for s in data.steps] == ["MakeExamples", "training/Fit", "Report"]
    assert steps["training/Fit"].inputs == {"examples": steps["MakeExamples"].outputs["examples"]}
    assert steps["Report"].inputs == {"model": steps["training/Fit"].outputs["model"]}
    assert data.producers[steps["training/Fit"].outputs["model"][0]][0] == steps["training/Fit"].id


def test_artifact_reads_name_the_producer_as_get_run_does(tfx_store):
    store = open_reader(tfx_store.path).store
    session = ReadSession(store)
    for run_name, step_name in [(sorted(tfx_store.run_ids["cached_rerun"])[0], "Train"),
                                (tfx_store.run_ids["subpipeline"][0], "training/Fit"),
                                ("taxi_stream", "ImportExamples[1]")]:
        run = session.reader.get_run(run_name)
        [step] = [s for s in session.reader.read_run(run).steps if s.name == step_name]
        [artifact_id] = next(iter(step.outputs.values()))
        context = session.reader.artifact_context(artifact_id)
        assert (context.producer.name, context.producer_run) == (step_name, run_name)
        artifact = get_artifact(artifact_id, session)
        assert (artifact.producer_step.name, artifact.run_name) == (step_name, run_name)
        lineage = query_lineage(store, artifact_id, "upstream", 1)
        # (the cached rerun's Train, a sub-pipeline's end node, also output it)
        assert (step_name, run_name) in {(s.name, lineage.step_runs[i]) for i, s in lineage.steps.items()}


def test_a_tfx_run_costs_as_many_calls_as_a_native_run_of_its_size(tfx_store, tmp_path):
    from zen_mlmd.mlmd.store import MetadataStore
    from zen_mlmd.tracking.recorder import Recorder
    from tfx_shapes import sqlite_config

    native_path = tmp_path / "native.db"
    with Recorder(MetadataStore(sqlite_config(native_path))).start_run("p", run_name="native") as run:
        previous = {}
        for name in ("make", "stats", "train"):
            step = run.start_step(name, type_name=f"steps.{name}", inputs=previous)
            ids = step.publish({"out": records.OutputArtifact(uri=f"/tmp/{name}", kind="dataset",
                                                              materializer="json", data_type="builtins.dict")})
            previous = {"x": ids["out"]}
    counts = {}
    for label, path, run_name in [("native", native_path, "native"),
                                  ("tfx", tfx_store.path, sorted(tfx_store.run_ids["cached_rerun"])[0])]:
        reader = open_reader(path)
        run = reader.get_run(run_name)
        reader.store.reset_counts()
        assert len(reader.read_run(run).steps) == 3
        counts[label] = reader.store.total_calls
    # TFX names steps through their node contexts: one lineage query finds them and one
    # GetContextsByID reads them (the adapter README says so), whatever the size
    assert counts["tfx"] == counts["native"] + 2, counts


def test_tfx_records_through_the_zen_mlmd_grpc_server(tmp_path):
    """TFX's LocalDagRunner writes through `zen-mlmd metadata-store serve`; zen_mlmd reads it back there."""
    from backends import GrpcServer
    from real_tfx import run_scenarios
    from tfx_shapes import sqlite_config

    from zen_mlmd.mlmd.reader import StoreReader
    from zen_mlmd.mlmd.store import MetadataStore
    from ml_metadata.proto import metadata_store_pb2 as pb

    with GrpcServer(sqlite_config(tmp_path / "served.db"), tmp_path / "server") as server:
        run_ids = run_scenarios(["--grpc", f"127.0.0.1:{server.port}"], tmp_path / "root", "cached_rerun")
        reader = StoreReader(MetadataStore(pb.MetadataStoreClientConfig(host="127.0.0.1", port=server.port)))
        first, second = sorted(run_ids["cached_rerun"])
        assert [r.name for r in reader.iter_runs("taxi")] == [second, first]
        data = reader.read_run(reader.get_run(second))
        assert [(s.name, s.state) for s in data.steps] == [
            ("MakeExamples", records.CACHED), ("Stats", records.CACHED), ("Train", records.CACHED)]
        train = data.steps[2]
        assert train.inputs["train_examples"] == train.inputs["eval_examples"]


def test_async_runs_are_listed_without_a_query_of_their_own(tfx_store, tmp_path):
    """TFX's async runs are `pipeline` contexts, a type zen_mlmd's own runs use too.

    A pipeline with run contexts (native, sync TFX) is listed without asking
    for async runs; an async pipeline costs its listing and the (empty) one
    of run contexts; all runs, native and TFX, are one listing, newest first.
    """
    import shutil

    from zen_mlmd.tracking.recorder import Recorder

    path = tmp_path / "mixed.db"
    shutil.copy(tfx_store.path, path)
    reader = open_reader(path)
    for i in range(2):
        with Recorder(reader.store).start_run("native_pipe", run_name=f"native-{i}") as run:
            run.start_step("only", type_name="steps.only").publish({})
    first, second = sorted(tfx_store.run_ids["cached_rerun"])
    # calls: native: its run contexts; taxi: its run contexts, their parent pipelines;
    # taxi_stream: run contexts (none), then the pipeline context itself
    for pipeline, names, calls in [("native_pipe", ["native-1", "native-0"], 1),
                                   ("taxi", [second, first], 2),
                                   ("taxi_stream", ["taxi_stream"], 2)]:
        listed, queries = _listing_queries(reader.store, lambda: [r.name for r in reader.iter_runs(pipeline)])
        assert (listed, len(queries)) == (names, calls), queries
    names, queries = _listing_queries(reader.store, lambda: [r.name for r in reader.iter_runs()])
    assert names[:3] == ["native-1", "native-0", tfx_store.run_ids["subpipeline"][0]]
    assert set(names) == {"native-1", "native-0", "taxi_stream", first, second,
                          *tfx_store.run_ids["failing"], *tfx_store.run_ids["execution_result"],
                          *tfx_store.run_ids["subpipeline"]}
    assert len([q for q in queries if " OR " in q]) == 1  # the one listing (13 + 4 contexts)
    # the rest: parent pipelines of TFX's runs, and which TFX pipelines are sync
    assert all("child_contexts_a" in q or "parent_contexts_a" in q or "'node'" in q for q in queries[1:])


def _listing_queries(store, read):
    """What `read()` returned, and the filter of each GetContexts call it made."""
    queries = []
    call = store.raw._call

    def spy(name, request, response):
        if name == "GetContexts":
            queries.append(request.options.filter_query)
        return call(name, request, response)

    store.raw._call = spy
    try:
        return read(), queries
    finally:
        store.raw._call = call


def test_lineage_names_tfx_artifacts_and_shows_no_sub_pipeline_nodes(tfx_store):
    # TFX's artifacts have no name; the sub-pipeline as a node, its begin and
    # end nodes are TFX's own executions, not steps (`get_run` hides them too)
    session = ReadSession(open_reader(tfx_store.path).store)
    run = get_run(tfx_store.run_ids["subpipeline"][0], session)
    model = run.steps["training/Fit"].outputs["model"]
    assert str(model) == f"model (Model #{model.id})"
    graph = model.lineage()
    assert [n.name for n in graph.artifacts] == ["examples", "model"]
    assert [n.name for n in graph.steps] == ["MakeExamples", "training/Fit"]


def test_reading_a_tfx_artifact_names_tfx_as_its_writer_and_where_its_files_are(tfx_store):
    """TFX names a component's execution type by its import path (`taxi_components.Train`):
    the writer comes from the run's convention, not from the type name."""
    import pytest

    from zen_mlmd.errors import MaterializerError

    session = ReadSession(open_reader(tfx_store.path).store)
    run_name = sorted(tfx_store.run_ids["cached_rerun"])[0]
    train = get_run(run_name, session).steps["Train"]
    assert train.type_name == "taxi_components.Train"  # nothing in it says TFX
    model = train.outputs["model"]
    for artifact in (model, get_artifact(model.id, session)):
        with pytest.raises(MaterializerError) as caught:
            artifact.read()
        message = str(caught.value)
        assert f"written by TFX (step 'Train' of run '{run_name}')" in message, message
        assert model.uri in message and "Fix:" in message
