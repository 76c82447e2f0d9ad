"""Code fingerprints: what a step's behaviour depends on in the user's code.

The fingerprint is the sha256 of the step function's source and of the
source of every function and class it reaches through global names that is
defined in the user's own modules (not in the standard library or an
installed package: those change with their version, not with the project).
"""
from __future__ import annotations

import hashlib
import inspect
import os
import sys
import sysconfig
import types
from functools import lru_cache

_INSTALLED = tuple(
    os.path.realpath(p) for p in {
        sysconfig.get_paths().get("stdlib", ""), sysconfig.get_paths().get("purelib", ""),
        sysconfig.get_paths().get("platlib", ""), sys.prefix, sys.base_prefix,
    } if p
)


@lru_cache(maxsize=1024)
def _is_user_file(path: str) -> bool:
    real = os.path.realpath(path)
    if "site-packages" in real or "dist-packages" in real:
        return False
    return not any(real.startswith(prefix + os.sep) for prefix in _INSTALLED)


def _source(obj) -> str | None:
    try:
        path = inspect.getsourcefile(obj)
        if not path or not _is_user_file(path):
            return None
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return None


def code_fingerprint(func) -> str:
    """sha256 over the sources of `func` and the user code it references."""
    digest = hashlib.sha256()
    seen: set[int] = set()
    pending = [func]
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        source = _source(obj)
        if source is None:
            continue
        digest.update(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}\n".encode())
        digest.update(source.encode())
        pending.extend(_referenced(obj))
    return "sha256:" + digest.hexdigest()


def _referenced(obj) -> list:
    """Functions and classes `obj` reaches through global names and attributes."""
    functions = []
    if isinstance(obj, type):
        functions = [v for v in vars(obj).values() if isinstance(v, types.FunctionType)]
    elif isinstance(obj, types.FunctionType):
        functions = [obj]
    found = []
    for function in functions:
        names = set(_code_names(function.__code__))
        for name in names:
            value = function.__globals__.get(name)
            value = getattr(value, "__wrapped__", value)  # steps and decorated functions
            if isinstance(value, (types.FunctionType, type)):
                found.append(value)
            elif isinstance(value, types.ModuleType) and getattr(value, "__file__", None) \
                    and _is_user_file(value.__file__):
                found.extend(v for v in vars(value).values()
                             if isinstance(v, (types.FunctionType, type))
                             and getattr(v, "__module__", None) == value.__name__
                             and v.__name__ in names | _attr_names(function.__code__))
    return found


def _code_names(code: types.CodeType):
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)


def _attr_names(code: types.CodeType) -> set[str]:
    return set(_code_names(code))
