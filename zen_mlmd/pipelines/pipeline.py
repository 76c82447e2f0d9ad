"""`@pipeline`: a function that wires steps into a DAG, then runs it on a stack.

The pipeline function is traced: each step call inside it adds an
invocation and returns references to its outputs, which later calls take as
inputs. Running the pipeline hands the graph to the stack's orchestrator::

    @pipeline
    def training(n_samples: int = 200, C: float = 1.0):
        data = load(n_samples=n_samples)
        train_set, test_set = split(data)
        evaluate(train(train_set, C=C), test_set)

    run = training(C=0.5)            # runs and records; returns the run

The stack's orchestrator flavor decides how the graph runs (see
`zen_mlmd.pipelines.orchestrators`).
"""
from __future__ import annotations

import contextvars
import graphlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from zen_mlmd.errors import ConfigError, UnknownNameError
from zen_mlmd.pipelines.parameters import convert_all
from zen_mlmd.pipelines.step import Step, StepOutput

_BUILDER: contextvars.ContextVar["_GraphBuilder | None"] = contextvars.ContextVar("builder", default=None)


def current_builder() -> "_GraphBuilder | None":
    return _BUILDER.get()


@dataclass
class Invocation:
    """One call of a step in a pipeline: its inputs, parameters and upstream steps."""

    name: str
    step: Step
    inputs: dict[str, StepOutput | tuple[StepOutput, ...]]
    parameters: dict[str, Any]
    upstream: tuple[str, ...] = ()

    def input_refs(self) -> list[tuple[str, int, StepOutput]]:
        """(input name, index, reference) for every input artifact."""
        refs = []
        for name, value in self.inputs.items():
            items = value if isinstance(value, tuple) else (value,)
            refs.extend((name, index, ref) for index, ref in enumerate(items))
        return refs


@dataclass
class PipelineGraph:
    """A traced pipeline: invocations in topological (DAG) order."""

    name: str
    parameters: dict[str, Any]
    invocations: dict[str, Invocation] = field(default_factory=dict)
    enable_cache: bool = True
    source: str = ""

    def config(self) -> dict[str, Any]:
        """The configuration snapshot recorded with every run."""
        return {
            "pipeline": self.name,
            "source": self.source,
            "parameters": self.parameters,
            "enable_cache": self.enable_cache,
            "steps": [
                {
                    "name": inv.name,
                    "type": inv.step.type_name,
                    "parameters": inv.parameters,
                    "inputs": {n: [r.invocation + "." + r.output for r in (v if isinstance(v, tuple) else (v,))]
                               for n, v in inv.inputs.items()},
                    "outputs": [o.name for o in inv.step.outputs],
                    "upstream": list(inv.upstream),
                    "enable_cache": inv.step.enable_cache,
                }
                for inv in self.invocations.values()
            ],
        }


class _GraphBuilder:
    def __init__(self, graph: PipelineGraph):
        self.graph = graph

    def add(self, step: Step, args: tuple, kwargs: dict):
        name = step.name
        suffix = 2
        while name in self.graph.invocations:  # the same step used twice
            name, suffix = f"{step.name}_{suffix}", suffix + 1
        inputs, parameters = step.bind(args, kwargs)
        normalized = {k: (tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in inputs.items()}
        upstream = sorted({ref.invocation for value in normalized.values()
                           for ref in (value if isinstance(value, tuple) else (value,))})
        self.graph.invocations[name] = Invocation(name, step, normalized, parameters, tuple(upstream))
        refs = tuple(StepOutput(name, spec.name) for spec in step.outputs)
        return refs[0] if len(refs) == 1 else refs


class Pipeline:
    """A pipeline definition. Create it with the `pipeline` decorator."""

    def __init__(self, func: Callable, name: str | None = None, enable_cache: bool = True):
        self.func = func
        self.name = name or func.__name__
        self.enable_cache = enable_cache
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    @property
    def source(self) -> str:
        """Where the pipeline is defined: `module:qualname` and its file."""
        try:
            path = inspect.getsourcefile(self.func) or ""
        except TypeError:
            path = ""
        return f"{self.func.__module__}:{self.func.__qualname__}@{path}"

    def build(self, **parameters: Any) -> PipelineGraph:
        """Trace the pipeline function into its DAG, without running anything.

        Parameters are converted to their annotated types first, the
        pipeline's and then each step's (see `zen_mlmd.pipelines.parameters`).

        Raises:
            UnknownNameError: a parameter the pipeline does not have.
            ConfigError: a parameter value that is not of its annotated type
                (naming the parameter, the value and the type), a missing
                parameter, or a pipeline that calls no step.
        """
        signature = inspect.signature(self.func)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        for name in parameters:
            if name not in signature.parameters and not takes_any:
                raise UnknownNameError(
                    "parameter", name, signature.parameters,
                    fix=f"check the name against the pipeline's signature {self.name}{signature}")
        try:
            bound = signature.bind(**parameters)
        except TypeError as exc:
            raise ConfigError(f"{self.name}()", sorted(parameters), str(exc),
                              f"call it as {self.name}{signature}") from None
        bound.apply_defaults()
        arguments = convert_all(self.name, self.func, bound.arguments)
        graph = PipelineGraph(self.name, dict(arguments), enable_cache=self.enable_cache,
                              source=self.source)
        token = _BUILDER.set(_GraphBuilder(graph))
        try:
            self.func(**arguments)
        finally:
            _BUILDER.reset(token)
        if not graph.invocations:
            raise ConfigError(self.name, None, "the pipeline calls no step",
                              "call at least one @step function inside it")
        _validate_names(graph)
        order = graphlib.TopologicalSorter(
            {name: inv.upstream for name, inv in graph.invocations.items()}).static_order()
        graph.invocations = {name: graph.invocations[name] for name in order}
        return graph

    def run(self, *, run_name: str | None = None, enable_cache: bool | None = None,
            stack=None, quiet: bool = False, convention: str | None = None, **parameters: Any):
        """Run the pipeline with the stack's orchestrator (default stack: the active one).

        The orchestrator is the stack's orchestrator flavor (`local`, or a
        plugin's such as `kubeflow`) built with the stack's orchestrator options.

        Args:
            run_name: the run's name (default: `<pipeline>-<UTC timestamp>`).
            enable_cache: override the pipeline's cache setting for this run.
            stack: a `zen_mlmd.stack.Stack` (default: the active stack).
            quiet: print nothing.
            convention: the MLMD convention to record in ("native", "kfp"),
                overriding the orchestrator's `convention` option for this run;
                only for flavors that have that option (`local`, `kubeflow`).
            **parameters: the pipeline function's parameters.

        Returns:
            The recorded run as the post-execution API reads it
            (`zen_mlmd.post_execution.Run`: `name`, `status`, `steps`, ...),
            whatever the orchestrator: `local` and `kubeflow` with `local=true`
            alike. A `kubeflow` orchestrator that submits to a cluster returns
            a `SubmittedRun` (`name`, `status` "submitted", no steps yet).

        Raises:
            ConfigError: a parameter value that is not of its annotated type
                (nothing is recorded).
            StepFailedError: a step raised; the run is recorded as failed.
            UnknownNameError: the stack's orchestrator flavor is not installed.
            ConfigError: the orchestrator's options are invalid (nothing runs).
        """
        from zen_mlmd.pipelines.orchestrators import get_orchestrator_flavor

        graph = self.build(**parameters)
        if enable_cache is not None:
            graph.enable_cache = enable_cache
        if stack is None:
            from zen_mlmd.stack import get_active_stack

            stack = get_active_stack()
        # A stack-like object (name, describe(), metadata_store, artifact_store)
        # without an orchestrator, or one without options, gets local's defaults.
        component = getattr(stack, "orchestrator", None)
        options = dict(getattr(component, "options", None) or {})
        if convention is not None:
            options["convention"] = convention
        flavor = get_orchestrator_flavor(getattr(component, "flavor", None) or "local")
        return flavor.implementation(stack, options, quiet).run(graph, run_name=run_name)

    def __call__(self, **parameters: Any):
        return self.run(**parameters)

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"


def pipeline(func: Callable | None = None, *, name: str | None = None, enable_cache: bool = True):
    """Make a function a pipeline (see the module docstring).

    Args:
        name: the pipeline name (default: the function name).
        enable_cache: let steps reuse outputs of identical earlier executions.
    """
    def wrap(f: Callable) -> Pipeline:
        return Pipeline(f, name=name, enable_cache=enable_cache)

    return wrap(func) if func is not None else wrap


def _validate_names(graph: PipelineGraph) -> None:
    """Names become parts of MLMD names and paths: refuse bad ones before anything runs."""
    from zen_mlmd.tracking.recorder import validate_name

    validate_name("pipeline", graph.name)
    for name, invocation in graph.invocations.items():
        validate_name("step", name)
        for input_name in invocation.inputs:
            validate_name("input", input_name)
        for output in invocation.step.outputs:
            validate_name("output", output.name)
