"""Short, readable previews of the values a step reads, and what changed between two.

A preview is a flat mapping of paths to short reprs, at most `MAX_LEAVES`
of them, each at most `MAX_TEXT` characters::

    {"threshold": "0.5", "model.depth": "3", "layers[1]": "32"}

so that a recorded cache key stays small and `cache explain` can say
``global CONFIG changed: threshold 0.5 -> 0.7``. A value that is not a
container previews under the empty path. Previews only explain; the key is
computed from the full canonical encoding.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping

MAX_LEAVES = 12
MAX_TEXT = 60
MORE = "..."  # the key that says leaves were left out


def preview(value: Any) -> dict[str, str]:
    """The preview of `value` (see the module docstring)."""
    leaves: dict[str, str] = {}
    _walk(value, "", leaves, set())
    return leaves


def _walk(value: Any, path: str, leaves: dict[str, str], active: set[int]) -> None:
    if len(leaves) >= MAX_LEAVES:
        leaves[MORE] = "more values not shown"
        return
    items = _items(value)
    if items is None or id(value) in active or not items:
        leaves[path] = short(value)
        return
    active.add(id(value))
    for step, item in items:
        _walk(item, f"{path}.{step}" if path and not step.startswith("[") else f"{path}{step}",
              leaves, active)
        if MORE in leaves:
            break
    active.discard(id(value))


def _items(value: Any) -> list[tuple[str, Any]] | None:
    if isinstance(value, functools.partial):
        return ([("func", value.func)] + [(f"args[{i}]", a) for i, a in enumerate(value.args)]
                + [(k, v) for k, v in value.keywords.items()])
    if isinstance(value, dict):
        return [(k if isinstance(k, str) and k.isidentifier() else f"[{k!r}]", v)
                for k, v in value.items()]
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return [(f"[{i}]", v) for i, v in enumerate(value)]
    if hasattr(value, "_fields") and isinstance(value, tuple):  # named tuples
        return list(zip(value._fields, value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    if hasattr(type(value), "__pydantic_fields__") and isinstance(getattr(value, "__dict__", None), dict):
        return list(vars(value).items())
    return None


def short(value: Any) -> str:
    """A repr of at most `MAX_TEXT` characters; sets sorted, so that it is stable."""
    if isinstance(value, (set, frozenset)):
        text = "{" + ", ".join(sorted(short(v) for v in value)) + "}"
    elif callable(value) and hasattr(value, "__qualname__"):
        text = f"<{getattr(value, '__module__', '')}.{value.__qualname__}>"
    else:
        try:
            text = repr(value)
        except Exception:  # a broken __repr__ must not break the fingerprint
            text = f"<{type(value).__qualname__}>"
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 3] + "..."


def describe_change(before: Mapping[str, str] | None, after: Mapping[str, str] | None) -> str:
    """``"threshold 0.5 -> 0.7, depth 3 -> 4"``; "" when the previews show no difference."""
    before, after = dict(before or {}), dict(after or {})
    if set(before) == {""} and set(after) == {""}:
        return f"{before['']} -> {after['']}" if before[""] != after[""] else ""
    changes = []
    for path in list(before) + [p for p in after if p not in before]:
        if path == MORE:
            continue
        old, new = before.get(path), after.get(path)
        if old != new:
            changes.append(f"{path or 'value'} {old if old is not None else '(absent)'} -> "
                           f"{new if new is not None else '(absent)'}")
    if len(changes) > 5:
        changes = changes[:5] + [f"{len(changes) - 5} more"]
    return ", ".join(changes)
