"""Code fingerprints: everything a step's code can read that is not an input or a parameter.

The rule: whatever the step's code can read besides its inputs and
parameters is either in its fingerprint or makes the step uncacheable.
Starting from the step function, the fingerprint follows, to any depth
within the user's own code (`code_origin`):

* the code of every function reached (bytecode digest, see `code_scan`);
* their closure variables and default values (positional and keyword; the
  step's own defaults are parameters already);
* the globals they read, including ``module.NAME`` attribute chains into the
  user's other modules and names imported inside a function; a module used
  as a whole (passed around, or a function calling ``globals()``/``eval``)
  is read whole;
* the classes reached: bases, metaclass, methods, properties and class-level
  values; ``functools.partial`` objects (function and arguments), bound
  methods (function and the object), lambdas, decorated functions.

Values are encoded canonically (`canonical`): plain data, dataclasses, enums,
numpy arrays and pandas objects by content. Code that is not the user's is
named, not followed: a function, class or module of an installed package by
its import path and the package's version, Python's own by its name (the
Python version is part of the key), zen_mlmd's by its version. A logger
(`logging.Logger`) is ignored: it only carries output. Any other object
(a ``requests.Session``, an open file, an instance of a plain class) cannot
be fingerprinted: the step is then *uncacheable*, with a reason naming the
value and where it was read.

What the code reads from outside Python (files, environment variables, the
network, the clock) is not seen: pass it as a parameter, or mark the step
``enable_cache=False``.
"""
from __future__ import annotations

import builtins
import dataclasses
import enum
import functools
import hashlib
import logging
import os
import sys
import types
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Mapping

from zen_mlmd.tracking import code_origin
from zen_mlmd.tracking.canonical import Encoder, Unfingerprintable, type_name
from zen_mlmd.tracking.code_scan import DYNAMIC_NAMES, scan
from zen_mlmd.tracking.value_preview import preview

#: How many entries of each kind `Fingerprint.parts` shows (the key covers them all).
MAX_SHOWN = {"code": 200, "value": 100, "package": 100}
MAX_REASONS = 10
_UNDEFINED = b"undefined"
_MACHINERY_TYPES = (types.MemberDescriptorType, types.GetSetDescriptorType)


@dataclass(frozen=True)
class Fingerprint:
    """What a step's code reads, digested.

    Attributes:
        value: ``"sha256:<hex>"`` over the step's identity, the Python version
            and every function, class, value and package version it reads.
        parts: a bounded summary for explaining a change:
            ``{"python": "3.11", "reads": {label: {"kind", "digest", "shown"}},
            "omitted": n}``; labels read ``function mod.f``,
            ``global CONFIG``, ``closure variable factor``,
            ``default lr of mod.f``, ``class attribute mod.C.x``,
            ``package numpy``.
        uncacheable: why the step cannot be cached (empty when it can):
            ``"reads global 'session' (requests.sessions.Session) that
            cannot be fingerprinted"``.
    """

    value: str
    parts: Mapping[str, Any] = field(default_factory=dict)
    uncacheable: tuple[str, ...] = ()

    @property
    def cacheable(self) -> bool:
        return not self.uncacheable


def fingerprint(func) -> Fingerprint:
    """Fingerprint a step function (or a `@step`, or a decorated function)."""
    return _Walk(unwrap(func)).run()


def code_fingerprint(func) -> str:
    """``"sha256:<hex>"``: `fingerprint(func).value`."""
    return fingerprint(func).value


def unwrap(func):
    """The function behind a `@step` or a `functools.wraps` decorator."""
    func = getattr(func, "func", func) if _is_step(func) else func
    return getattr(func, "__wrapped__", func)


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


class _Walk:
    """One fingerprint: follows the step's reads breadth first."""

    def __init__(self, step):
        self.step = step
        self.home = module_name(step)
        self.entries: dict[tuple[str, bytes], None] = {}
        self.shown: dict[str, dict] = {}
        self.counts = {kind: 0 for kind in MAX_SHOWN}
        self.omitted = 0
        self.reasons: list[str] = []
        self.followed: dict[int, str] = {}
        self.labels: dict[str, int] = {}
        self.read: set[str] = set()
        self.chains: dict[int, set] = {}
        self.alive: list = []  # keeps followed objects alive, so their ids stay theirs
        self.queue: deque = deque()
        self.reader = ""  # the function whose read is being resolved, for reasons
        self.encoder = Encoder(self.reference)

    def run(self) -> Fingerprint:
        if isinstance(self.step, types.FunctionType):
            self._follow(self.step, "function")
        else:  # a callable object standing in for a function
            self._value("step object", qualified_name(self.step), self.step)
        while self.queue:
            kind, obj, label = self.queue.popleft()
            getattr(self, f"_visit_{kind}")(obj, label)
        digest = hashlib.sha256(f"step {qualified_name(self.step)}\n".encode())
        digest.update(f"python {code_origin.python_version()}\n".encode())
        for label, value in sorted(self.entries):
            digest.update(label.encode("utf-8", "surrogatepass") + b"\0" + value + b"\n")
        parts = {"python": code_origin.python_version(), "reads": self.shown, "omitted": self.omitted}
        return Fingerprint("sha256:" + digest.hexdigest(), parts, tuple(self.reasons))

    # -- bookkeeping -------------------------------------------------------------------
    def _entry(self, label: str, value: bytes, kind: str | None = None, shown: Any = None) -> None:
        """Adds a read to the fingerprint; `shown` (or `shown()`) is what explains it."""
        self.entries[(label, value)] = None
        if kind is None:
            return  # a binding (a name -> a function, class or module): hashed, not shown
        if self.counts[kind] >= MAX_SHOWN[kind] or label in self.shown:
            self.omitted += label not in self.shown
            return
        self.counts[kind] += 1
        entry = {"kind": kind, "digest": hashlib.sha256(value).hexdigest()[:16]}
        if callable(shown):
            shown = shown()
        if shown is not None:
            entry["shown"] = shown
        self.shown[label] = entry

    def _follow(self, obj, kind: str) -> str:
        """Schedule a function, class or module to be followed; returns its label."""
        known = self.followed.get(id(obj))
        if known is not None:
            return known
        name = obj.__name__ if kind == "module" else qualified_name(obj)
        label = f"{kind} {name}"
        count = self.labels.get(label, 0) + 1
        self.labels[label] = count
        if count > 1:  # another object of the same name (two lambdas, a factory called twice)
            label = f"{label}#{count}"
        self.followed[id(obj)] = label
        self.alive.append(obj)
        self.queue.append((kind, obj, label))
        return label

    def _global_label(self, module: str, name: str) -> str:
        return f"{name}" if module == self.home else f"{module}.{name}"

    # -- following ---------------------------------------------------------------------
    def _visit_function(self, func: types.FunctionType, label: str) -> None:
        code = func.__code__
        info = scan(code)
        self._entry(label, info.digest, "code")
        owner = "" if func is self.step else f" of {label[len('function '):]}"
        self.reader = "" if func is self.step else qualified_name(func)
        if func is not self.step:  # the step's own defaults are its parameters
            positional = code.co_varnames[:code.co_argcount]
            for name, value in zip(positional[len(positional) - len(func.__defaults__ or ()):],
                                   func.__defaults__ or ()):
                self._value("default", name + owner, value)
            for name, value in (func.__kwdefaults__ or {}).items():
                self._value("default", name + owner, value)
        for name, cell in zip(code.co_freevars, func.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:  # not assigned yet
                self._entry(f"closure variable {name}{owner}", b"empty cell")
                continue
            self._value("closure variable", name + owner, value)
        namespace = func.__globals__
        module = namespace.get("__name__", "") if namespace.get("__name__") != "__main__" \
            else module_name(func)
        done = self.chains.setdefault(id(namespace), set())
        for chain in info.chains:
            if chain not in done:  # functions of one module read the same names
                done.add(chain)
                self._read_global(namespace, module, chain)
        for imported in info.imports:
            self._read_import(namespace, imported)
        if info.dynamic and any(chain[0] in DYNAMIC_NAMES and chain[0] not in namespace
                                for chain in info.chains):
            self._read_namespace(namespace, module)

    def _visit_library_closure(self, func: types.FunctionType, label: str) -> None:
        # a function an installed decorator made at run time: what it wraps is in its cells
        owner = f" of {label[len('library_closure '):]}"
        for name, cell in zip(func.__code__.co_freevars, func.__closure__ or ()):
            try:
                self._value("closure variable", name + owner, cell.cell_contents)
            except ValueError:
                continue

    def _visit_class(self, cls: type, label: str) -> None:
        self.reader = qualified_name(cls)
        parts = [self.reference(base) or b"?" for base in cls.__bases__]
        if type(cls) is not type:
            parts.append(b"metaclass " + (self.reference(type(cls)) or b"?"))
        is_enum = isinstance(cls, enum.EnumMeta)
        # dunder values other than code are machinery (__dict__, __doc__, the __slotnames__
        # that copy adds later, ...); descriptors of __slots__ and Enum's _sunder_ names too
        attributes = [(attr, value) for attr, value in list(vars(cls).items())
                      if not isinstance(value, _MACHINERY_TYPES) and not (is_enum and _is_sunder(attr))
                      and (_is_code(value) or not (attr.startswith("__") and attr.endswith("__")))]
        parts.append(repr([attr for attr, _ in attributes]).encode())
        self._entry(label, b"\n".join(parts), "code")
        name = label[len("class "):]
        for attr, value in attributes:
            if _is_code(value):
                self.reference(value)
            else:
                self._value("class attribute", f"{self._short(name)}.{attr}", value)
        for item in getattr(cls, "__dataclass_fields__", {}).values():
            factory = getattr(item, "default_factory", dataclasses.MISSING)
            if factory is not dataclasses.MISSING:
                self._value("default factory", f"{self._short(name)}.{item.name}", factory)

    def _visit_module(self, module: types.ModuleType, label: str) -> None:
        self.reader = module.__name__
        self._read_namespace(vars(module), module.__name__)

    def _read_namespace(self, namespace: Mapping[str, Any], module: str) -> None:
        for name, value in list(namespace.items()):
            if not (name.startswith("__") and name.endswith("__")):
                self._value("global", self._global_label(module, name), value)

    def _short(self, qualified: str) -> str:
        prefix = self.home + "."
        return qualified[len(prefix):] if qualified.startswith(prefix) else qualified

    # -- reads ---------------------------------------------------------------------------
    def _read_global(self, namespace: Mapping[str, Any], module: str, chain: tuple[str, ...]) -> None:
        name = chain[0]
        if name not in namespace:
            if not hasattr(builtins, name):
                self._entry(f"global {self._global_label(module, name)}", _UNDEFINED)
            return
        value, where = namespace[name], (module, name)
        for attr in chain[1:]:
            if not (isinstance(value, types.ModuleType)
                    and code_origin.module_origin(value.__name__) == code_origin.USER):
                break
            members = vars(value)
            if attr not in members:
                if "__getattr__" not in members:
                    self._entry(f"global {value.__name__}.{attr}", _UNDEFINED)
                    return
                break  # a module-level __getattr__: read the module whole
            value, where = members[attr], (value.__name__, attr)
        self._value("global", self._global_label(*where), value)

    def _read_import(self, namespace: Mapping[str, Any], imported) -> None:
        import importlib

        name = imported.name
        try:
            if imported.level:
                name = importlib.util.resolve_name("." * imported.level + name,
                                                   namespace.get("__package__"))
            origin = _import_origin(name)
            if origin != code_origin.USER:
                # named, never read: whether it happens to be imported already must not matter
                self._entry(f"module {name}", self._named_text(name, origin, name.partition(".")[0]))
                return
            module = sys.modules.get(name) or importlib.import_module(name)
        except (ImportError, ValueError) as exc:
            self._entry(f"module {name}", f"not importable: {type(exc).__name__}".encode())
            return
        if imported.names is None:
            self.reference(module)
            return
        for attr in imported.names:
            self._read_global(vars(module), module.__name__, (attr,))

    def _value(self, kind: str, name: str, value: Any) -> None:
        label = f"{kind} {name}"
        if label in self.read:
            return
        self.read.add(label)
        if type(value) is types.FunctionType:  # the most common read: skip the encoder
            self._entry(label, self._function_reference(value))
            return
        try:
            digest = self.encoder.digest(value)
        except Unfingerprintable as exc:
            self._uncacheable(kind, name, exc)
            digest = f"unfingerprintable {type_name(exc.value)}".encode()
        except RecursionError:
            self._uncacheable(kind, name, Unfingerprintable(value, "", "nested too deeply"))
            digest = b"unfingerprintable: too deep"
        if _is_binding(value):
            self._entry(label, digest)  # the code itself is followed under its own label
        else:
            self._entry(label, digest, "value", lambda: preview(value))

    def _uncacheable(self, kind: str, name: str, exc: Unfingerprintable) -> None:
        if len(self.reasons) >= MAX_REASONS:
            return
        what = type_name(exc.value)
        if exc.path:
            what += f" at {exc.path}"
        if self.reader and kind == "global":
            what += f", read in {self.reader}"
        subject, _, owner = name.partition(" of ")
        where = f"{kind} '{subject}'" + (f" of {owner}" if owner else "")
        self.reasons.append(f"reads {where} ({what}) that cannot be fingerprinted"
                            + (f": {exc.why}" if exc.why else ""))

    # -- identities of what is not plain data (the encoder's callback) ---------------------
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
        if _is_step(obj):
            return self._require(obj.func)
        if isinstance(obj, (logging.Logger, logging.LoggerAdapter)):
            return b"logger " + str(getattr(obj, "name", "")).encode()
        if type(obj).__module__ == "typing" or isinstance(obj, (types.GenericAlias, types.UnionType)):
            return b"typing " + repr(obj).encode()
        owner = getattr(obj, "__objclass__", None)
        if isinstance(owner, type):  # str.upper and other slot wrappers
            return self._require(owner) + b"." + str(getattr(obj, "__name__", "")).encode()
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
        if isinstance(owner, type) or origin == code_origin.USER or type(owner).__module__ == "builtins":
            # the object is state the method reads: CONFIG.get, a user object's method
            target = self._require(func) if func is not None else self._builtin_name(method)
            return b"method " + target + b" of " + self.encoder.encode(owner)
        # a bound method of a library object (random.choice, numpy.random.normal): the
        # library's own state is not followed, as for its module-level functions
        return self._named_text(f"{type_name(owner)}.{method.__name__}", origin,
                                code_origin.package_of(type(owner).__module__))

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


def _import_origin(name: str) -> str:
    """The origin of a module a function imports, found without importing anything."""
    import importlib.util

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


def _is_code(value) -> bool:
    return isinstance(value, (types.FunctionType, type, staticmethod, classmethod, property,
                              functools.partial, functools.cached_property, types.MethodType,
                              types.BuiltinFunctionType)) or _is_step(value)


def _is_binding(value) -> bool:
    """A name bound to code (followed under its own label), rather than to data."""
    return isinstance(value, (types.FunctionType, type, types.ModuleType, staticmethod, classmethod,
                              property, functools.cached_property, types.BuiltinFunctionType)) \
        or _is_step(value)


def _is_step(value) -> bool:
    cls = type(value)
    return cls.__name__ == "Step" and cls.__module__ == "zen_mlmd.pipelines.step"


def _is_sunder(name: str) -> bool:
    return len(name) > 2 and name[0] == name[-1] == "_" and name[1] != "_" and name[-2] != "_"
