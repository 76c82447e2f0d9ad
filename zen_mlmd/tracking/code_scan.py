"""What a code object is, and which names outside itself it reads.

`scan(code)` reads the bytecode once (and remembers the answer for as long
as the code object lives, so a function is scanned once per process however
many steps reach it):

* ``digest``: sha256 over what decides the code's behaviour: bytecode,
  constants (nested functions, lambdas and comprehensions included, by their
  own digests), names, argument layout, flags and exception table. Line
  numbers and comments are left out, so moving or re-commenting a function
  keeps its digest; the bytecode follows the Python version (the key records
  that too);
* ``chains``: the global names it loads with the attribute names read off
  them right after, ``("helpers", "scale")`` for ``helpers.scale(...)``,
  ``("CONFIG",)`` for a bare ``CONFIG``; an attribute chain lets the
  fingerprint read only ``helpers.scale`` rather than all of ``helpers``;
* ``imports``: modules imported inside the code, with the names taken from
  them (``from m import a``), or None when the module itself is bound;
* ``dynamic``: it calls ``globals``, ``eval`` or ``exec``, so any global of its
  module may be read.

Bytecode is read as 16-bit units (Python >= 3.6): opcode, then argument,
with ``EXTENDED_ARG`` prefixes; the inline cache entries of 3.11+ are units
with opcode ``CACHE`` (0) and are skipped. Load chains are found with a
regular expression over the opcode bytes, so a function costs a few
microseconds to scan.
"""
from __future__ import annotations

import dis
import hashlib
import re
import sys
import types
import weakref
from dataclasses import dataclass
from typing import Optional

_OP = dis.opmap
_LOAD_GLOBAL = _OP["LOAD_GLOBAL"]
_LOAD_NAME = _OP["LOAD_NAME"]
_LOAD_ATTR = _OP["LOAD_ATTR"]
_LOAD_METHOD = _OP.get("LOAD_METHOD", -1)
_IMPORT_NAME = _OP["IMPORT_NAME"]
_IMPORT_FROM = _OP["IMPORT_FROM"]
_LOAD_CONST = _OP["LOAD_CONST"]
_EXTENDED_ARG = _OP["EXTENDED_ARG"]
_CACHE = _OP.get("CACHE", -1)
_STORES = {_OP[name] for name in ("STORE_FAST", "STORE_NAME", "STORE_GLOBAL", "STORE_DEREF",
                                  "POP_TOP", "SWAP") if name in _OP}
# LOAD_GLOBAL's argument is (name index << 1 | push NULL) from 3.11, LOAD_ATTR's from 3.12
_GLOBAL_SHIFT = 1 if sys.version_info >= (3, 11) else 0
_ATTR_SHIFT = 1 if sys.version_info >= (3, 12) else 0
DYNAMIC_NAMES = frozenset({"globals", "eval", "exec"})


@dataclass(frozen=True)
class Import:
    """A module imported inside a function."""

    name: str
    level: int  # 0 absolute; 1 for ``from . import x``, ...
    names: Optional[tuple[str, ...]]  # ``from name import a, b``; None: the module is bound


@dataclass(frozen=True)
class CodeInfo:
    digest: bytes
    chains: tuple[tuple[str, ...], ...]
    imports: tuple[Import, ...]
    dynamic: bool


# id(code) -> (weak reference to the code, its CodeInfo). Keyed by id, not by the code
# object: hashing a code object hashes its bytecode, every time (a WeakKeyDictionary
# doubled the cost of a scan). The entry goes when the code object does, and the weak
# reference tells a recycled id from the original.
_SCANNED: dict[int, tuple[weakref.ref, CodeInfo]] = {}


def scan(code: types.CodeType) -> CodeInfo:
    """The `CodeInfo` of a code object (cached while the code object lives)."""
    key = id(code)
    entry = _SCANNED.get(key)
    if entry is not None and entry[0]() is code:
        return entry[1]
    info = _scan(code)
    _SCANNED[key] = (weakref.ref(code, lambda _, key=key: _SCANNED.pop(key, None)), info)
    return info


def _scan(code: types.CodeType) -> CodeInfo:
    chains: dict[tuple[str, ...], None] = {}
    imports: dict[Import, None] = {}
    nested = []
    digest = hashlib.sha256()
    digest.update(code.co_code)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            inner = scan(const)
            nested.append(inner)
            digest.update(b"code" + inner.digest)
        else:
            digest.update(_constant(const))
    digest.update(repr((code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
                        code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
                        code.co_flags)).encode())
    digest.update(getattr(code, "co_exceptiontable", b""))
    _read_names(code, chains, imports)
    dynamic = any(chain[0] in DYNAMIC_NAMES for chain in chains)
    for inner in nested:
        chains.update(dict.fromkeys(inner.chains))
        imports.update(dict.fromkeys(inner.imports))
        dynamic = dynamic or inner.dynamic
    return CodeInfo(digest.digest(), tuple(chains), tuple(imports), dynamic)


_SIMPLE = (str, int, bool, type(None), bytes)


def _constant(value) -> bytes:
    # reprs of these are exact and typed ('1', '1.0', 'True', "'1'", "b'1'", '-0.0');
    # frozensets (``x in {...}``) are not: their order follows string hashing
    if type(value) in _SIMPLE or type(value) is float or value is Ellipsis or (
            type(value) is tuple and all(type(item) in _SIMPLE for item in value)):
        return repr(value).encode("utf-8", "surrogatepass") + b"\0"
    from zen_mlmd.tracking.canonical import Encoder

    return Encoder(_constant_identity).encode(value) + b"\0"


def _constant_identity(value) -> bytes | None:
    if value is Ellipsis:
        return b"Ellipsis"
    return None


def _op_class(*names: str) -> bytes:
    codes = [_OP[name] for name in names if name in _OP]
    return b"[" + b"".join(re.escape(bytes([c])) for c in codes) + b"]"


_E = _op_class("EXTENDED_ARG")
_C = _op_class("CACHE") + b"*" if "CACHE" in _OP else b""
# a load of a global (or a name) followed by attribute loads, caches and extended args between
_CHAIN = re.compile(_E + b"*" + _op_class("LOAD_GLOBAL", "LOAD_NAME") + _C
                    + b"(?:" + _E + b"*" + _op_class("LOAD_ATTR", "LOAD_METHOD") + _C + b")*",
                    re.DOTALL)
_INSTRUCTION = re.compile(b"[^" + re.escape(bytes([_CACHE])) + b"]" if _CACHE >= 0 else b".", re.DOTALL)


def _read_names(code: types.CodeType, chains: dict, imports: dict) -> None:
    raw = code.co_code
    ops, args = raw[0::2], raw[1::2]
    names = code.co_names
    for match in _CHAIN.finditer(ops):
        chain: list[str] = []
        ext = 0
        for unit in _INSTRUCTION.finditer(ops, *match.span()):  # skips the caches
            i = unit.start()
            op, arg = ops[i], args[i] | ext
            if op == _EXTENDED_ARG:
                ext = arg << 8
                continue
            ext = 0
            if op == _LOAD_GLOBAL:
                chain.append(names[arg >> _GLOBAL_SHIFT])
            elif op == _LOAD_NAME:
                chain.append(names[arg])
            elif op == _LOAD_ATTR:
                chain.append(names[arg >> _ATTR_SHIFT])
            elif op == _LOAD_METHOD:
                chain.append(names[arg])
        chains[tuple(chain)] = None
    if _IMPORT_NAME in ops:
        _read_imports(code, ops, args, imports)


def _read_imports(code: types.CodeType, ops: bytes, args: bytes, imports: dict) -> None:
    names, consts = code.co_names, code.co_consts
    pending: tuple[str, int, Optional[list[str]]] | None = None
    recent_consts: list[int] = []
    ext = 0
    for op, arg in zip(ops, args):
        arg |= ext
        if op == _EXTENDED_ARG:
            ext = arg << 8
            continue
        ext = 0
        if op == _CACHE:
            continue
        if pending is not None:
            if op == _IMPORT_FROM:
                if pending[2] is not None:
                    pending[2].append(names[arg])
                continue
            if op in _STORES:
                continue
            _add_import(imports, pending)
            pending = None
        if op == _LOAD_CONST:
            recent_consts = (recent_consts + [arg])[-2:]
        elif op == _IMPORT_NAME:
            level, fromlist = _import_args(consts, recent_consts)
            pending = (names[arg], level, [] if fromlist else None)
    if pending is not None:
        _add_import(imports, pending)


def _import_args(consts, recent: list[int]) -> tuple[int, bool]:
    # IMPORT_NAME is preceded by LOAD_CONST level, LOAD_CONST fromlist
    if len(recent) < 2:
        return 0, False
    level, fromlist = consts[recent[0]], consts[recent[1]]
    return (level if isinstance(level, int) else 0), bool(fromlist)


def _add_import(imports: dict, pending) -> None:
    name, level, taken = pending
    imports[Import(name, level, tuple(taken) if taken is not None else None)] = None
