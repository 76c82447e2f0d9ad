"""Publishing a step and starting the next in one transaction, on every backend.

First the `put_lineage_subgraph` facts the writer builds on, checked with
plain MLMD calls (over gRPC they also show that our server forwards the
RPC). Then the recorder: a run of S steps whose publishes are held back
(`publish(defer=True)`) costs S+1 step writes, counted on the connection
(`MetadataStore.calls`); while it runs, another connection sees the last
step COMPLETE and the next RUNNING; once it ends, every execution has
exactly the contexts it has when steps are written one at a time; and a
held-back publish that fails fails its own step only.
"""
from __future__ import annotations

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from backends import BackendSpec, connection_config
from zen_mlmd.errors import PublishFailedError
from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.history import step_history
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.tracking.recorder import Recorder

S = 5


def _event(kind, key: str, artifact_id: int | None = None) -> pb.Event:
    event = pb.Event(type=kind)
    if artifact_id is not None:
        event.artifact_id = artifact_id
    event.path.steps.add().key = key
    return event


def _output(run: str, step: str, name: str, cache_key: str = "") -> records.OutputArtifact:
    return records.OutputArtifact(
        uri=f"/artifacts/{run}/{step}/{name}", kind="data", materializer="builtins.json",
        data_type="builtins.dict", content_hash="sha256:" + "0" * 64, size_bytes=2,
        properties={"cache_key": cache_key or None})


def record_chain(store: MetadataStore, run_name: str, steps: int = S, defer: bool = True,
                 finish: bool = True):
    """A linear run: step i takes step i-1's two outputs; returns the run recorder."""
    run = Recorder(store).start_run("chain", run_name)
    inputs = None
    for i in range(steps):
        key = f"{run_name}-key-{i}"
        step = run.start_step(f"step_{i}", f"tests.chain.step_{i}", parameters={"i": i},
                              inputs=inputs, cache_key=key)
        ids = step.publish({name: _output(run_name, step.name, name, key) for name in ("a", "b")},
                           defer=defer)
        inputs = {"x": ids["a"], "y": ids["b"]}
    if finish:
        run.finish()
    return run


# -- MLMD facts -------------------------------------------------------------------------------
def test_put_lineage_subgraph_does_what_the_writer_relies_on(metadata_store: MetadataStore):
    raw = metadata_store.raw
    run_type = raw.put_context_type(pb.ContextType(name="facts_run"))
    node_type = raw.put_context_type(pb.ContextType(name="facts_node"))
    execution_type = raw.put_execution_type(pb.ExecutionType(name="facts_step"))
    artifact_type = raw.put_artifact_type(pb.ArtifactType(name="facts_data"))
    run = pb.Context(type_id=run_type, name="facts-run")
    run.custom_properties["config"].string_value = "kept"
    [run.id] = raw.put_contexts([run])
    first = pb.Execution(type_id=execution_type, name="first", last_known_state=pb.Execution.RUNNING)
    first.custom_properties["param"].int_value = 7
    first.id, _, _ = raw.put_execution(first, [], [run])
    old = pb.Artifact(type_id=artifact_type, uri="/old", state=pb.Artifact.LIVE)
    old.custom_properties["note"].string_value = "untouched"
    [old.id] = raw.put_artifacts([old])
    updated_before = raw.get_artifacts_by_id([old.id])[0].last_update_time_since_epoch

    # One call: `first` (with its id) completes with a new output; `second`
    # starts with that output (by index) and `old` (by id only) as inputs.
    first.last_known_state = pb.Execution.COMPLETE
    second = pb.Execution(type_id=execution_type, name="second", last_known_state=pb.Execution.RUNNING)
    new = pb.Artifact(type_id=artifact_type, uri="/new", state=pb.Artifact.LIVE)
    node = pb.Context(type_id=node_type, name="facts-node")
    by_name = pb.Context(type_id=run_type, name="facts-run")  # no id: reused by name
    edges = [(0, 0, _event(pb.Event.OUTPUT, "out")), (1, 0, _event(pb.Event.INPUT, "fresh")),
             (1, None, _event(pb.Event.INPUT, "old", old.id))]
    execution_ids, artifact_ids, context_ids = raw.put_lineage_subgraph(
        [first, second], [new], [by_name, node], edges, reuse_context_if_already_exist=True)

    assert execution_ids[0] == first.id and context_ids[0] == run.id
    stored = {e.name: e for e in raw.get_executions_by_id(execution_ids)}
    assert stored["first"].last_known_state == pb.Execution.COMPLETE
    assert stored["first"].custom_properties["param"].int_value == 7  # updated, not replaced
    assert stored["second"].last_known_state == pb.Execution.RUNNING
    events = {(e.execution_id, e.artifact_id, e.type)
              for e in raw.get_events_by_execution_ids(execution_ids)}
    assert events == {(first.id, artifact_ids[0], pb.Event.OUTPUT),
                      (execution_ids[1], artifact_ids[0], pb.Event.INPUT),
                      (execution_ids[1], old.id, pb.Event.INPUT)}
    # an input passed by id only is neither rewritten nor attributed
    [old_after] = raw.get_artifacts_by_id([old.id])
    assert old_after.custom_properties["note"].string_value == "untouched"
    assert old_after.last_update_time_since_epoch == updated_before
    assert old.id not in {a.id for a in raw.get_artifacts_by_context(run.id)}
    # a context passed by name is reused as it is
    [run_after] = raw.get_contexts_by_id([run.id])
    assert run_after.custom_properties["config"].string_value == "kept"
    # every execution of the call joins every context of the call: why the writer
    # passes only the contexts both steps share
    for context_id in context_ids:
        assert {e.id for e in raw.get_executions_by_context(context_id)} == set(execution_ids)


# -- the recorder -----------------------------------------------------------------------------
@pytest.mark.parametrize("named", [True, False], ids=["steps named at start", "steps not named"])
def test_a_run_of_s_steps_costs_s_plus_one_step_writes(metadata_store: MetadataStore, named: bool):
    store = metadata_store
    record_chain(store, "warm-up")  # types exist from here on (context ids are not kept across runs)
    recorder = Recorder(store)
    store.reset_counts()
    names = [f"step_{i}" for i in range(S)]
    run = recorder.start_run("chain", "counted", step_names=names if named else ())
    # the pipeline context (and the named steps' node contexts) found in one call
    assert dict(store.calls) == {"PutLineageSubgraph": 1, "PutContexts": 1, "PutParentContexts": 1}
    store.reset_counts()
    inputs = None
    for i in range(S):
        step = run.start_step(f"step_{i}", f"tests.chain.step_{i}", parameters={"i": i},
                              inputs=inputs, cache_key=f"counted-key-{i}")
        refs = step.publish({name: _output("counted", step.name, name) for name in ("a", "b")}, defer=True)
        inputs = {"x": refs["a"], "y": refs["b"]}
    # the first start alone, then one write per step boundary; the last publish is held
    assert dict(store.calls) == {"PutExecution": 1, "PutLineageSubgraph": S - 1}
    store.reset_counts()
    run.finish()
    # the links the combined writes left out, then the last publish with the run's status;
    # node contexts not named at the start are found first
    assert dict(store.calls) == {"PutLineageSubgraph": 1 if named else 2,
                                 "PutAttributionsAndAssociations": 1}
    steps = {s.name: s for s in StoreReader(store).read_run(StoreReader(store).get_run("counted")).steps}
    assert {s.state for s in steps.values()} == {records.COMPLETE}
    assert set(steps[names[-1]].outputs) == {"a", "b"}
    assert [s.name for s in step_history(store, "chain", names[-1])][:1] == [names[-1]]
    assert StoreReader(store).get_run("counted").recorded_status == "completed"
    # the same recorder's next run finds every context by the ids this one found
    store.reset_counts()
    recorder.start_run("chain", "counted-again", step_names=names if named else ())
    assert dict(store.calls) == {"PutContexts": 1, "PutParentContexts": 1}


def test_while_it_runs_another_connection_sees_the_running_step(backend: BackendSpec,
                                                                metadata_store: MetadataStore):
    run = record_chain(metadata_store, "in-flight", steps=3, finish=False)
    other = StoreReader(MetadataStore(connection_config(backend), store_name="other"))
    record = other.get_run("in-flight")
    assert record.recorded_status == ""
    steps = {s.name: s for s in other.read_run(record).steps}
    # step_2's publish is held back: it still reads RUNNING, with its inputs
    assert {n: s.state for n, s in steps.items()} == {
        "step_0": records.COMPLETE, "step_1": records.COMPLETE, "step_2": records.RUNNING}
    assert steps["step_2"].inputs == {"x": steps["step_1"].outputs["a"], "y": steps["step_1"].outputs["b"]}
    assert steps["step_2"].outputs == {}
    run.finish()
    steps = {s.name: s for s in other.read_run(other.get_run("in-flight")).steps}
    assert {s.state for s in steps.values()} == {records.COMPLETE}
    assert set(steps["step_2"].outputs) == {"a", "b"}


def _links(raw, run_name: str) -> dict:
    """For each step execution of a run: its contexts, and those of its outputs (names normalized)."""
    run = raw.get_context_by_type_and_name("pipeline_run", run_name)
    found = {}
    for execution in raw.get_executions_by_context(run.id):
        step = execution.name.rsplit(".", 1)[1]
        contexts = {(c.type, c.name.replace(run_name, "RUN")) for c in
                    raw.get_contexts_by_execution(execution.id)}
        outputs = [e.artifact_id for e in raw.get_events_by_execution_ids([execution.id])
                   if e.type == pb.Event.OUTPUT]
        attributed = {frozenset((c.type, c.name.replace(run_name, "RUN"))
                                for c in raw.get_contexts_by_artifact(a)) for a in outputs}
        found[step] = (contexts, attributed)
    return found


def test_combined_writes_leave_each_execution_in_its_own_contexts(metadata_store: MetadataStore):
    raw = metadata_store.raw
    record_chain(metadata_store, "one-at-a-time", defer=False)
    record_chain(metadata_store, "combined", defer=True)
    alone, combined = _links(raw, "one-at-a-time"), _links(raw, "combined")
    assert set(alone) == set(combined) == {f"step_{i}" for i in range(S)}
    for step, (contexts, attributed) in combined.items():
        # pipeline, run and node: exactly as one at a time
        assert contexts == alone[step][0], step
        assert {t for t, _ in contexts} == {"pipeline", "pipeline_run", "node"}
        # outputs belong to their pipeline and run in both ways
        for links in attributed:
            assert {("pipeline", "chain"), ("pipeline_run", "RUN")} <= links, (step, links)
    for i in range(S):
        node = raw.get_context_by_type_and_name("node", f"chain.step_{i}")
        names = sorted(e.name for e in raw.get_executions_by_context(node.id))
        assert names == sorted([f"one-at-a-time.step_{i}", f"combined.step_{i}"])
    assert not any(t.name == "execution_cache" for t in raw.get_context_types())  # schema 3


def test_a_held_back_publish_that_fails_fails_its_step_only(metadata_store: MetadataStore):
    # An artifact of zen_mlmd's type already has the name the output will get
    # (another writer's): publishing it fails inside MLMD (names are unique per type).
    raw = metadata_store.raw
    model_type = raw.put_artifact_type(pb.ArtifactType(name="zen_mlmd.Model"))
    [squatter] = raw.put_artifacts([pb.Artifact(type_id=model_type, name="fragile-1.first.model", uri="/x")])
    recorder = Recorder(metadata_store)
    with recorder.start_run("fragile", "fragile-1") as run:
        first = run.start_step("first", "tests.first")
        refs = first.publish({"model": records.OutputArtifact(
            uri="/m", kind="model", materializer="pickle", data_type="x")}, defer=True)
        assert refs == {"model": (records.OutputRef(first.execution_id, "model", 0),)}
        with pytest.raises(PublishFailedError) as raised:
            run.start_step("second", "tests.second")
        assert raised.value.step_name == "first" and "Fix:" in str(raised.value)
        assert run.failed_steps == ["first"] and run.held_step is None
        second = run.start_step("second", "tests.second")  # now alone
        second.publish({})
    reader = StoreReader(metadata_store)
    record = reader.get_run("fragile-1")
    assert record.recorded_status == "failed"
    steps = {s.name: s for s in reader.read_run(record).steps}
    assert steps["first"].state == records.FAILED and steps["first"].outputs == {}
    assert "fragile-1.first.model" in steps["first"].error_message
    assert steps["second"].state == records.COMPLETE
    assert [a.id for a in metadata_store.get_artifacts()] == [squatter]  # nothing half-written


def test_an_input_from_an_unpublished_output_is_refused(metadata_store: MetadataStore):
    run = Recorder(metadata_store).start_run("refs", "refs-1")
    first = run.start_step("first", "tests.first")
    ghost = records.OutputRef(first.execution_id + 1000, "out", 0)
    with pytest.raises(Exception) as raised:
        run.start_step("second", "tests.second", inputs={"x": ghost})
    assert "not published yet" in str(raised.value) and "inputs.x" in str(raised.value)


@pytest.mark.parametrize("backend", ["sqlite", "mysql", "postgresql"], indirect=True)
def test_a_node_context_deleted_during_a_run_is_found_again_at_its_end(metadata_store: MetadataStore):
    """The run's start finds the node contexts of its steps; deleting the only other run
    of the pipeline meanwhile deletes those no other run uses. The end recreates them."""
    from zen_mlmd.lifecycle import delete_runs

    record_chain(metadata_store, "only-other")  # every node context is used by this run alone
    names = [f"step_{i}" for i in range(S)]
    run = Recorder(metadata_store).start_run("chain", "survivor", step_names=names)
    inputs = None
    for i, name in enumerate(names):
        step = run.start_step(name, f"tests.chain.{name}", inputs=inputs)
        refs = step.publish({n: _output("survivor", name, n) for n in ("a", "b")}, defer=True)
        inputs = {"x": refs["a"], "y": refs["b"]}
        if i == 0:  # step_0 is in its node context (started alone); the others are not yet
            delete_runs(metadata_store, ["only-other"])
    gone = {f"chain.{n}" for n in names[1:]}
    assert not gone & {c.name for c in metadata_store.raw.get_contexts_by_type("node")}
    run.finish()
    reader = StoreReader(metadata_store)
    record = reader.get_run("survivor")
    assert record.recorded_status == "completed"
    assert {s.state for s in reader.read_run(record).steps} == {records.COMPLETE}
    for name in names:  # each step is in its (recreated) node context, with its properties
        [execution] = step_history(metadata_store, "chain", name)
        assert execution.properties["run_name"] == "survivor"
        node = metadata_store.raw.get_context_by_type_and_name("node", f"chain.{name}")
        assert node.custom_properties["node_id"].string_value == name


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_node_context_deleted_before_its_step_starts_alone_is_found_again(metadata_store: MetadataStore):
    from zen_mlmd.lifecycle import delete_runs

    record_chain(metadata_store, "only-other")
    run = Recorder(metadata_store).start_run("chain", "second", step_names=["step_0"])
    delete_runs(metadata_store, ["only-other"])  # and with it the node context found at the start
    run.start_step("step_0", "tests.chain.step_0").publish({})
    run.finish()
    [execution] = step_history(metadata_store, "chain", "step_0")
    assert execution.properties["run_name"] == "second" and execution.state == records.COMPLETE


@pytest.mark.parametrize("backend", ["sqlite", "mysql", "postgresql"], indirect=True)
def test_a_recorder_whose_pipeline_was_deleted_between_two_runs_recreates_it(metadata_store: MetadataStore):
    from zen_mlmd.lifecycle import delete_runs

    recorder = Recorder(metadata_store)
    names = [f"step_{i}" for i in range(S)]

    def record(run_name: str) -> None:
        run = recorder.start_run("chain", run_name, step_names=names)
        inputs = None
        for name in names:
            step = run.start_step(name, f"tests.chain.{name}", inputs=inputs)
            refs = step.publish({n: _output(run_name, name, n) for n in ("a", "b")}, defer=True)
            inputs = {"x": refs["a"], "y": refs["b"]}
        run.finish()

    record("first")
    delete_runs(metadata_store, ["first"])  # the pipeline and node contexts go with their only run
    assert metadata_store.raw.get_contexts_by_type("pipeline") == []
    record("second")  # the ids the recorder kept are refused: found (created) again by name
    reader = StoreReader(metadata_store)
    [run] = list(reader.iter_runs("chain"))
    assert run.name == "second" and run.recorded_status == "completed"
    assert {s.state for s in reader.read_run(run).steps} == {records.COMPLETE}
    for name in names:
        assert [s.properties["run_name"] for s in step_history(metadata_store, "chain", name)] == ["second"]
