"""Classes Python builds machinery into, decorators, whole modules: fingerprinted, not refused.

abc's cache, named-tuple field descriptors and pydantic's internals are made
from the class definition and are left out; a pydantic model instance is
read by its fields; a decorated function by its wrapper, whose closure holds
the decorator's arguments and the function; a module read whole (through
``globals()``) with ``from __future__ import annotations`` in it.
"""
from __future__ import annotations

from fingerprint_helpers import load, unique
from zen_mlmd.tracking.caching import explain_code_change
from zen_mlmd.tracking.fingerprint import fingerprint


def fp(func) -> str:
    return fingerprint(func).value


CLASSES = '''
from __future__ import annotations

import abc
import functools
import typing

import pydantic


class Base(abc.ABC):
    @abc.abstractmethod
    def run(self): ...


class Impl(Base):
    K = 3

    def run(self):
        return self.K


class Pair(typing.NamedTuple):
    a: int = 1
    b: str = "x"


class Runner(typing.Protocol):
    def run(self) -> int: ...


class Cfg(pydantic.BaseModel):
    lr: float = 0.1
    layers: list[int] = [1, 2]


CFG = Cfg()


def retry(times):
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for _ in range(times - 1):
                try:
                    return func(*args, **kwargs)
                except ValueError:
                    pass
            return func(*args, **kwargs)
        return wrapper
    return decorate


@retry(times=3)
def flaky(values: list):
    return values


def uses_classes(values: list):
    return Impl().run(), Pair(), Runner, CFG.lr


def uses_the_whole_module(values: list):
    return sorted(globals())
'''


def test_abc_named_tuple_protocol_and_pydantic_classes_are_fingerprinted(tmp_path):
    module = load(tmp_path, unique("classes"), CLASSES)
    before = fingerprint(module.uses_classes)
    assert before.cacheable, before.uncacheable
    module.CFG.lr = 0.2  # a pydantic model by its field values
    after = fingerprint(module.uses_classes)
    assert explain_code_change(after.parts, before.parts) == ["global CFG changed: lr 0.1 -> 0.2"]
    module.Impl.K = 4
    assert fingerprint(module.uses_classes).value != after.value


def test_a_decorated_function_is_fingerprinted_with_its_decorator_arguments(tmp_path):
    module = load(tmp_path, unique("decorated"), CLASSES)
    three = fp(module.flaky)
    module.flaky = module.retry(times=5)(module.flaky.__wrapped__)
    assert fp(module.flaky) != three


def test_a_module_read_whole_with_future_annotations(tmp_path):
    module = load(tmp_path, unique("whole"), CLASSES)
    found = fingerprint(module.uses_the_whole_module)
    assert found.cacheable, found.uncacheable
    module.Pair = None  # any global may be read: globals() returns them all
    assert fp(module.uses_the_whole_module) != found.value
