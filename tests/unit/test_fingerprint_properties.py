"""Property tests: change any one value a step can read and its fingerprint changes.

A user module (a real file, `fingerprint_programs.Program`) holds a step
built by a factory that reads one value of each kind (closure, global, class
attribute, defaults, another module's global, partial and lambda arguments).
Hypothesis fills every slot with plain data (nested lists, tuples, dicts,
sets, dataclasses, enums, odd floats), then changes one leaf of one slot:
the fingerprint must change every time, and come back when the leaf is put
back. The same values built again (new objects) must give the same
fingerprint. A class attribute holding code (a builtin, a library function,
a partial, a user function or class) is changed to other code the same way. tests/integration/test_cache_properties.py runs the same
property through the orchestrator and a real store.
"""
from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fingerprint_programs import CODE_SLOT, SLOTS, Program, code_identity, distinct, get, paths, replace


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    return Program(tmp_path_factory.mktemp("props"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_changing_any_one_value_changes_the_fingerprint(program, data):
    values = {slot: data.draw(program.data, label=slot) for slot in SLOTS}
    base = program.fingerprint(values)
    assert program.fingerprint(copy.deepcopy(values)) == base  # unchanged: a hit

    slot = data.draw(st.sampled_from(SLOTS), label="changed slot")
    path = data.draw(st.sampled_from(list(paths(values[slot]))), label="leaf")
    old = get(values[slot], path)
    new = data.draw(program.leaves, label="new leaf")
    assume(distinct(old, new))
    changed = {**values, slot: replace(values[slot], path, new)}
    assert program.fingerprint(changed) != base  # a miss

    assert program.fingerprint(values) == base  # put back: a hit again


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_changing_a_class_attribute_that_holds_code_changes_the_fingerprint(program, data):
    values = {slot: data.draw(program.data, label=slot) for slot in SLOTS}
    values[CODE_SLOT] = data.draw(program.code, label="code")
    base = program.fingerprint(values)
    assert program.fingerprint(values) == base

    new = data.draw(program.code, label="new code")
    assume(code_identity(new) != code_identity(values[CODE_SLOT]))
    assert program.fingerprint({**values, CODE_SLOT: new}) != base  # a miss
    assert program.fingerprint(values) == base
