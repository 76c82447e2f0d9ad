"""Recording runs through the local orchestrator, on every metadata-store backend.

Speed rules are held by counting MLMD calls on the store's connection
(`MetadataStore.calls`), never by timing. Which step functions actually ran
is seen through `EXECUTED`, the steps' log (`RAN`). Caching is tested
in test_caching.py; the steps both use are in recording_pipelines.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from recording_pipelines import EXECUTED, RAN, describe, fit, load, run_data, score, steps_by_name, training
from recording_pipelines import executed_cleared, stack_fixture  # noqa: F401 (fixtures)
from zen_mlmd.artifacts import Dataset, read_artifact
from zen_mlmd.errors import AlreadyExistsError, StepFailedError
from zen_mlmd.mlmd.records import CANCELED, COMPLETE, FAILED
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step
from zen_mlmd.tracking.recorder import Recorder

WIDTH = 10


# -- steps and pipelines -----------------------------------------------------------------
# One input/output vs WIDTH inputs/outputs: recording must cost the same.
@step
def make_one(n: int = 1):
    RAN.info("make_one")
    return [n]


@step
def take_one(item: list):
    RAN.info("take_one")
    return item


@step(outputs=[f"part{i}" for i in range(WIDTH)])
def make_many(n: int = 1):
    RAN.info("make_many")
    return tuple([n, i] for i in range(WIDTH))


@step
def take_many(items: list):
    RAN.info("take_many")
    return [x for item in items for x in item]


@pipeline
def narrow(n: int = 1):
    take_one(make_one(n=n))


@pipeline
def wide(n: int = 1):
    parts = make_many(n=n)
    take_many(list(parts))


# A step that fails after it saved one of its outputs.
@step(outputs={"good": Dataset, "bad": Dataset})
def explode(train: list):
    RAN.info("explode")
    return {"kept": train}, (lambda: None)  # the lambda cannot be pickled


@step
def after_explode(good: dict):
    RAN.info("after_explode")
    return good


@step
def after_after(value: dict):
    RAN.info("after_after")
    return value


@pipeline
def fragile(n: int = 3):
    train, test = load(n=n)
    after_after(after_explode(explode(train)[0]))
    describe(train)


@step
def boom(train: list):
    RAN.info("boom")
    raise ValueError(f"bad value {len(train)}")


@pipeline
def raising(n: int = 3):
    train, test = load(n=n)
    score(fit(train), test)
    boom(train)


def type_registrations(store) -> int:
    return sum(n for name, n in store.calls.items() if name.startswith("Put") and name.endswith("Type"))


# -- the cost of recording -------------------------------------------------------------------
def step_writes(calls) -> int:
    """Writes of steps: PutExecution and PutLineageSubgraph, without the run's start.

    The last one, the last step's publish, also records the run's status.
    """
    return calls["PutExecution"] + calls["PutLineageSubgraph"] - RUN_START["PutLineageSubgraph"]


#: A run's own writes: at the start, the pipeline and node contexts found (one
#: PutLineageSubgraph), its context and parent link; before its end, the links
#: its combined writes left out (one PutAttributionsAndAssociations).
RUN_START = {"PutLineageSubgraph": 1, "PutContexts": 1, "PutParentContexts": 1}
RUN_END = {"PutAttributionsAndAssociations": 1}


def test_a_linear_pipeline_of_s_steps_costs_s_plus_one_writes_however_wide(stack):
    store = stack.store
    narrow.run(stack=stack, quiet=True, run_name="narrow-warm")
    wide.run(stack=stack, quiet=True, run_name="wide-warm")

    costs = {}
    for pipe in (narrow, wide):
        store.reset_counts()
        pipe.run(stack=stack, quiet=True, run_name=f"{pipe.name}-measured", enable_cache=False)
        costs[pipe.name] = dict(store.calls)
        writes = {k: v for k, v in store.calls.items() if k.startswith("Put")}
        # two steps: the first start alone, publish 1 + start 2 together, the last
        # publish with the run's status
        assert writes == {**RUN_START, **RUN_END, "PutExecution": 1,
                          "PutLineageSubgraph": RUN_START["PutLineageSubgraph"] + 2}, store.calls
        assert step_writes(store.calls) == 2 + 1
        assert type_registrations(store) == 0

    assert costs["wide"] == costs["narrow"]  # neither writes nor reads grow with width

    data = run_data(store, "wide-measured")
    steps = steps_by_name(data)
    assert len(steps["make_many"].outputs) == WIDTH
    assert steps["take_many"].inputs == {"items": tuple(steps["make_many"].outputs[f"part{i}"][0]
                                                        for i in range(WIDTH))}


def test_a_layered_dag_costs_s_plus_one_step_writes(stack):
    store = stack.store
    training.run(stack=stack, quiet=True, run_name="layered-warm")
    store.reset_counts()
    training.run(stack=stack, quiet=True, run_name="layered", n=5)  # caching on, every step misses
    assert EXECUTED.count("describe") == 2
    assert step_writes(store.calls) == 4 + 1, store.calls
    steps = steps_by_name(run_data(store, "layered"))
    assert [s.state for s in steps.values()] == [COMPLETE] * 4
    # inputs published in an earlier write, and in the same write as the start
    assert steps["describe"].inputs == {"train": steps["load"].outputs["train"]}
    assert steps["score"].inputs == {"model": steps["fit"].outputs["model"],
                                     "test": steps["load"].outputs["test"]}


def test_the_recorder_writes_a_step_in_two_calls(metadata_store, tmp_path):
    from zen_mlmd.artifacts import ArtifactStore

    store = metadata_store
    recorder = Recorder(store, ArtifactStore(str(tmp_path / "artifacts")))
    with recorder.start_run("rec", "rec-1") as run:
        first = run.start_step("make", "tests.step")
        for i in range(WIDTH):
            first.save_output(f"o{i}", [i], kind="dataset")
        ids = first.publish()
        store.reset_counts()
        second = run.start_step("use", "tests.step", parameters={"k": 1},
                                inputs={name: ids[name] for name in ids})
        for i in range(WIDTH):
            second.save_output(f"r{i}", {"i": i}, kind="dataset")
        out = second.publish()
        assert dict(store.calls) == {"PutExecution": 2}
        assert store.write_calls == 2
    assert len(out) == WIDTH


def test_types_are_registered_once_per_connection(stack):
    store = stack.store
    training.run(stack=stack, quiet=True, run_name="types-1")
    assert type_registrations(store) > 0
    store.reset_counts()
    training.run(stack=stack, quiet=True, run_name="types-2", lr=0.7, enable_cache=False)
    assert EXECUTED.count("fit") == 2
    assert type_registrations(store) == 0, store.calls


# -- failures --------------------------------------------------------------------------------
def test_a_failing_step_is_recorded_failed_and_its_dependants_canceled(stack):
    store = stack.store
    with pytest.raises(StepFailedError) as info:
        fragile.run(stack=stack, quiet=True, run_name="fragile-1")
    assert info.value.step_name == "explode"
    assert "explode" in str(info.value) and "fragile-1" in str(info.value)

    data = run_data(store, "fragile-1")
    assert data.run.recorded_status == "failed"
    steps = steps_by_name(data)
    assert steps["load"].state == COMPLETE
    assert steps["describe"].state == COMPLETE  # independent of the failure: still ran
    failed = steps["explode"]
    assert failed.state == FAILED
    assert failed.error_type == "MaterializerError"
    assert "bad" in failed.error_message or "pickle" in failed.error_message.lower()
    assert failed.outputs == {}
    assert steps["after_explode"].state == CANCELED
    assert steps["after_after"].state == CANCELED
    assert "after_explode" not in EXECUTED and "after_after" not in EXECUTED

    # Nothing of the failed step is LIVE, and its saved output is gone from the store.
    live_names = [a.name for a in store.get_artifacts() if a.state == a.LIVE]
    assert not [n for n in live_names if n.startswith("fragile-1.explode.")]
    explode_dir = Path(stack.artifacts.root) / "fragile" / "fragile-1" / "explode"
    assert not explode_dir.exists() or not [p for p in explode_dir.rglob("*") if p.is_file()]

    # Earlier outputs are still LIVE and readable.
    for name, (artifact_id,) in steps["load"].outputs.items():
        artifact = data.artifacts[artifact_id]
        assert artifact.state == "LIVE"
        value = read_artifact(artifact.uri, stack.artifacts, artifact.materializer, artifact.data_type,
                              content_hash=artifact.content_hash)
        assert value == ([0, 1, 2] if name == "train" else [3, 4])


def test_a_raising_step_records_its_error_type_and_message(stack):
    with pytest.raises(StepFailedError) as info:
        raising.run(stack=stack, quiet=True, run_name="raising-1")
    assert info.value.step_name == "boom"
    assert isinstance(info.value.cause, ValueError)
    steps = steps_by_name(run_data(stack.store, "raising-1"))
    assert steps["boom"].state == FAILED
    assert steps["boom"].error_type == "ValueError"
    assert steps["boom"].error_message == "bad value 3"
    assert {steps[n].state for n in ("load", "fit", "score")} == {COMPLETE}


def test_a_duplicate_run_name_is_a_clear_error(stack):
    store = stack.store
    training.run(stack=stack, quiet=True, run_name="same-name")
    executions_before = len(store.get_executions())
    EXECUTED.clear()
    with pytest.raises(AlreadyExistsError) as info:
        training.run(stack=stack, quiet=True, run_name="same-name", lr=0.3)
    assert "same-name" in str(info.value)
    assert "Fix:" in str(info.value)
    assert EXECUTED == []
    assert len(store.get_executions()) == executions_before
    assert run_data(store, "same-name").run.recorded_status == "completed"


@step
def make_pair(n: int = 2) -> list:
    RAN.info("make_pair")
    return list(range(n))


@step
def compare_lists(left: list, right: list) -> bool:
    RAN.info("compare_lists")
    return left == right


@pipeline
def self_comparison(n: int = 2):
    data = make_pair(n=n)
    compare_lists(data, data)


def test_one_artifact_feeding_two_inputs(stack):
    """MLMD keeps one event per (artifact, execution, type): the mapping survives anyway."""
    run = self_comparison.run(stack=stack, quiet=True, run_name="self-compare")
    step_record = steps_by_name(run_data(stack.store, "self-compare"))["compare_lists"]
    [produced] = steps_by_name(run_data(stack.store, "self-compare"))["make_pair"].outputs["output"]
    assert step_record.state == COMPLETE
    assert dict(step_record.inputs) == {"left": (produced,), "right": (produced,)}
    assert run.steps["compare_lists"].outputs["output"].read() is True
    EXECUTED.clear()
    self_comparison.run(stack=stack, quiet=True, run_name="self-compare-2")
    assert EXECUTED == []  # and it caches like any other step


def test_a_held_back_publish_that_fails_fails_its_step_and_cancels_its_dependants(stack):
    from ml_metadata.proto import metadata_store_pb2 as pb

    # an artifact of zen_mlmd's Model type already has the name fit's model will get:
    # publishing it fails inside MLMD, in the write that also starts the next step
    raw = stack.store.raw
    model_type = raw.put_artifact_type(pb.ArtifactType(name="zen_mlmd.Model"))
    raw.put_artifacts([pb.Artifact(type_id=model_type, name="unpublishable.fit.model", uri="/x")])
    with pytest.raises(StepFailedError) as info:
        training.run(stack=stack, quiet=True, run_name="unpublishable")
    assert info.value.step_name == "fit"
    assert EXECUTED == ["load", "fit", "describe"]  # score never ran
    data = run_data(stack.store, "unpublishable")
    assert data.run.recorded_status == "failed"
    steps = steps_by_name(data)
    assert {n: s.state for n, s in steps.items()} == {
        "load": COMPLETE, "fit": FAILED, "score": CANCELED, "describe": COMPLETE}
    assert steps["fit"].outputs == {} and "already exists" in steps["fit"].error_message
