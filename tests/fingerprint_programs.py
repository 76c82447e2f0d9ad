"""A user program whose step reads one value of each kind, and plain data to fill it.

Shared by tests/unit/test_fingerprint_properties.py (fingerprints) and
tests/integration/test_cache_properties.py (runs through the orchestrator).
The step, made by a factory, reads a closure variable, a module global, a
class attribute (plain data, and another holding code), a helper's positional
and keyword defaults, a global of another user module through
``module.NAME``, a ``functools.partial``'s argument and a lambda's default; it logs on the ``zen_mlmd_tests.executed``
logger when it runs.
"""
from __future__ import annotations

from hypothesis import strategies as st

from fingerprint_helpers import load, unique
from zen_mlmd.tracking.fingerprint import fingerprint

MODULE = '''
import functools
import logging
from dataclasses import dataclass
from enum import Enum

import {other}

CONFIG = None
LOG = logging.getLogger("zen_mlmd_tests.executed")


class Level(Enum):
    LOW = 1
    HIGH = "high"


@dataclass
class Point:
    x: object = None
    y: object = None


class Settings:
    VALUE = None
    CODE = None


def helper(x, d=None, *, k=None):
    return x, d, k, CONFIG


PARTIAL = functools.partial(helper, d=None)
LAMBDA = lambda v, w=None: (v, w)


def make(captured):
    def step_fn(x: int):
        LOG.info("reader")
        return repr((helper(x), captured, Settings.VALUE, Settings.CODE, {other}.VALUE, PARTIAL(1),
                     LAMBDA(1)))
    return step_fn
'''

OTHER = "VALUE = None\n"

SLOTS = ("closure", "global", "class attribute", "default", "keyword default",
         "other module global", "partial argument", "lambda default")
#: A class attribute holding code (a builtin, a library function, a partial, a user
#: function or class), filled from `Program.code` rather than plain data.
CODE_SLOT = "code class attribute"


class Program:
    """The user module, with one setter per slot."""

    def __init__(self, directory):
        other = unique("other")
        self.other = load(directory, other, OTHER)
        self.module = load(directory, unique("props"), MODULE.format(other=other))
        # built once: strategies over these classes have large reprs
        self.leaves, self.data, self.code = leaves(self), plain_data(self), code_values(self)

    def set(self, values: dict):
        m = self.module
        m.CONFIG = values["global"]
        m.Settings.VALUE = values["class attribute"]
        m.Settings.CODE = values.get(CODE_SLOT)
        m.helper.__defaults__ = (values["default"],)
        m.helper.__kwdefaults__ = {"k": values["keyword default"]}
        self.other.VALUE = values["other module global"]
        m.PARTIAL = m.functools.partial(m.helper, d=values["partial argument"])
        m.LAMBDA.__defaults__ = (values["lambda default"],)
        return m.make(values["closure"])

    def fingerprint(self, values: dict) -> str:
        return fingerprint(self.set(values)).value


def leaves(program: Program):
    m = program.module
    scalars = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
               | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
               | st.binary(max_size=8) | st.sampled_from([m.Level.LOW, m.Level.HIGH]))
    return scalars


def code_values(program: Program):
    import math
    import statistics

    m = program.module
    named = st.sampled_from([math.sqrt, math.exp, statistics.mean, statistics.median, m.helper,
                             m.Point, m.Level])
    partials = st.builds(lambda k: m.functools.partial(m.helper, k=k), st.integers(-3, 3) | st.text(max_size=2))
    return named | partials


def code_identity(value):
    """What tells two code values apart, independently of the encoder."""
    import functools

    if isinstance(value, functools.partial):
        return ("partial", id(value.func), repr(value.args), repr(sorted(value.keywords.items())))
    return ("code", id(value))


def plain_data(program: Program):
    m = program.module
    hashable = st.none() | st.booleans() | st.integers(-100, 100) | st.text(max_size=4)

    def containers(children):
        return (st.lists(children, max_size=4) | st.tuples(children, children)
                | st.dictionaries(st.text(max_size=4), children, max_size=4)
                | st.frozensets(hashable, max_size=4) | st.sets(hashable, max_size=4)
                | st.builds(m.Point, children, children))
    return st.recursive(leaves(program), containers, max_leaves=12)


def paths(value, prefix=()):
    """Paths to every leaf that can be replaced (dict values, items, fields, set members).

    An empty container is a leaf itself.
    """
    if isinstance(value, (dict, list, tuple, set, frozenset)) and not value:
        yield prefix
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, prefix + (("key", key),))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from paths(item, prefix + (("index", i),))
    elif isinstance(value, (set, frozenset)):
        for item in sorted(value, key=repr):  # the same order whenever the set is rebuilt
            yield prefix + (("member", item),)
    elif hasattr(value, "__dataclass_fields__"):
        for name in ("x", "y"):
            yield from paths(getattr(value, name), prefix + (("field", name),))
    else:
        yield prefix


def get(value, path):
    for kind, where in path:
        value = where if kind == "member" else (getattr(value, where) if kind == "field" else value[where])
    return value


def replace(value, path, new):
    if not path:
        return new
    (kind, where), rest = path[0], path[1:]
    if kind == "member":
        return type(value)([item for item in value if item is not where] + [new])
    if kind == "field":
        return type(value)(**{n: replace(getattr(value, n), rest, new) if n == where else getattr(value, n)
                              for n in ("x", "y")})
    if isinstance(value, dict):
        return {k: replace(v, rest, new) if k == where else v for k, v in value.items()}
    items = [replace(v, rest, new) if i == where else v for i, v in enumerate(value)]
    return tuple(items) if isinstance(value, tuple) else items


def distinct(a, b) -> bool:
    """Independent of the encoder: another type, or another repr (-0.0 vs 0.0; not nan vs nan)."""
    return type(a) is not type(b) or repr(a) != repr(b)
