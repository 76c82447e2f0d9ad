"""Identities of code the fingerprint names rather than encodes: functions, classes, modules.

`Identities.reference(obj)` is the callback `canonical.Encoder` calls for
anything that is not plain data. The user's own functions, classes and
modules are scheduled to be followed (`_follow`, implemented by the
fingerprint walk) and named by their label; installed code is named with its
distribution's version (and the version is recorded), Python's own by its
name, zen_mlmd's by its version. A bound method names its function and
encodes the object it is bound to, which is state the method reads (a dict's
``get``, a user object's method, a library object's method: an object that is
not plain data, such as a client session, is refused); only a library's
module-level functions that are methods of a hidden instance
(``random.choice``, ``numpy.random.normal``) are named instead. A
``functools.partial`` names its function and encodes its arguments. None
means "not code I know": the encoder then refuses the value.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
import sys
import types

from zen_mlmd.tracking import code_origin
from zen_mlmd.tracking.canonical import Unfingerprintable, type_name


def qualified_name(obj) -> str:
    """`module.qualname` of a function or class.

    ``<locals>`` stays in the name, so a function made by a factory is never
    taken for a module-level one. A script run as `__main__` is named after
    its file, so that running it and importing it agree.
    """
    return f"{module_name(obj)}.{getattr(obj, '__qualname__', '')}"


def module_name(obj) -> str:
    module = getattr(obj, "__module__", "") or ""
    if module == "__main__":
        main_file = getattr(sys.modules.get("__main__"), "__file__", None) or "__main__"
        module = os.path.splitext(os.path.basename(main_file))[0]
    return module


class Identities:
    """The `reference` callback; mixed into the fingerprint walk, which provides
    `encoder`, `followed`, `alive`, `queue`, `_follow` and `_entry`."""

    def reference(self, obj) -> bytes | None:
        """Identity bytes for code-like objects (following the user's); None for others."""
        if isinstance(obj, types.FunctionType):
            return self._function_reference(obj)
        if isinstance(obj, type):
            return self._named(obj, code_origin.module_origin(obj.__module__), "class")
        if isinstance(obj, types.ModuleType):
            return self._named(obj, code_origin.module_origin(obj.__name__), "module")
        if isinstance(obj, functools.partial):
            return b"partial " + self._require(obj.func) + self.encoder.encode((obj.args, obj.keywords))
        if isinstance(obj, (staticmethod, classmethod, functools.cached_property)):
            return type(obj).__name__.encode() + b" " + self._require(getattr(obj, "__func__", None)
                                                                       or obj.func)
        if isinstance(obj, property):
            return b"property " + b",".join(self._require(f) if f else b"-"
                                             for f in (obj.fget, obj.fset, obj.fdel))
        if isinstance(obj, (types.MethodType, types.BuiltinMethodType)):
            return self._method_reference(obj)
        if is_step(obj):
            return self._require(obj.func)
        if type(obj).__module__ == "__future__":  # `from __future__ import annotations`
            return b"future " + repr(obj).encode()
        if isinstance(obj, (logging.Logger, logging.LoggerAdapter)):
            return b"logger " + str(getattr(obj, "name", "")).encode()
        if type(obj).__module__ == "typing" or isinstance(obj, (types.GenericAlias, types.UnionType)):
            return b"typing " + repr(obj).encode()
        owner = getattr(obj, "__objclass__", None)
        if isinstance(owner, type):  # str.upper, (1).__add__ and other slot wrappers
            identity = self._require(owner) + b"." + str(getattr(obj, "__name__", "")).encode()
            bound = getattr(obj, "__self__", None)
            if bound is not None and not isinstance(bound, (type, types.ModuleType)):
                identity += b" of " + self.encoder.encode(bound)
            return identity
        wrapped = getattr(obj, "__wrapped__", None)
        kind_origin = code_origin.module_origin(type(obj).__module__)
        if wrapped is not None and kind_origin != code_origin.USER:  # functools.lru_cache, ...
            return self._require(type(obj)) + b" wrapping " + self._require(wrapped)
        return self._library_object(obj, kind_origin)

    def _require(self, obj) -> bytes:
        identity = self.reference(obj)
        if identity is None:
            raise Unfingerprintable(obj)
        return identity

    def _function_reference(self, func: types.FunctionType) -> bytes:
        origin = code_origin.file_origin(func.__code__.co_filename)
        if origin == code_origin.USER:
            return self._follow(func, "function").encode()
        identity = self._named(func, origin, "function", code_origin.package_of(
            func.__module__, func.__code__.co_filename))
        if func.__closure__:
            self._follow_closure(func)
        wrapped = getattr(func, "__wrapped__", None)
        if wrapped is not None:
            identity += b" wrapping " + self._require(wrapped)
        return identity

    def _follow_closure(self, func) -> None:
        if id(func) not in self.followed:
            label = f"library_closure {qualified_name(func)}"
            self.followed[id(func)] = label
            self.alive.append(func)
            self.queue.append(("library_closure", func, label))

    def _method_reference(self, method) -> bytes | None:
        owner = method.__self__
        func = getattr(method, "__func__", None)
        if owner is None or isinstance(owner, types.ModuleType):  # len, math.sqrt
            return self._builtin_name(method)
        origin = code_origin.file_origin(func.__code__.co_filename) \
            if isinstance(func, types.FunctionType) else code_origin.module_origin(type(owner).__module__)
        if origin != code_origin.USER and _module_level(method):
            # a library's module-level function that is a method of a hidden instance
            # (random.choice, numpy.random.normal): named, as its other functions are
            return self._named_text(f"{type_name(owner)}.{method.__name__}", origin,
                                    code_origin.package_of(type(owner).__module__))
        # the object is state the method reads (CONFIG.get, a user object's method, an
        # OrderedDict's get): encoded, so an object that is not plain data (a client
        # session's open) makes the read unfingerprintable
        target = self._require(func) if func is not None else self._builtin_name(method)
        return b"method " + target + b" of " + self.encoder.encode(owner)

    def _builtin_name(self, func) -> bytes:
        module = getattr(func, "__module__", None) or getattr(getattr(func, "__self__", None),
                                                              "__name__", "builtins")
        origin = code_origin.module_origin(module)
        return self._named_text(f"{module}.{func.__qualname__}", origin, code_origin.package_of(module))

    def _named(self, obj, origin: str, kind: str, package: str | None = None) -> bytes:
        if origin == code_origin.USER:
            return self._follow(obj, kind).encode()
        name = obj.__name__ if kind == "module" else qualified_name(obj)
        if package is None:
            package = code_origin.package_of(name if kind == "module" else obj.__module__,
                                             getattr(obj, "__file__", None))
        return self._named_text(name, origin, package)

    def _named_text(self, name: str, origin: str, package: str) -> bytes:
        if origin in (code_origin.INSTALLED, code_origin.TOOL) and package:
            version = code_origin.package_version(package)
            self._entry(f"package {package}", version.encode(), "package", version)
            return f"{name} ({version})".encode()
        return name.encode()

    def _library_object(self, obj, origin: str) -> bytes | None:
        """A module-level object of a library known by its name (numpy.sqrt, a ufunc)."""
        if origin == code_origin.USER:
            return None
        module = getattr(obj, "__module__", None)
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if not isinstance(module, str) or not isinstance(name, str):
            return None
        target = sys.modules.get(module)
        for part in name.split("."):
            target = getattr(target, part, None)
        if target is not obj:
            return None
        return self._named_text(f"{module}.{name}", code_origin.module_origin(module),
                                code_origin.package_of(module))


def _module_level(method) -> bool:
    """Whether a bound method is what its library's module holds under its name."""
    name = getattr(method, "__name__", None)
    for module in (getattr(method, "__module__", None), type(method.__self__).__module__):
        if isinstance(module, str) and isinstance(name, str) \
                and getattr(sys.modules.get(module), name, None) is method:
            return True
    return False


def import_origin(name: str) -> str:
    """The origin of a module a function imports, found without importing anything."""
    top = name.partition(".")[0]
    if name in sys.modules:
        return code_origin.module_origin(name)
    if top in sys.stdlib_module_names:
        return code_origin.PYTHON
    spec = importlib.util.find_spec(top)  # a top-level name: nothing is imported to find it
    if spec is None:
        raise ImportError(f"no module named {top!r}")
    location = spec.origin if spec.has_location else next(iter(spec.submodule_search_locations or ()), "")
    return code_origin.file_origin(location) if location else code_origin.USER


def is_code(value) -> bool:
    return isinstance(value, (types.FunctionType, type, staticmethod, classmethod, property,
                              functools.partial, functools.cached_property, types.MethodType,
                              types.BuiltinFunctionType)) or is_step(value)


def is_binding(value) -> bool:
    """A name bound to code (followed under its own label), rather than to data."""
    return isinstance(value, (types.FunctionType, type, types.ModuleType, staticmethod, classmethod,
                              property, functools.cached_property, types.BuiltinFunctionType)) \
        or is_step(value)


def is_step(value) -> bool:
    cls = type(value)
    return cls.__name__ == "Step" and cls.__module__ == "zen_mlmd.pipelines.step"


def is_sunder(name: str) -> bool:
    return len(name) > 2 and name[0] == name[-1] == "_" and name[1] != "_" and name[-2] != "_"
