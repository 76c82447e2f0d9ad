"""`@step`: a Python function whose inputs, parameters and outputs are recorded.

Arguments that receive another step's output are *inputs* (artifacts, with
lineage); every other argument is a *parameter* (a JSON-like value recorded
as a typed MLMD value). A step has one output named ``output`` by default, or
the named outputs it declares; several outputs are returned as a tuple::

    @step(outputs={"train": Dataset, "test": Dataset})
    def split(data: dict, test_fraction: float = 0.25):
        ...
        return train, test

Called outside a pipeline, a step is just its function.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from zen_mlmd.errors import ConfigError

DEFAULT_OUTPUT = "output"


@dataclass(frozen=True)
class OutputSpec:
    """A declared output: its name, artifact kind (None: from the value) and materializer."""

    name: str
    kind: Any = None
    materializer: Any = None


@dataclass(frozen=True)
class StepOutput:
    """A reference, inside a pipeline definition, to one output of one step call."""

    invocation: str
    output: str

    def __iter__(self):
        raise ConfigError(
            "outputs", self.output, "this step has a single output and cannot be unpacked",
            "declare the outputs with @step(outputs=(...)) to return several values",
        )


class Step:
    """A step definition. Create it with the `step` decorator."""

    def __init__(
        self,
        func: Callable,
        name: str | None = None,
        outputs: Sequence[str] | Mapping[str, Any] | None = None,
        enable_cache: bool | None = None,
        materializers: Mapping[str, Any] | None = None,
    ):
        self.func = func
        self.name = name or func.__name__
        self.enable_cache = enable_cache
        self.signature = inspect.signature(func)
        for param in self.signature.parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ConfigError(
                    f"{self.name}.{param.name}", str(param), "steps take named arguments only",
                    "replace *args/**kwargs with named arguments",
                )
        declared = outputs if outputs is not None else (DEFAULT_OUTPUT,)
        kinds = dict(declared) if isinstance(declared, Mapping) else {n: None for n in declared}
        materializers = dict(materializers or {})
        unknown = set(materializers) - set(kinds)
        if unknown:
            raise ConfigError(
                "materializers", sorted(unknown), f"not outputs of step {self.name!r}",
                f"use one of: {', '.join(kinds)}",
            )
        self.outputs = tuple(OutputSpec(n, kinds[n], materializers.get(n)) for n in kinds)
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    @property
    def type_name(self) -> str:
        """The step's MLMD execution type: its function's import path."""
        from zen_mlmd.tracking.fingerprint import qualified_name

        return qualified_name(self.func)

    def bind(self, args: tuple, kwargs: dict) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split a call's arguments into (inputs, parameters), defaults applied.

        Parameters are converted to their annotated types (see
        `zen_mlmd.pipelines.parameters`).

        Raises:
            ConfigError: a missing argument, or a parameter value that is not
                of its annotated type (naming ``step.parameter``, the value
                and the type).
        """
        from zen_mlmd.pipelines.parameters import convert_all

        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ConfigError(f"{self.name}()", f"{len(args)} args, {sorted(kwargs)}", str(exc),
                              f"call it as {self.name}{self.signature}") from None
        bound.apply_defaults()
        inputs, parameters = {}, {}
        missing = [p.name for p in self.signature.parameters.values()
                   if p.name not in bound.arguments]
        if missing:
            raise ConfigError(f"{self.name}.{missing[0]}", None, "no value given",
                              "pass it as an argument or give it a default")
        for name, value in bound.arguments.items():
            if _is_step_output(value):
                inputs[name] = value
            else:
                parameters[name] = value
        return inputs, convert_all(self.name, self.func, parameters)

    def __call__(self, *args, **kwargs):
        from zen_mlmd.pipelines.pipeline import current_builder

        builder = current_builder()
        if builder is None:
            return self.func(*args, **kwargs)
        return builder.add(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<step {self.name} outputs={[o.name for o in self.outputs]}>"


def _is_step_output(value: Any) -> bool:
    if isinstance(value, StepOutput):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(
        isinstance(item, StepOutput) for item in value)


def step(
    func: Callable | None = None,
    *,
    name: str | None = None,
    outputs: Sequence[str] | Mapping[str, Any] | None = None,
    enable_cache: bool | None = None,
    materializers: Mapping[str, Any] | None = None,
):
    """Make a function a pipeline step.

    Args:
        name: the step name (default: the function name).
        outputs: output names, or a mapping of output name to artifact kind
            (`Dataset`, `Model`, `Metrics`, ... or their names). Default: one
            output named ``output`` whose kind follows from its value.
        enable_cache: reuse outputs of an identical earlier execution. Default:
            the pipeline's setting.
        materializers: output name -> materializer (class or registered name)
            overriding the one chosen by the value's type.
    """
    def wrap(f: Callable) -> Step:
        return Step(f, name=name, outputs=outputs, enable_cache=enable_cache,
                    materializers=materializers)

    return wrap(func) if func is not None else wrap
