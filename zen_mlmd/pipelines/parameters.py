"""Parameters checked against their annotations before a run starts.

A pipeline's or step's parameter annotated `int`, `float`, `bool`, `str`,
`list` / `list[...]` of those, or an optional one (``int | None``), gets
values of that type: a value that converts without loss is converted (``"3"``
or ``3.0`` for an `int`, ``1`` for a `float`, ``"true"`` for a `bool`),
anything else is refused with a `ConfigError` naming the parameter, the value
and the type expected. Runs are built before anything is recorded, so a
refused value leaves no trace in the metadata store. Parameters with any
other annotation, or none, are passed on as they are.

Conversion is pydantic's lax mode, with one exception: `True` is not a number.
"""
from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from typing import Any, Callable, Mapping

from zen_mlmd.errors import ConfigError

_SCALARS: dict[type, str] = {
    int: "a whole number, e.g. 100",
    float: "a number, e.g. 0.5",
    bool: "true or false",
    str: "text",
}


def annotations_of(func: Callable) -> dict[str, Any]:
    """The parameters' annotations of `func`, resolved; unresolvable ones are left out.

    String annotations (``from __future__ import annotations``) are resolved in
    the function's module, one by one, so that one unknown name does not hide
    the others.
    """
    found: dict[str, Any] = {}
    namespace = getattr(func, "__globals__", {})
    for name, param in inspect.signature(func).parameters.items():
        annotation = param.annotation
        if annotation is inspect.Parameter.empty:
            continue
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, dict(namespace))  # noqa: S307 - the user's own annotation
            except Exception:  # a name only known to a type checker: not checked
                continue
        found[name] = annotation
    return found


def _is_scalar(annotation: Any) -> bool:
    try:
        return annotation in _SCALARS
    except TypeError:  # an unhashable object used as an annotation
        return False


def is_checked(annotation: Any) -> bool:
    """Whether values for `annotation` are converted and checked (see the module docstring)."""
    if _is_scalar(annotation) or annotation is list:
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list:
        return len(args) == 1 and _is_scalar(args[0])
    if origin in (typing.Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        return len(others) == 1 and len(args) == 2 and is_checked(others[0])
    return False


def describe(annotation: Any) -> str:
    """How an expected type reads in an error: ``int (a whole number, e.g. 100)``."""
    if _is_scalar(annotation):
        return f"{annotation.__name__} ({_SCALARS[annotation]})"
    if annotation is list:
        return "list (a JSON list, e.g. [1, 2])"
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is list:
        return f"list[{args[0].__name__}] (a JSON list of {args[0].__name__} values, e.g. [1, 2])"
    inner = next(a for a in args if a is not type(None))
    return f"{describe(inner)} or null"


def convert(owner: str, name: str, value: Any, annotation: Any) -> Any:
    """`value` as the type `annotation` asks for (unchanged when it is not checked).

    Args:
        owner: the pipeline or step name, for the error.
        name: the parameter name.

    Raises:
        ConfigError: the value does not convert; names ``owner.name``, the
            value and the type expected.
    """
    if not is_checked(annotation):
        return value
    import pydantic

    try:
        return _adapter(annotation).validate_python(value)
    except pydantic.ValidationError as exc:
        reason = exc.errors(include_url=False)[0].get("msg", "invalid value")
        reason = reason.removeprefix("Value error, ")
        raise ConfigError(f"{owner}.{name}", value, f"expected {describe(annotation)}: "
                          f"{reason[0].lower()}{reason[1:]}",
                          f"give {name} a value of type {_short(annotation)}") from None


def from_text(owner: str, name: str, text: str, annotation: Any) -> Any:
    """A value typed on the command line (``-p name=text``), read as `annotation` asks.

    `str` parameters take the text as it is; numbers and booleans are read
    from the text; lists (and unchecked parameters) are read as JSON, and an
    unchecked parameter whose text is not JSON stays text.

    Raises:
        ConfigError: as for `convert`.
    """
    inner = _optional_inner(annotation)
    if inner is not None and text.strip().lower() in ("null", "none"):
        return None
    target = inner if inner is not None else annotation
    if target is str or (_is_scalar(target) and is_checked(annotation)):
        return convert(owner, name, text, annotation)
    try:
        value = json.loads(text)
    except ValueError:
        if is_checked(annotation):  # a list that is not JSON
            raise ConfigError(f"{owner}.{name}", text, f"expected {describe(annotation)}",
                              f"give a JSON list, e.g. -p {name}='[1, 2]'") from None
        return text
    return convert(owner, name, value, annotation)


def convert_all(owner: str, func: Callable, values: Mapping[str, Any]) -> dict[str, Any]:
    """Every value of `values` converted by `func`'s annotation for it (`convert`)."""
    annotations = annotations_of(func)
    return {name: convert(owner, name, value, annotations[name]) if name in annotations else value
            for name, value in values.items()}


def _optional_inner(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        others = [a for a in args if a is not type(None)]
        if len(others) == 1 and len(args) == 2:
            return others[0]
    return None


def _short(annotation: Any) -> str:
    if _is_scalar(annotation) or annotation is list:
        return annotation.__name__
    if typing.get_origin(annotation) is list:
        return f"list[{typing.get_args(annotation)[0].__name__}]"
    return f"{_short(_optional_inner(annotation))} or None"


def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("true/false is not a number")
    return value


@functools.lru_cache(maxsize=None)
def _adapter(annotation: Any):
    import pydantic

    return pydantic.TypeAdapter(_strict_numbers(annotation))


def _strict_numbers(annotation: Any) -> Any:
    """`annotation` with numbers that refuse booleans (pydantic's lax mode takes True as 1)."""
    import pydantic

    if annotation in (int, float):
        return typing.Annotated[annotation, pydantic.BeforeValidator(_not_a_bool)]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args:
        return list[_strict_numbers(args[0])]
    inner = _optional_inner(annotation)
    if inner is not None:
        return typing.Optional[_strict_numbers(inner)]
    return annotation
