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
  values, code among them (``ACT = math.sqrt``, ``P = partial(f, k=1)``);
  ``functools.partial`` objects (function and arguments), bound methods
  (function and the object, encoded like any value: a client session's
  method is uncacheable; a library's module-level functions that are methods
  of a hidden instance, ``random.choice``, are named), lambdas, decorated
  functions.

Values are encoded canonically (`canonical`): plain data, dataclasses, enums,
numpy arrays and pandas objects by content. Code that is not the user's is
named, not followed: a function, class or module of an installed package by
its import path and the package's version, Python's own by its name (the
Python version is part of the key), zen_mlmd's by its version. A logger
(`logging.Logger`) is ignored: it only carries output. Any other object
(a ``requests.Session``, an open file, an instance of a plain class) cannot
be fingerprinted: the step is then *uncacheable*, with a reason naming the
value and where it was read. What the walk shows of a value (its preview)
is masked when it is read under a secret-looking name; the digest covers it.

What the code reads from outside Python (files, environment variables, the
network, the clock) is not seen: pass it as a parameter, or mark the step
``enable_cache=False``.
"""
from __future__ import annotations

import builtins
import collections
import dataclasses
import enum
import hashlib
import sys
import types
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Mapping

from zen_mlmd.secrets import is_secret_key
from zen_mlmd.tracking import code_origin
from zen_mlmd.tracking.canonical import Encoder, Unfingerprintable, type_name
from zen_mlmd.tracking.code_identity import (
    Identities,
    import_origin,
    is_binding,
    is_code,
    is_step,
    is_sunder,
    module_name,
    qualified_name,
)
from zen_mlmd.tracking.code_scan import DYNAMIC_NAMES, scan
from zen_mlmd.tracking.value_preview import preview

#: How many entries of each kind `Fingerprint.parts` shows (the key covers them all).
MAX_SHOWN = {"code": 100, "value": 50, "package": 50}
MAX_REASONS = 10
_UNDEFINED = b"undefined"
# Class attributes that Python makes from the class definition itself: __slots__ and
# named-tuple field descriptors, and abc's cache (`_abc_impl`)
_MACHINERY_TYPES = (types.MemberDescriptorType, types.GetSetDescriptorType,
                    type(collections.namedtuple("_Probe", "field").field))
_MACHINERY_NAMES = frozenset({"_abc_impl"})


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
    """The function behind a `@step`.

    A function made by a decorator is fingerprinted as it is: the decorator's
    wrapper, whose closure holds the decorated function (followed from there).
    """
    return func.func if is_step(func) else func


class _Walk(Identities):
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
        entry = {"kind": kind, "digest": hashlib.sha256(value).hexdigest()[:12]}
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
                      if not isinstance(value, _MACHINERY_TYPES) and attr not in _MACHINERY_NAMES
                      and not (is_enum and is_sunder(attr))
                      and (is_code(value) or not (attr.startswith("__") and attr.endswith("__")))]
        parts.append(repr([attr for attr, _ in attributes]).encode())
        self._entry(label, b"\n".join(parts), "code")
        name = label[len("class "):]
        for attr, value in attributes:
            # code too: `ACT = math.sqrt` or `P = partial(f, k=1)` is as much a read as `K = 3`
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
            origin = import_origin(name)
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
        except (Unfingerprintable, RecursionError) as exc:
            if isinstance(exc, RecursionError):
                exc = Unfingerprintable(value, "", "nested too deeply")
            self._uncacheable(kind, name, exc)
            what = f"<cannot be fingerprinted: {type_name(exc.value)}>"
            self._entry(label, what.encode(), "value", {"": what})
            return
        if is_binding(value):
            self._entry(label, digest)  # the code itself is followed under its own label
        else:
            # a value read under a secret-looking name is shown masked; the key still covers it
            secret = is_secret_key(name.partition(" of ")[0].rsplit(".", 1)[-1])
            self._entry(label, digest, "value", lambda: preview(value, secret))

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
