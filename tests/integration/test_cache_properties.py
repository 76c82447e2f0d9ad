"""Property test through the orchestrator: one changed value is a miss, nothing changed a hit.

The step of `fingerprint_programs.Program` (it reads a closure variable, a
global, a class attribute, defaults, another module's global, a partial's
and a lambda's arguments) runs in a one-step pipeline on a fresh SQLite
store per example: the first run executes it, the same values again are a
cache hit, one changed leaf anywhere is a miss (the step runs), and the
first values again are a hit. Which step ran is seen through `EXECUTED`.
"""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fingerprint_programs import SLOTS, Program, distinct, get, paths, replace
from recording_pipelines import EXECUTED
from recording_pipelines import executed_cleared  # noqa: F401 (fixture)
from tracking_helpers import LocalTestStack, sqlite_store
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    return Program(tmp_path_factory.mktemp("props"))


def run_once(stack, program: Program, values: dict, run_name: str) -> bool:
    """Runs the program's step with `values`; True if the step function ran."""
    reader = step(name="reader")(program.set(values))

    @pipeline(name="props")
    def props():
        reader(x=1)

    EXECUTED.clear()
    props.run(stack=stack, quiet=True, run_name=run_name)
    return EXECUTED == ["reader"]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_one_changed_value_is_a_miss_and_nothing_changed_is_a_hit(program, data):
    values = {slot: data.draw(program.data, label=slot) for slot in SLOTS}
    slot = data.draw(st.sampled_from(SLOTS), label="changed slot")
    path = data.draw(st.sampled_from(list(paths(values[slot]))), label="leaf")
    new = data.draw(program.leaves, label="new leaf")
    assume(distinct(get(values[slot], path), new))
    changed = {**values, slot: replace(values[slot], path, new)}

    with tempfile.TemporaryDirectory() as directory:
        stack = LocalTestStack(sqlite_store(Path(directory) / "mlmd.sqlite"), Path(directory) / "artifacts")
        assert run_once(stack, program, values, "first")
        assert not run_once(stack, program, copy.deepcopy(values), "same")  # a hit
        assert run_once(stack, program, changed, "changed")  # a miss
        assert not run_once(stack, program, values, "back")  # the first outputs again
