"""Code held as a value is hashed by what it is, not by where it sits.

A class attribute holding a function, a builtin or a ``functools.partial``;
a bound method of a library object kept in a global (its object is state the
method reads); pandas cells that are objects. Each test changes one such value
and checks that the fingerprint changes (or that the step is uncacheable),
and that it comes back when the value is put back.
"""
from __future__ import annotations

import sys

import pytest

from fingerprint_helpers import load, unique
from zen_mlmd.tracking.canonical import Encoder, Unfingerprintable
from zen_mlmd.tracking.fingerprint import fingerprint

USER_CODE = '''
import collections
import functools
import math
import random
import statistics
import urllib.request

import numpy as np


def power(x, k=1):
    return x ** k


def double(x):
    return 2 * x


class Chain:
    ACT = math.sqrt
    AGG = statistics.mean
    P = functools.partial(power, k=1)
    HELPER = double
    WRAPPED = staticmethod(double)

    def apply(self, values):
        return self.AGG([self.ACT(v) for v in values]) + self.P(2) + self.HELPER(1) + self.WRAPPED(1)


def uses_chain(values: list):
    return Chain().apply(values)


GET = collections.OrderedDict(a=1, b=2).get
OPEN = urllib.request.build_opener().open
CHOICE = random.choice
RANDOM = random.random
NORMAL = np.random.normal


def reads_get(key: str):
    return GET(key)


def reads_open(url: str):
    return OPEN(url)


def reads_module_level_methods(n: int):
    return CHOICE([1, 2]) + RANDOM() + NORMAL() + n
'''


@pytest.fixture
def user(tmp_path):
    module = load(tmp_path, unique("codevals"), USER_CODE)
    yield module
    sys.modules.pop(module.__name__, None)


def fp(func) -> str:
    found = fingerprint(func)
    assert found.cacheable, found.uncacheable
    return found.value


@pytest.mark.parametrize("attr, changed, original", [
    ("ACT", "math.exp", "math.sqrt"),
    ("AGG", "statistics.median", "statistics.mean"),
    ("P", "functools.partial(power, k=2)", "functools.partial(power, k=1)"),
    ("HELPER", "power", "double"),
    ("WRAPPED", "staticmethod(power)", "staticmethod(double)"),
])
def test_a_code_valued_class_attribute_is_hashed(user, attr, changed, original):
    base = fp(user.uses_chain)
    setattr(user.Chain, attr, eval(changed, vars(user)))
    assert fp(user.uses_chain) != base
    setattr(user.Chain, attr, eval(original, vars(user)))
    assert fp(user.uses_chain) == base


def test_a_bound_method_of_a_library_object_encodes_the_object(user):
    base = fp(user.reads_get)
    user.GET = user.collections.OrderedDict(a=1, b=3).get
    assert fp(user.reads_get) != base
    user.GET = user.collections.OrderedDict(a=1, b=2).get  # a new object, the same content
    assert fp(user.reads_get) == base


def test_a_bound_method_of_a_client_object_makes_the_step_uncacheable(user):
    found = fingerprint(user.reads_open)
    assert found.uncacheable == (
        "reads global 'OPEN' (urllib.request.OpenerDirector) that cannot be fingerprinted",)


def test_module_level_functions_that_are_bound_methods_stay_named(user):
    # random.choice, random.random and numpy.random.normal are methods of a hidden module-level
    # instance: named (with the package version), as other module-level functions are
    found = fingerprint(user.reads_module_level_methods)
    assert found.cacheable
    assert "package numpy" in found.parts["reads"]
    assert fp(user.reads_module_level_methods) == found.value


class Tag:
    def __init__(self, text):
        self.text = text

    def __str__(self):
        return "same"


def _digest(value):
    return Encoder(lambda obj: None).digest(value)


def test_pandas_object_cells_are_encoded_not_stringified():
    import pandas as pd

    # two different objects with the same str(): the digest must tell them apart, or refuse
    with pytest.raises(Unfingerprintable):
        _digest(pd.DataFrame({"a": [Tag("x")]}))
    with pytest.raises(Unfingerprintable):
        _digest(pd.Series([Tag("x")]))
    # cells whose str() agrees but whose type differs
    assert _digest(pd.Series(["1", 2], dtype=object)) != _digest(pd.Series([1, "2"], dtype=object))
    assert _digest(pd.DataFrame({"a": [1.5], "b": [("x", 1)]})) != \
        _digest(pd.DataFrame({"a": [1.5], "b": [("x", "1")]}))
    assert _digest(pd.Index(["1", 2], dtype=object)) != _digest(pd.Index([1, "2"], dtype=object))
    # equal content, equal digest; numeric frames as before
    assert _digest(pd.DataFrame({"a": [1.5], "b": ["x"]})) == _digest(pd.DataFrame({"a": [1.5], "b": ["x"]}))
    assert _digest(pd.DataFrame({"a": [1.5, 2.0]})) != _digest(pd.DataFrame({"a": [1.5, 2.5]}))
    assert _digest(pd.Series(pd.Categorical(["1", 2]))) != _digest(pd.Series(pd.Categorical([1, "2"])))
