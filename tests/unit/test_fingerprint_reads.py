"""Everything a step's code can read is in its fingerprint, or the step is uncacheable.

Each test builds a user module (a real file, imported), fingerprints a step,
changes one thing the step can read and checks that the fingerprint changes,
and that it does not change when nothing the step can read changed.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fingerprint_helpers import load, unique
from zen_mlmd.tracking.caching import canonical_json, explain_code_change
from zen_mlmd.tracking.fingerprint import fingerprint, qualified_name

USER_CODE = '''
import functools
import logging
import urllib.request
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import pandas as pd

import {helpers}
from {helpers} import scale

log = logging.getLogger(__name__)
CONFIG = {{"threshold": 0.5, "columns": ["a", "b"], "nested": {{"depth": 3}}}}
UNUSED = {{"never": "read"}}
OPENER = urllib.request.build_opener()
ARRAY = np.arange(4.0)
FRAME = pd.DataFrame({{"a": [1, 2], "b": [0.5, 1.5]}})
SQUARE = lambda v, power=2: v ** power


class Mode(Enum):
    FAST = "fast"
    SLOW = "slow"


@dataclass
class Settings:
    depth: int = 3
    tags: list = field(default_factory=lambda: ["x"])


class Model:
    LAYERS = (64, 32)
    mode = Mode.FAST

    def size(self):
        return sum(self.LAYERS)


def weigh(value, weight=2.0, *, bias=0.1):
    return value * weight + bias


WEIGH_HALF = functools.partial(weigh, weight=0.5)


def make_step(factor):
    def scaled(values: list):
        return [v * factor for v in values]
    return scaled


def reads_config(values: list):
    return [v for v in values if v > CONFIG["threshold"]]


def reads_helper_default(values: list):
    return [weigh(v) for v in values]


def reads_class(values: list):
    return Model().size() + len(values)


def reads_module_attribute(values: list):
    return {helpers}.CONSTANTS["offset"] + scale(values[0])


def imports_inside(values: list):
    from {helpers} import CONSTANTS
    return CONSTANTS["offset"]


def reads_partial_and_lambda(values: list):
    return WEIGH_HALF(values[0]) + SQUARE(values[0])


def reads_data(values: list):
    return ARRAY.sum() + FRAME["a"].sum() + Settings().depth


def logs_only(values: list):
    log.info("running")
    return values


def reads_opener(values: list):
    return OPENER.open


def reads_opener_through_helper(values: list):
    return reads_opener(values)


def reads_installed_class_in_closure():
    model_cls = pd.DataFrame

    def fit(values: list):
        return model_cls(values)
    return fit
'''

HELPERS = '''
CONSTANTS = {"offset": 1}
OTHER = {"not": "read"}


def scale(value):
    return value * 2
'''


@pytest.fixture
def user(tmp_path):
    helpers = unique("helpers")
    load(tmp_path, helpers, HELPERS)
    module = load(tmp_path, unique("user"), USER_CODE.format(helpers=helpers))
    module.helpers_module = sys.modules[helpers]
    yield module
    sys.modules.pop(module.__name__, None)
    sys.modules.pop(helpers, None)


def fp(func) -> str:
    return fingerprint(func).value


def test_closure_variables_of_a_factory_step(user):
    one, thousand = user.make_step(1), user.make_step(1000)
    assert fp(one) != fp(thousand)
    assert fp(user.make_step(1)) == fp(one)  # a new function object, the same values
    assert "<locals>" in qualified_name(one)
    reasons = explain_code_change(fingerprint(thousand).parts, fingerprint(one).parts)
    assert reasons == ["closure variable factor changed: 1 -> 1000"]


def test_a_module_dict_the_step_reads(user):
    before = fingerprint(user.reads_config)
    user.CONFIG["threshold"] = 0.7
    after = fingerprint(user.reads_config)
    assert after.value != before.value
    assert explain_code_change(after.parts, before.parts) == ["global CONFIG changed: threshold 0.5 -> 0.7"]
    user.CONFIG["threshold"] = 0.5
    user.CONFIG["nested"]["depth"] = 4  # nested containers count
    assert fp(user.reads_config) != before.value
    user.CONFIG["nested"]["depth"] = 3
    user.UNUSED["never"] = "changed"  # not read by the step
    assert fp(user.reads_config) == before.value


def test_defaults_of_helper_functions(user):
    base = fp(user.reads_helper_default)
    user.weigh.__defaults__ = (3.0,)
    positional = fingerprint(user.reads_helper_default)
    assert positional.value != base
    user.weigh.__defaults__ = (2.0,)
    user.weigh.__kwdefaults__ = {"bias": 0.2}
    assert fp(user.reads_helper_default) not in (base, positional.value)
    user.weigh.__kwdefaults__ = {"bias": 0.1}
    assert fp(user.reads_helper_default) == base
    [reason] = explain_code_change(positional.parts, fingerprint(user.reads_helper_default).parts)
    assert reason == f"default weight of {user.__name__}.weigh changed: 2.0 -> 3.0"


def test_class_attributes_and_methods_of_a_referenced_class(user):
    before = fingerprint(user.reads_class)
    base = before.value
    user.Model.LAYERS = (64, 16)
    changed = fingerprint(user.reads_class)
    assert changed.value != base
    assert explain_code_change(changed.parts, before.parts) == \
        ["class attribute Model.LAYERS changed: [1] 32 -> 16"]
    user.Model.LAYERS = (64, 32)
    user.Model.mode = user.Mode.SLOW  # an enum member
    assert fp(user.reads_class) != base
    user.Model.mode = user.Mode.FAST
    assert fp(user.reads_class) == base
    user.Model.size = lambda self: 0  # new code for a method
    assert fp(user.reads_class) != base


def test_globals_of_other_user_modules_read_through_attributes_and_imports(user):
    helpers = user.helpers_module
    through_attribute, imported_inside = fp(user.reads_module_attribute), fp(user.imports_inside)
    helpers.CONSTANTS["offset"] = 2
    assert fp(user.reads_module_attribute) != through_attribute
    assert fp(user.imports_inside) != imported_inside
    helpers.CONSTANTS["offset"] = 1
    helpers.OTHER["not"] = "changed"  # never read: `helpers.X` reads X only
    assert fp(user.reads_module_attribute) == through_attribute
    reads = fingerprint(user.reads_module_attribute).parts["reads"]
    assert f"global {helpers.__name__}.CONSTANTS" in reads
    assert f"function {helpers.__name__}.scale" in reads


def test_partials_and_lambdas_in_globals(user):
    before = fingerprint(user.reads_partial_and_lambda)
    base = before.value
    user.WEIGH_HALF = user.functools.partial(user.weigh, weight=0.25)
    changed = fingerprint(user.reads_partial_and_lambda)
    assert changed.value != base
    assert explain_code_change(changed.parts, before.parts) == ["global WEIGH_HALF changed: weight 0.5 -> 0.25"]
    user.WEIGH_HALF = user.functools.partial(user.weigh, weight=0.5)
    assert fp(user.reads_partial_and_lambda) == base
    user.SQUARE.__defaults__ = (3,)
    assert fp(user.reads_partial_and_lambda) != base
    user.SQUARE.__defaults__ = (2,)
    user.SQUARE = lambda v, power=2: v * v  # other code, same name
    assert fp(user.reads_partial_and_lambda) != base


def test_numpy_pandas_and_dataclasses_by_content(user):
    base = fp(user.reads_data)
    user.ARRAY[0] = -1.0
    assert fp(user.reads_data) != base
    user.ARRAY = user.np.arange(4.0)  # a new array, the same content
    assert fp(user.reads_data) == base
    user.FRAME.loc[0, "b"] = 9.5
    assert fp(user.reads_data) != base
    user.FRAME = user.pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    assert fp(user.reads_data) == base
    user.Settings.__init__.__defaults__ = (4,)  # the dataclass's field default
    assert fp(user.reads_data) != base


def test_a_logger_is_ignored(user):
    import logging

    base = fingerprint(user.logs_only)
    assert base.cacheable
    user.log.setLevel(logging.DEBUG)
    assert fp(user.logs_only) == base.value


def test_an_unfingerprintable_global_makes_the_step_uncacheable(user):
    found = fingerprint(user.reads_opener)
    assert found.uncacheable == (
        "reads global 'OPENER' (urllib.request.OpenerDirector) that cannot be fingerprinted",)
    indirect = fingerprint(user.reads_opener_through_helper)
    [reason] = indirect.uncacheable
    assert reason == (f"reads global 'OPENER' (urllib.request.OpenerDirector, read in "
                      f"{user.__name__}.reads_opener) that cannot be fingerprinted")


def test_a_class_from_an_installed_package_is_named_by_its_version(user):
    import pandas

    found = fingerprint(user.reads_installed_class_in_closure())
    assert found.cacheable
    assert found.parts["reads"]["package pandas"]["shown"] == f"pandas {pandas.__version__}"
    assert not any(label.startswith("function pandas") for label in found.parts["reads"])


def test_parts_stay_small_however_much_code_the_step_reaches(tmp_path):
    lines = ["TABLE = {'a': 1}"]
    for i in range(1000):
        calls = " + ".join(f"f{j}(x)" for j in (2 * i + 1, 2 * i + 2) if j < 1000) or "TABLE['a']"
        lines.append(f"def f{i}(x, k={i}):\n    return {calls} + k\n")
    module = load(tmp_path, unique("wide"), "\n".join(lines))
    found = fingerprint(module.f0)
    reads = found.parts["reads"]
    assert sum(1 for r in reads.values() if r["kind"] == "code") == 100
    assert found.parts["omitted"] > 0
    assert len(canonical_json(found.parts)) < 16_000
    module.f999.__defaults__ = (0,)  # the last function reached, beyond what is shown
    assert fingerprint(module.f0).value != found.value


FRESH_PROCESS = '''
import json, sys
sys.path.insert(0, {directory!r})
import {name} as m
from zen_mlmd.tracking.fingerprint import fingerprint
print(json.dumps(fingerprint(m.step).value))
'''

SETS_AND_STRINGS = '''
NAMES = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}
GROUPS = {frozenset({"a", "b"}): 1, frozenset({"c"}): 2}


def step(values: list):
    return [v for v in values if v in NAMES] + list(GROUPS)
'''


def test_the_same_code_and_values_give_the_same_fingerprint_in_every_process(tmp_path):
    """String hashing differs per process (PYTHONHASHSEED); fingerprints must not."""
    name = unique("sets")
    load(tmp_path, name, SETS_AND_STRINGS)
    script = FRESH_PROCESS.format(directory=str(tmp_path), name=name)
    values = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env={**__import__("os").environ, "PYTHONHASHSEED": seed}, check=True)
        values.add(json.loads(done.stdout))
    assert len(values) == 1
    assert values == {fp(sys.modules[name].step)}

