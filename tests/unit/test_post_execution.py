"""The read API: pipelines, runs, steps and artifacts read back from real MLMD stores."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from post_execution_helpers import (
    LocalTestStack, chain_pipeline, record_bare_runs, record_training, sqlite_store,
)
from zen_mlmd.errors import StepFailedError, UnknownNameError
from zen_mlmd.mlmd.store import MetadataStore, in_memory_connection_config
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step
from zen_mlmd.post_execution import get_artifact, get_pipeline, get_pipelines, get_run, get_runs
from zen_mlmd.post_execution.status import run_status, step_status
from zen_mlmd.mlmd.records import RunRecord
from zen_mlmd.tracking.recorder import Recorder


@pytest.fixture
def store() -> MetadataStore:
    return MetadataStore(in_memory_connection_config(), store_name="memory")


@pytest.fixture
def stack(store, tmp_path) -> LocalTestStack:
    return LocalTestStack(store, tmp_path / "artifacts")


def test_whole_run_reads_back_with_parameters_inputs_outputs_and_values(store, stack):
    name = record_training(stack, run_name="first", n_samples=8, C=0.5)
    run = get_pipeline("training", store).get_run(name)
    assert (run.name, run.pipeline_name, run.status) == ("first", "training", "completed")
    assert run.steps.names() == ["load", "split", "train", "evaluate"]
    train = run.steps["train"]
    assert train is run.get_step("train")
    assert dict(train.parameters) == {"C": 0.5}
    assert train.status == "completed" and not train.is_cached and train.original is None
    assert train.code_fingerprint.startswith("sha256:") and len(train.cache_key) == 64
    assert train.inputs["train_set"].id == run.steps["split"].outputs["train"].id
    model = train.outputs["model"]
    assert (model.type, model.kind, model.base_type) == ("zen_mlmd.Model", "model", "MODEL")
    assert model.materializer and model.data_type == "builtins.dict"
    assert model.content_hash.startswith("sha256:")
    assert model.read() == {"weight": sum(range(4)) * 0.5}
    assert model.producer_step.name == "train" and model.run_name == "first"
    assert run.steps["evaluate"].outputs["n_test"].read() == 4
    assert run.config["parameters"] == {"n_samples": 8, "C": 0.5}


def test_times_are_utc_and_durations_follow(store, stack):
    run = get_run(record_training(stack), store)
    assert run.start_time.tzinfo == dt.timezone.utc
    assert run.end_time >= run.start_time and run.duration == run.end_time - run.start_time
    for item in run.steps:
        assert item.start_time <= item.end_time and item.duration >= dt.timedelta(0)


def test_views_are_read_only(store, stack):
    run = get_run(record_training(stack), store)
    with pytest.raises(AttributeError):
        run.name = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.steps[0].name = "other"
    with pytest.raises(TypeError):
        run.steps["train"].parameters["C"] = 3


def test_cached_step_names_the_step_of_the_first_run(store, stack):
    first = record_training(stack, run_name="first")
    second = get_run(record_training(stack, run_name="second"), store)
    assert second.status == "cached"
    train = second.steps["train"]
    assert train.is_cached and train.status == "cached"
    original = train.original
    assert (original.name, original.run_name, original.status) == ("train", first, "completed")
    assert original.id == get_run(first, store).steps["train"].id
    assert train.outputs["model"].id == original.outputs["model"].id
    assert train.outputs["model"].producer_step.id == original.id


def test_pipelines_and_unknown_names_suggest_close_matches(store, stack):
    record_training(stack, run_name="training-one")
    assert [p.name for p in get_pipelines(store)] == ["training"]
    with pytest.raises(UnknownNameError, match="did you mean 'training'"):
        get_pipeline("trainig", store)
    with pytest.raises(UnknownNameError, match="did you mean 'training-one'"):
        get_run("training-onr", store)
    with pytest.raises(UnknownNameError, match="did you mean 'train'"):
        get_run("training-one", store).steps["trian"]
    with pytest.raises(UnknownNameError, match="artifact id '999'"):
        get_artifact(999, store)


def test_get_artifact_reads_its_producer_in_a_bounded_number_of_calls(store, stack):
    run = get_run(record_training(stack), store)
    model_id = run.steps["train"].outputs["model"].id
    store.reset_counts()
    model = get_artifact(model_id, store)
    assert store.total_calls <= 5
    assert model.producer_step.name == "train"
    assert model.producer_step.inputs["train_set"].name == "train"
    assert model.read() == run.steps["train"].outputs["model"].read()


def test_failed_step_reads_its_error_and_downstream_steps_are_canceled(store, stack):
    @step
    def explode(data: dict) -> dict:
        raise ValueError("bad batch")

    @step
    def after(value: dict) -> int:
        return 1

    @pipeline
    def broken():
        from post_execution_helpers import load
        after(explode(load()))

    with pytest.raises(StepFailedError):
        broken.run(stack=stack, quiet=True, run_name="broken-1")
    run = get_run("broken-1", store)
    assert run.status == "failed"
    assert [(s.name, s.status) for s in run.steps] == [
        ("load", "completed"), ("explode", "failed"), ("after", "canceled")]
    error = run.steps["explode"].error
    assert (error.type, error.message) == ("ValueError", "bad batch")
    assert run.steps["explode"].outputs == {}


def test_a_run_still_in_progress_reads_running(store):
    recorder = Recorder(store)
    run = recorder.start_run("live", run_name="live-1")
    run.start_step("work", type_name="tests.work")
    read = get_run("live-1", store)
    assert read.status == "running"
    assert read.end_time is None and read.duration is None
    assert read.steps["work"].status == "running" and read.steps["work"].duration is None


_KILLED_WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from post_execution_helpers import sqlite_store
    from zen_mlmd.tracking.recorder import Recorder
    run = Recorder(sqlite_store({path!r})).start_run("doomed", run_name="doomed-1")
    run.start_step("work", type_name="tests.work")
    print("started", flush=True)
    time.sleep(600)
""")


def test_a_run_whose_process_was_killed_reads_interrupted(tmp_path):
    path = tmp_path / "mlmd.sqlite"
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = _KILLED_WRITER.format(tests=tests_dir, path=str(path))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert writer.stdout.readline().strip() == "started"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    run = get_run("doomed-1", sqlite_store(path))
    assert run.status == "interrupted"
    assert run.steps["work"].status == "interrupted"


def test_status_rules():
    ended = RunRecord(1, "r", "p", 0, 0, recorded_status="completed")
    assert run_status(ended, ["CACHED", "CACHED"]) == "cached"
    assert run_status(ended, ["CACHED", "COMPLETE"]) == "completed"
    assert run_status(dataclasses.replace(ended, recorded_status="failed")) == "failed"
    assert run_status(dataclasses.replace(ended, recorded_status="exploded")) == "unknown"
    foreign = dataclasses.replace(ended, recorded_status="", owner={"host": "elsewhere", "pid": 1})
    assert run_status(foreign) == "running"  # this host cannot tell: not "interrupted"
    assert step_status("NEW") == "pending"
    assert step_status("SOMETHING_NEW") == "unknown"
    assert step_status("RUNNING", run_interrupted=True) == "interrupted"
    assert step_status("COMPLETE", run_interrupted=True) == "completed"


# -- MLMD call counts -----------------------------------------------------------------------
def _calls_to_read(path, run_name: str) -> int:
    """MLMD calls to read a whole run and follow every artifact, on a fresh connection."""
    store = sqlite_store(path)  # nothing cached: types are fetched as a first read would
    run = get_run(run_name, store)
    store.reset_counts()
    for item in run.steps:
        for value in (*item.inputs.values(), *item.outputs.values()):
            assert value.producer_step is not None and value.type
    return store.total_calls


def test_reading_a_run_costs_the_same_for_5_and_50_steps(tmp_path):
    path = tmp_path / "mlmd.sqlite"
    stack = LocalTestStack(sqlite_store(path), tmp_path / "artifacts")
    # no cache: cached steps would add the (one) call that reads their original steps
    small = chain_pipeline(5).run(stack=stack, quiet=True, enable_cache=False).name
    large = chain_pipeline(50).run(stack=stack, quiet=True, enable_cache=False).name
    large_run = get_run(large, sqlite_store(path))
    assert len(large_run.steps) == 50
    assert all(len(s.outputs) == 1 for s in large_run.steps)
    assert all(len(s.inputs) == 1 for s in large_run.steps[1:])
    small_calls = _calls_to_read(path, small)
    # run context, executions, events, artifacts, artifact types: no producer query
    # is needed when every artifact was made inside the run
    assert small_calls == _calls_to_read(path, large) == 5


def test_listing_pages_100_runs_per_call(store):
    names = record_bare_runs(store, 250)
    pipeline_ = get_pipeline("bare", store)
    store.reset_counts()
    assert pipeline_.runs[0].name == names[-1]
    assert store.calls["GetContexts"] == 1
    store.reset_counts()
    assert [r.name for r in pipeline_.runs] == names[::-1]
    assert store.calls["GetContexts"] == 3
    # no call per run: one more to see which conventions have contexts here
    assert store.total_calls == 3 + store.calls["GetContextTypes"] == 4


def test_run_statuses_of_a_page_cost_one_query(store, stack):
    record_bare_runs(store, 30)
    runs = get_pipeline("bare", store).runs
    assert len(runs) == 30
    store.reset_counts()
    assert {r.status for r in runs} == {"completed"}
    assert store.calls["GetExecutions"] == 1
    assert store.calls["GetExecutionsByContext"] == 0


def test_iterating_runs_and_their_statuses_costs_one_query_per_page(store, stack):
    record_bare_runs(store, 30)
    store.reset_counts()
    statuses = [r.status for r in get_pipeline("bare", store).runs]  # no len() first
    assert statuses == ["completed"] * 30
    assert store.calls["GetExecutions"] == 1
    assert store.calls["GetContexts"] == 1


def test_all_runs_are_one_listing_and_a_page_is_one_call(store):
    # Conventions whose runs are other context types (TFX's async pipelines are
    # `pipeline` contexts) share the one listing: they cost no query of their own.
    names = record_bare_runs(store, 150) + record_bare_runs(store, 1, "other")
    store.reset_counts()
    runs = get_runs(store=store)
    assert runs[0].name == "other-0000"
    # one call, though the newest 100 contexts hold the new pipeline's context
    assert store.calls["GetContexts"] == 1
    store.reset_counts()
    assert [r.name for r in get_runs(store=store)] == names[::-1]
    assert store.calls["GetContexts"] == 2  # 151 runs and 2 pipeline contexts


def test_a_bad_step_name_is_refused_before_anything_runs(store, stack):
    from zen_mlmd.errors import ConfigError
    from zen_mlmd.pipelines.pipeline import pipeline
    from zen_mlmd.pipelines.step import step

    ran = []

    @step
    def first() -> int:
        ran.append("first")
        return 1

    @step(name="second.step")  # a dot would make `<run>.<step>` ambiguous
    def second(value: int) -> int:
        return value

    @pipeline
    def dotted():
        second(first())

    with pytest.raises(ConfigError, match="step_name='second.step'"):
        dotted.run(stack=stack, quiet=True)
    assert ran == [] and store.get_contexts() == []
