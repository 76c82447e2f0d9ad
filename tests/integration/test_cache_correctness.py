"""The cache never serves a wrong result, on every metadata-store backend.

Regression tests for what a user hit: a step made by a factory served the
cached output of another `factor`; changing a module-level dict left the key
unchanged. Then: a step reading something that cannot be fingerprinted runs
every time and says why, once per run; cached outputs whose files were
changed or deleted are not reused, and why is recorded and explained; an
entry written under the previous key version misses once. Lookups are
counted as MLMD calls. Which step functions ran is seen through `EXECUTED`.
"""
from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from recording_pipelines import EXECUTED, RAN, run_data, steps_by_name
from recording_pipelines import executed_cleared, stack_fixture  # noqa: F401 (fixtures)
from zen_mlmd.mlmd.records import CACHED, COMPLETE
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step
from zen_mlmd.tracking import caching
from zen_mlmd.tracking.explain import explain_run
from zen_mlmd.tracking.step_cache import MISS_REASON_PROPERTY, UNCACHEABLE_PROPERTY

CONFIG = {"threshold": 0.5, "columns": ["a", "b"]}
OPENER = urllib.request.build_opener()  # a client object: it cannot be fingerprinted


# -- steps and pipelines ---------------------------------------------------------------------
@step
def numbers(n: int = 4) -> list:
    RAN.info("numbers")
    return [i / n for i in range(n)] + [1.0]


def make_scaler(factor):
    @step(name="scale")
    def scale(values: list) -> list:
        RAN.info("scale")
        return [v * factor for v in values]
    return scale


def factory_pipeline(factor):
    scale = make_scaler(factor)

    @pipeline(name="factory")
    def factory():
        scale(numbers())
    return factory


@step
def keep_above(values: list) -> list:
    RAN.info("keep_above")
    return [v for v in values if v > CONFIG["threshold"]]


@step
def total(values: list) -> float:
    RAN.info("total")
    return sum(values)


@pipeline
def thresholds():
    total(keep_above(numbers()))


def opener_name():
    return type(OPENER).__name__


@step
def fetch(n: int = 2) -> list:
    RAN.info("fetch")
    return [opener_name()] * n


@step
def count(items: list) -> int:
    RAN.info("count")
    return len(items)


@pipeline
def fetching():
    count(fetch())


def output_of(run, step_name: str):
    return run.steps[step_name].outputs["output"].read()


# -- the two regression cases ------------------------------------------------------------
def test_a_factory_step_made_with_another_factor_is_not_served_from_the_cache(stack):
    first = factory_pipeline(1).run(stack=stack, quiet=True, run_name="factor-1")
    assert output_of(first, "scale") == [0.0, 0.25, 0.5, 0.75, 1.0]
    EXECUTED.clear()

    thousand = factory_pipeline(1000).run(stack=stack, quiet=True, run_name="factor-1000")
    assert EXECUTED == ["scale"]  # numbers is unchanged: cached
    assert output_of(thousand, "scale") == [0.0, 250.0, 500.0, 750.0, 1000.0]
    [why] = [e for e in explain_run(stack.store, "factor-1000") if e.step == "scale"]
    assert why.status == "miss"
    assert why.reasons == ("closure variable factor changed: 1 -> 1000",)
    assert why.compared_with.startswith("factor-1.scale")

    EXECUTED.clear()
    again = factory_pipeline(1).run(stack=stack, quiet=True, run_name="factor-1-again")
    assert EXECUTED == []
    assert output_of(again, "scale") == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert again.steps["scale"].original.run_name == "factor-1"


def test_changing_a_module_dict_reruns_the_step_that_reads_it(stack, monkeypatch):
    store = stack.store
    first = thresholds.run(stack=stack, quiet=True, run_name="config-1")
    assert output_of(first, "keep_above") == [0.75, 1.0]
    EXECUTED.clear()

    monkeypatch.setitem(CONFIG, "threshold", 0.7)
    store.reset_counts()
    changed = thresholds.run(stack=stack, quiet=True, run_name="config-2")
    assert sorted(EXECUTED) == ["keep_above", "total"]  # total's input is a new key's output
    assert output_of(changed, "keep_above") == [0.75, 1.0]
    assert store.calls["GetArtifacts"] == 3  # one lookup per step, hit or miss
    recorded = {s.name: s.state for s in run_data(store, "config-2").steps}
    assert recorded == {"numbers": CACHED, "keep_above": COMPLETE, "total": COMPLETE}
    [why] = explain_run(store, "config-2", "keep_above")
    assert why.reasons == ("global CONFIG changed: threshold 0.5 -> 0.7",)

    monkeypatch.setitem(CONFIG, "threshold", 0.8)
    EXECUTED.clear()
    third = thresholds.run(stack=stack, quiet=True, run_name="config-3")
    assert sorted(EXECUTED) == ["keep_above", "total"]
    assert output_of(third, "keep_above") == [1.0]

    monkeypatch.setitem(CONFIG, "threshold", 0.5)  # back to the first value: its outputs
    EXECUTED.clear()
    back = thresholds.run(stack=stack, quiet=True, run_name="config-4")
    assert EXECUTED == []
    assert back.steps["keep_above"].original.run_name == "config-1"


# -- uncacheable steps -------------------------------------------------------------------------
UNCACHEABLE_LINE = (
    "  fetch reads global 'OPENER' (urllib.request.OpenerDirector, read in "
    f"{__name__}.opener_name) that cannot be fingerprinted: the step will run every time; "
    "pass it as a parameter or mark the step enable_cache=False")


def test_a_step_reading_an_unfingerprintable_global_runs_every_time_and_says_why_once(stack, capsys):
    store = stack.store
    for i in range(2):
        EXECUTED.clear()
        store.reset_counts()
        fetching.run(stack=stack, run_name=f"fetch-{i}")
        assert EXECUTED == (["fetch", "count"] if i == 0 else ["fetch"])
        lines = capsys.readouterr().err.splitlines()
        assert lines.count(UNCACHEABLE_LINE) == 1, lines
        assert store.calls["GetArtifacts"] == 1  # only `count` is looked up
    steps = steps_by_name(run_data(store, "fetch-1"))
    assert steps["fetch"].state == COMPLETE
    assert steps["fetch"].cache_key == ""  # nothing will ever be matched to it
    assert steps["fetch"].properties[UNCACHEABLE_PROPERTY] == UNCACHEABLE_LINE.strip()[len("fetch "):].split(
        ": the step will run every time")[0]
    assert steps["count"].state == CACHED  # fetch's output has the same contents
    [why] = explain_run(store, "fetch-1", "fetch")
    assert why.status == "uncacheable"
    assert "reads global 'OPENER' (urllib.request.OpenerDirector" in why.reasons[0]
    [artifact] = store.get_artifacts_by_id(list(steps["fetch"].outputs["output"]))
    assert "cache_key" not in artifact.custom_properties


def test_a_step_whose_caching_is_off_prints_nothing(stack, capsys):
    fetching.run(stack=stack, run_name="quiet-1", enable_cache=False)
    assert "cannot be fingerprinted" not in capsys.readouterr().err


# -- verified outputs -----------------------------------------------------------------------
def _data_file(store, step) -> Path:
    [artifact] = store.get_artifacts_by_id(list(step.outputs["output"]))
    [data] = [p for p in Path(artifact.uri).iterdir() if p.is_file()]
    return data


def test_cached_outputs_whose_contents_changed_are_not_reused(stack, capsys):
    store = stack.store
    thresholds.run(stack=stack, run_name="tamper-1")
    first = steps_by_name(run_data(store, "tamper-1"))
    _data_file(store, first["keep_above"]).write_text("[0.0]")
    capsys.readouterr()
    EXECUTED.clear()
    store.reset_counts()

    thresholds.run(stack=stack, run_name="tamper-2")
    assert EXECUTED == ["keep_above"]  # total's input is named by keep_above's key: cached
    assert store.calls["GetArtifacts"] == 3
    err = capsys.readouterr().err
    assert f"step keep_above: cached outputs not reused: output 'output' of execution " \
           f"{first['keep_above'].id} changed since it was written" in err
    second = steps_by_name(run_data(store, "tamper-2"))
    reason = second["keep_above"].properties[MISS_REASON_PROPERTY]
    assert "changed since it was written (content hash sha256:" in reason
    [why] = explain_run(store, "tamper-2", "keep_above")
    assert why.status == "miss" and "changed since it was written" in why.reasons[0]

    EXECUTED.clear()
    thresholds.run(stack=stack, quiet=True, run_name="tamper-3")
    assert EXECUTED == []
    assert steps_by_name(run_data(store, "tamper-3"))["keep_above"].original_execution_id == \
        second["keep_above"].id


def test_an_older_execution_with_intact_outputs_is_reused(stack):
    store = stack.store
    thresholds.run(stack=stack, quiet=True, run_name="older-1")
    thresholds.run(stack=stack, quiet=True, run_name="older-2", enable_cache=False)  # same keys
    newer = steps_by_name(run_data(store, "older-2"))["keep_above"]
    _data_file(store, newer).unlink()
    EXECUTED.clear()
    store.reset_counts()
    thresholds.run(stack=stack, quiet=True, run_name="older-3")
    assert EXECUTED == []
    assert store.calls["GetArtifacts"] == 3
    older = steps_by_name(run_data(store, "older-1"))["keep_above"]
    assert steps_by_name(run_data(store, "older-3"))["keep_above"].original_execution_id == older.id


# -- key versions -----------------------------------------------------------------------------
def test_entries_of_the_previous_key_version_miss_once(stack, monkeypatch):
    """A store written by the previous release keeps working: its entries miss, once."""
    store = stack.store
    with monkeypatch.context() as old_release:
        old_release.setattr(caching, "KEY_VERSION", caching.KEY_VERSION - 1)
        thresholds.run(stack=stack, quiet=True, run_name="version-old")
    EXECUTED.clear()
    thresholds.run(stack=stack, quiet=True, run_name="version-new")
    assert sorted(EXECUTED) == ["keep_above", "numbers", "total"]
    [why] = explain_run(store, "version-new", "numbers")
    assert why.reasons == (f"zen_mlmd computes cache keys differently since that execution (key "
                           f"version {caching.KEY_VERSION - 1} -> {caching.KEY_VERSION}); the step "
                           "itself may be unchanged",)
    EXECUTED.clear()
    thresholds.run(stack=stack, quiet=True, run_name="version-new-again")
    assert EXECUTED == []


@pytest.fixture(autouse=True)
def _config_restored():
    saved = dict(CONFIG)
    yield
    CONFIG.clear()
    CONFIG.update(saved)
