"""Caching through the local orchestrator, on every metadata-store backend.

A step whose cache key was recorded before is served from the cache (no
execution) unless its output was deleted or caching is off for the run, the
pipeline or the step. Lookups are counted as MLMD calls, never timed. Which
step functions actually ran is seen through `EXECUTED`.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from recording_pipelines import EXECUTED, RAN, fit, load, run_data, score, steps_by_name, training
from recording_pipelines import executed_cleared, stack_fixture  # noqa: F401 (fixtures)
from zen_mlmd.mlmd.records import CACHED, COMPLETE
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step


# -- steps and pipelines -----------------------------------------------------------------
@pipeline(enable_cache=False)
def training_uncached(n: int = 4):
    train, test = load(n=n)
    fit(train)


FRESH = {"draws": 0}


@step(enable_cache=False)
def fit_always(train: list, lr: float = 0.1):
    # Not deterministic (the reason to switch its cache off): each execution differs.
    RAN.info("fit_always")
    FRESH["draws"] += 1
    return {"w": sum(train) * lr, "draw": FRESH["draws"]}


@pipeline
def training_step_uncached(n: int = 4):
    train, test = load(n=n)
    score(fit_always(train), test)


@pipeline
def loads_twice(n: int = 4):
    load(n=n)
    load(n=n)  # the same key: served from the first, whose publish is held back


def states(store, run_name) -> dict[str, str]:
    """Recorded state of each step of a run, by step name."""
    return {s.name: s.state for s in run_data(store, run_name).steps}


def test_a_second_identical_run_is_served_from_the_cache(stack):
    store = stack.store
    training.run(stack=stack, quiet=True, run_name="cache-1")
    assert sorted(EXECUTED) == ["describe", "fit", "load", "score"]
    assert set(states(store, "cache-1").values()) == {COMPLETE}
    EXECUTED.clear()
    store.reset_counts()

    training.run(stack=stack, quiet=True, run_name="cache-2")
    assert EXECUTED == []
    # A cache hit: one lookup, one write.
    assert store.calls["GetArtifacts"] == 4
    assert store.calls["PutExecution"] == 4

    before = steps_by_name(run_data(store, "cache-1"))
    after_data = run_data(store, "cache-2")
    after = steps_by_name(after_data)
    for name, cached in after.items():
        assert cached.state == CACHED
        assert cached.original_execution_id == before[name].id
        assert cached.outputs == before[name].outputs
        assert cached.cache_key == before[name].cache_key
    assert after["fit"].inputs == before["fit"].inputs
    assert after_data.run.recorded_status == "completed"


def test_a_cache_lookup_is_one_call_and_flat_as_history_grows(stack):
    store = stack.store
    training.run(stack=stack, quiet=True, run_name="flat-0")
    store.reset_counts()
    training.run(stack=stack, quiet=True, run_name="flat-1")
    few_runs = dict(store.calls)
    for i in range(2, 6):
        training.run(stack=stack, quiet=True, run_name=f"flat-{i}", lr=0.1 * i)
    store.reset_counts()
    training.run(stack=stack, quiet=True, run_name="flat-6")
    assert dict(store.calls) == few_runs
    assert store.calls["GetArtifacts"] == 4


def test_changing_one_parameter_reruns_that_step_and_its_downstream(stack):
    store = stack.store
    training.run(stack=stack, quiet=True, run_name="param-1")
    EXECUTED.clear()
    training.run(stack=stack, quiet=True, run_name="param-2", lr=0.5)
    assert sorted(EXECUTED) == ["fit", "score"]
    assert states(store, "param-2") == {"load": CACHED, "fit": COMPLETE,
                                        "score": COMPLETE, "describe": CACHED}
    steps = steps_by_name(run_data(store, "param-2"))
    assert steps["fit"].parameters == {"lr": 0.5}
    assert steps["fit"].state == COMPLETE and steps["load"].state == CACHED

    EXECUTED.clear()
    training.run(stack=stack, quiet=True, run_name="param-3", label="count")
    assert EXECUTED == ["describe"]


def test_changing_an_upstream_parameter_reruns_its_consumers(stack):
    training.run(stack=stack, quiet=True, run_name="up-1")
    EXECUTED.clear()
    training.run(stack=stack, quiet=True, run_name="up-2", n=6)
    assert sorted(EXECUTED) == ["describe", "fit", "load", "score"]


def test_a_deleted_cached_output_is_recomputed(stack):
    store = stack.store
    training.run(stack=stack, quiet=True, run_name="del-1")
    steps = steps_by_name(run_data(store, "del-1"))
    [model_id] = steps["fit"].outputs["model"]
    [model] = store.get_artifacts_by_id([model_id])
    shutil.rmtree(model.uri)
    EXECUTED.clear()

    training.run(stack=stack, quiet=True, run_name="del-2")
    assert EXECUTED == ["fit"]
    recorded = states(store, "del-2")
    assert recorded["fit"] == COMPLETE
    assert recorded["score"] == CACHED  # same input identity: its own output still exists
    new_fit = steps_by_name(run_data(store, "del-2"))["fit"]
    assert new_fit.state == COMPLETE
    [new_model_id] = new_fit.outputs["model"]
    assert new_model_id != model_id
    assert Path(store.get_artifacts_by_id([new_model_id])[0].uri).exists()

    EXECUTED.clear()
    training.run(stack=stack, quiet=True, run_name="del-3")
    assert EXECUTED == []
    assert steps_by_name(run_data(store, "del-3"))["fit"].original_execution_id == new_fit.id


def test_caching_off_for_a_run(stack):
    store = stack.store
    training.run(stack=stack, quiet=True, run_name="off-1")
    EXECUTED.clear()
    store.reset_counts()
    training.run(stack=stack, quiet=True, run_name="off-2", enable_cache=False)
    assert sorted(EXECUTED) == ["describe", "fit", "load", "score"]
    assert store.calls["GetArtifacts"] == 0  # no lookups when caching is off
    assert set(states(store, "off-2").values()) == {COMPLETE}
    EXECUTED.clear()
    training.run(stack=stack, quiet=True, run_name="off-3")
    assert EXECUTED == []


def test_caching_off_for_a_pipeline(stack):
    training_uncached.run(stack=stack, quiet=True, run_name="poff-1")
    EXECUTED.clear()
    training_uncached.run(stack=stack, quiet=True, run_name="poff-2")
    assert sorted(EXECUTED) == ["fit", "load"]
    steps = steps_by_name(run_data(stack.store, "poff-2"))
    assert {s.state for s in steps.values()} == {COMPLETE}


def test_caching_off_for_a_step(stack):
    training_step_uncached.run(stack=stack, quiet=True, run_name="soff-1")
    EXECUTED.clear()
    training_step_uncached.run(stack=stack, quiet=True, run_name="soff-2")
    # fit_always ran again and produced a different model: its consumer must
    # not be served outputs computed from the previous execution's model.
    recorded = states(stack.store, "soff-2")
    assert recorded["load"] == CACHED
    assert recorded["fit_always"] == COMPLETE
    assert EXECUTED == ["fit_always", "score"]
    score_step = steps_by_name(run_data(stack.store, "soff-2"))["score"]
    fit_step = steps_by_name(run_data(stack.store, "soff-2"))["fit_always"]
    assert score_step.inputs["model"] == fit_step.outputs["output"]



def test_a_repeated_step_is_served_from_the_cache_of_its_first_invocation_in_the_run(stack):
    loads_twice.run(stack=stack, quiet=True, run_name="twice-1")
    # the first load's publish, held back for the next write, is written before the lookup
    assert EXECUTED == ["load"]
    recorded = run_data(stack.store, "twice-1")
    first, second = recorded.steps
    assert (first.state, second.state) == (COMPLETE, CACHED)
    assert second.original_execution_id == first.id
    assert second.outputs == first.outputs
