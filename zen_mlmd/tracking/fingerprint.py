"""Code fingerprints: what a step's behaviour depends on in the user's code.

The fingerprint is the sha256 of:

* the step function's identity (`module.qualname`), so two steps never share
  a fingerprint even when their code is the same;
* the source of the step function and of every function and class it
  reaches through global names that is defined in the user's own modules
  (not in the standard library or an installed package: those change with
  their version, not with the project);
* for functions whose source is not available (an installed package, a
  compiled notebook cell), their bytecode, constants and default values;
* the values of plain module-level constants the code reads (numbers,
  strings, tuples of them), so changing `THRESHOLD = 0.5` is a cache miss.
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
_CONSTANT_TYPES = (bool, int, float, str, bytes, type(None))


@lru_cache(maxsize=1024)
def _is_user_file(path: str) -> bool:
    real = os.path.realpath(path)
    if "site-packages" in real or "dist-packages" in real:
        return False
    return not any(real.startswith(prefix + os.sep) for prefix in _INSTALLED)


def _user_source(obj) -> str | None:
    """The source of `obj` when it lives in the user's own files."""
    try:
        path = inspect.getsourcefile(obj)
        if not path or not _is_user_file(path):
            return None
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return None


def qualified_name(obj) -> str:
    """`module.qualname` of a function or class; a script run as `__main__` is
    named after its file, so that running it and importing it agree."""
    module = getattr(obj, "__module__", "") or ""
    if module == "__main__":
        main_file = getattr(sys.modules.get("__main__"), "__file__", None) or "__main__"
        module = os.path.splitext(os.path.basename(main_file))[0]
    return f"{module}.{getattr(obj, '__qualname__', '')}".replace("<locals>.", "")


def code_fingerprint(func) -> str:
    """sha256 over the step's identity, its code and the user code it references."""
    func = getattr(func, "__wrapped__", func)
    digest = hashlib.sha256()
    digest.update(f"step {qualified_name(func)}\n".encode())
    source = _user_source(func)
    if source is None:  # installed or source-less: the code object stands in
        digest.update(_code_digest(func).encode())
    seen: set[int] = set()
    pending = [func]
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        source = _user_source(obj)
        if source is None:
            continue
        digest.update(f"{qualified_name(obj)}\n".encode())
        digest.update(source.encode())
        referenced, constants = _referenced(obj)
        for name, value in sorted(constants.items()):
            digest.update(f"const {name}={value!r}\n".encode())
        pending.extend(referenced)
    return "sha256:" + digest.hexdigest()


def _code_digest(func) -> str:
    """A stable digest of a function's bytecode, constants, names and defaults."""
    code = getattr(func, "__code__", None)
    if code is None:
        return repr(func)
    parts = [_code_parts(code), repr(getattr(func, "__defaults__", None)),
             repr(getattr(func, "__kwdefaults__", None))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _code_parts(code: types.CodeType) -> str:
    consts = [(_code_parts(c) if isinstance(c, types.CodeType) else repr(c)) for c in code.co_consts]
    return "|".join([code.co_code.hex(), repr(code.co_names), repr(code.co_varnames), *consts])


def _referenced(obj) -> tuple[list, dict]:
    """Functions and classes `obj` reaches through global names, and constants it reads."""
    functions = []
    if isinstance(obj, type):
        functions = [v for v in vars(obj).values() if isinstance(v, types.FunctionType)]
    elif isinstance(obj, types.FunctionType):
        functions = [obj]
    found, constants = [], {}
    for function in functions:
        names = set(_code_names(function.__code__))
        for name in names:
            if name not in function.__globals__:
                continue
            value = function.__globals__[name]
            value = getattr(value, "__wrapped__", value)  # steps and decorated functions
            if isinstance(value, (types.FunctionType, type)):
                found.append(value)
            elif _is_constant(value):
                constants[name] = value
            elif isinstance(value, types.ModuleType) and getattr(value, "__file__", None) \
                    and _is_user_file(value.__file__):
                found.extend(v for v in vars(value).values()
                             if isinstance(v, (types.FunctionType, type))
                             and getattr(v, "__module__", None) == value.__name__
                             and v.__name__ in names)
    return found, constants


def _is_constant(value) -> bool:
    if isinstance(value, _CONSTANT_TYPES):
        return True
    return isinstance(value, (tuple, frozenset)) and all(isinstance(v, _CONSTANT_TYPES) for v in value)


def _code_names(code: types.CodeType):
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)
