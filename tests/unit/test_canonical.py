"""The canonical encoding: equal data, equal bytes; data that can behave differently, different bytes."""
from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import pathlib
import re
import sys
from collections import namedtuple

import pytest

from zen_mlmd.tracking.canonical import Encoder, Unfingerprintable


def _types_only(obj):
    # what the fingerprint gives for classes: their identity
    return f"{obj.__module__}.{obj.__qualname__}".encode() if isinstance(obj, type) else None


def digest(value):
    return Encoder(_types_only).digest(value)


class Color(enum.Enum):
    RED = 1


class Shade(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: object
    y: object = 0


Pair = namedtuple("Pair", "a b")


@pytest.mark.parametrize("a, b", [
    (1, 1.0), (1, True), (0, False), (0.0, -0.0), ("1", b"1"), (b"1", bytearray(b"1")),
    ((1, 2), [1, 2]), ({1, 2}, frozenset({1, 2})), ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
    ([1, [2]], [1, [2.0]]), (None, ()), ("", b""), (Color.RED, 1), (Color.RED, Shade.RED),
    (Point(1), Point(1.0)), (Pair(1, 2), (1, 2)), (complex(1, 0), 1.0),
    (decimal.Decimal("1.0"), decimal.Decimal("1.00")), (pathlib.PurePosixPath("a"), "a"),
    (re.compile("a"), re.compile("a", re.I)), (datetime.date(2024, 1, 1), datetime.date(2024, 1, 2)),
    (float("inf"), float("-inf")), (2 ** 64, 2 ** 64 + 1), ("é", "e\u0301"),
])
def test_values_that_can_behave_differently_encode_differently(a, b):
    assert digest(a) != digest(b)


@pytest.mark.parametrize("make", [
    lambda: {"b", "a", "c", "longer string", "x" * 40},
    lambda: frozenset(range(50, 0, -1)),
    lambda: {"k": [1, 2.5, None, "s"], "j": {"n": (True, b"x")}},
    lambda: Point([1, 2], {"z": {1, 2}}),
    lambda: float("nan"),
    lambda: [float("nan"), -0.0],
    lambda: Pair(Color.RED, datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)),
])
def test_equal_values_built_again_encode_the_same(make):
    assert digest(make()) == digest(make())


def test_sets_ignore_insertion_order_but_dicts_keep_theirs():
    assert digest({"a", "b", "c"}) == digest({"c", "b", "a"})
    assert digest(dict(a=1, b=2)) != digest(dict(b=2, a=1))  # iteration order is observable


def test_cycles_and_shared_references_encode():
    loop = [1]
    loop.append(loop)
    again = [1]
    again.append(again)
    assert digest(loop) == digest(again)
    shared = [0]
    assert digest([shared, shared]) == digest([[0], [0]])


def test_numpy_and_pandas_by_content_without_importing_them():
    import numpy as np
    import pandas as pd

    assert digest(np.arange(6).reshape(2, 3)) == digest(np.arange(6).reshape(2, 3))
    assert digest(np.arange(6).reshape(2, 3)) != digest(np.arange(6).reshape(3, 2))
    assert digest(np.arange(3, dtype="int64")) != digest(np.arange(3, dtype="int32"))
    assert digest(np.arange(6).reshape(2, 3).T) == digest(np.ascontiguousarray(np.arange(6).reshape(2, 3).T))
    assert digest(np.float64(0.5)) != digest(0.5)
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert digest(frame) == digest(frame.copy())
    assert digest(frame) != digest(frame.rename(columns={"b": "c"}))
    assert digest(frame) != digest(frame.set_index(pd.Index([5, 6])))
    assert digest(frame) != digest(frame.astype({"a": "float64"}))
    assert digest(pd.Series([1, 2], name="s")) != digest(pd.Series([1, 2], name="t"))
    assert digest(pd.DataFrame({"a": [[1], [2]]})) != digest(pd.DataFrame({"a": [[1], [3]]}))


def test_the_encoder_module_does_not_import_numpy_or_pandas():
    import subprocess

    code = ("import sys; from zen_mlmd.tracking.canonical import Encoder; "
            "Encoder(lambda o: None).digest({'a': [1, 2.0]}); "
            "print('numpy' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_an_unknown_object_is_refused_with_where_it_sits():
    class Opaque:
        pass

    with pytest.raises(Unfingerprintable) as caught:
        digest({"model": {"layers": [1, Opaque()]}})
    assert caught.value.path == "['model']['layers'][1]"
    assert type(caught.value.value) is Opaque


def test_code_is_handed_to_the_reference_callback():
    seen = []

    def reference(obj):
        seen.append(obj)
        return b"fn:" + obj.__name__.encode()

    encoder = Encoder(reference)
    assert encoder.digest({"handler": len}) != encoder.digest({"handler": print})
    assert seen == [len, print]
