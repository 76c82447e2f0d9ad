"""Short, readable previews of the values a step reads, and what changed between two.

A preview is a flat mapping of paths to short reprs, at most `MAX_LEAVES`
of them, each at most `MAX_TEXT` characters::

    {"threshold": "0.5", "model.depth": "3", "layers[1]": "32"}

so that a recorded cache key stays small and `cache explain` can say
``global CONFIG changed: threshold 0.5 -> 0.7``. A value that is not a
container previews under the empty path. Previews only explain; the key is
computed from the full canonical encoding.

Secrets are never previewed: a value read under a secret-looking name
(`zen_mlmd.secrets.is_secret_key`: ``API_TOKEN``, a ``password`` key or
field) shows as ``********``, and so does the password of a URL. That the
value changed still shows, through the read's digest (`mask_preview` applies
the same rule to previews recorded before it existed).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping

from zen_mlmd.secrets import SECRET_MASK, is_secret_key, masked_text

MAX_LEAVES = 12
MAX_TEXT = 60
MORE = "..."  # the key that says leaves were left out


def preview(value: Any, secret: bool = False) -> dict[str, str]:
    """The preview of `value` (see the module docstring).

    Args:
        secret: the value is read under a secret-looking name: masked whole.
    """
    if secret:
        return {"": SECRET_MASK}
    leaves: dict[str, str] = {}
    _walk(value, "", leaves, set())
    return leaves


def mask_preview(shown: Any, secret: bool = False) -> Any:
    """A recorded preview with its secrets masked, as `preview` masks them now."""
    if not isinstance(shown, Mapping):
        return SECRET_MASK if secret else masked_text(str(shown))
    return {path: SECRET_MASK if (secret and path != MORE) or _secret_path(path) else masked_text(str(text))
            for path, text in shown.items()}


def masked_paths(shown: Mapping[str, str] | None) -> list[str]:
    """The paths of a preview whose values are masked."""
    return [path for path, text in (shown or {}).items() if text == SECRET_MASK]


def _secret_path(path: str) -> bool:
    return any(is_secret_key(step) for step in path.replace("[", ".").split(".") if step)


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
        where = f"{path}.{step}" if path and not step.startswith("[") else f"{path}{step}"
        if is_secret_key(step) and not (item is None or (isinstance(item, str) and not item)):
            leaves[where] = SECRET_MASK
        else:
            _walk(item, where, leaves, active)
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
    text = masked_text(" ".join(text.split()))
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
