"""A zen_mlmd pipeline graph -> a Kubeflow Pipelines v2 pipeline (and its YAML package).

Every step invocation becomes one KFP task of its own lightweight Python
component. The component's function is generated: its KFP inputs are the
step's input artifacts (typed by the producing output's kind), its KFP
outputs the step's outputs, and its body hands everything to
`zen_mlmd_kfp.task_entrypoint.run_task`, which runs the step through the
zen_mlmd recorder. Step parameters travel in the task spec (JSON), so the
compiled pipeline is a snapshot of one `pipeline.build(**parameters)`.

Lightweight components (rather than container components calling
`python -m ...` directly) are what `kfp.local.SubprocessRunner` can run, so
the very same package runs on a cluster and locally. KFP's own cache is off
for every task: zen_mlmd's cache decides, and a task KFP skipped would leave
no record in zen_mlmd's store.
"""
from __future__ import annotations

import inspect
import keyword
import linecache
import re
import textwrap
from typing import Any, Mapping

from zen_mlmd.errors import ConfigError
from zen_mlmd.pipelines.pipeline import Invocation, PipelineGraph

from zen_mlmd_kfp.artifact_types import kfp_class_for_kind
from zen_mlmd_kfp.flavor import DEFAULT_IMAGE
from zen_mlmd_kfp.names import k8s_name
from zen_mlmd_kfp.task_spec import TaskSpec, store_spec

RUN_NAME_PARAMETER = "zen_mlmd_run_name"
TASK_PARAMETER = "zen_mlmd_task"
JOB_PARAMETER = "zen_mlmd_kfp_job"
RUN_ID_PARAMETER = "zen_mlmd_kfp_run_id"
_RESERVED = {RUN_NAME_PARAMETER, TASK_PARAMETER, JOB_PARAMETER, RUN_ID_PARAMETER}
_NOT_IDENTIFIER = re.compile(r"[^0-9A-Za-z_]")


def kfp_name(name: str) -> str:
    """A step, input or output name as a Python identifier KFP accepts."""
    ident = _NOT_IDENTIFIER.sub("_", name)
    if not ident or ident[0].isdigit() or keyword.iskeyword(ident):
        ident = "_" + ident
    return ident


def kfp_pipeline_name(name: str) -> str:
    """The pipeline's name as KFP's compiler makes it (`pipelineInfo.name`, lower case with dashes)."""
    return k8s_name(name) or "pipeline"


def step_ref(invocation: Invocation) -> str:
    """``module:attribute`` under which a task imports the step.

    Raises:
        ConfigError: the step is defined in `__main__` or inside a function,
            where a task process cannot import it.
    """
    func = invocation.step.func
    module, qualname = func.__module__, func.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        raise ConfigError(
            f"{invocation.name}.step", f"{module}.{qualname}",
            "a KFP task imports its step, and this one cannot be imported",
            "define the step at the top level of an importable module (not __main__)",
        )
    return f"{module}:{qualname}"


def build_pipeline(graph: PipelineGraph, stack, *, convention: str = "native",
                   image: str = DEFAULT_IMAGE, run_config: Mapping[str, Any] | None = None):
    """The KFP pipeline (a `kfp.dsl` graph component) of a traced zen_mlmd pipeline.

    Args:
        graph: `Pipeline.build(**parameters)`.
        stack: the stack whose stores the tasks record into.
        convention: the MLMD convention the tasks record in ("native" or "kfp").
        image: the image of every task; on a cluster it must hold zen_mlmd,
            zen_mlmd_kfp, kfp and the user's code.
        run_config: the configuration snapshot recorded with each run.
    """
    from kfp import dsl

    stores = store_spec(stack)
    step_names = tuple(graph.invocations)
    specs, components = {}, {}
    for inv in graph.invocations.values():
        spec, component = _component(inv, graph, stores, convention, image, run_config or {}, step_names)
        specs[inv.name], components[inv.name] = spec, component

    def body(run_name):
        tasks = {}
        for inv in graph.invocations.values():
            spec = specs[inv.name]
            arguments = {TASK_PARAMETER: spec.to_json(), RUN_NAME_PARAMETER: run_name,
                         JOB_PARAMETER: dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                         RUN_ID_PARAMETER: dsl.PIPELINE_JOB_ID_PLACEHOLDER}
            refs = {(name, index): ref for name, index, ref in inv.input_refs()}
            for kfp_input, (name, index) in spec.kfp_inputs.items():
                ref = refs[(name, index)]
                producer = specs[ref.invocation]
                arguments[kfp_input] = tasks[ref.invocation].outputs[producer.kfp_outputs[ref.output]]
            task = components[inv.name](**arguments)
            task.set_display_name(inv.name)
            task.set_caching_options(False)
            tasks[inv.name] = task

    # KFP reads the pipeline's parameters from the function's signature: one,
    # the zen_mlmd run name ("" = named after the KFP job).
    body.__signature__ = inspect.Signature([inspect.Parameter(
        RUN_NAME_PARAMETER, inspect.Parameter.POSITIONAL_OR_KEYWORD, default="", annotation=str)])
    body.__name__ = kfp_name(graph.name)
    return dsl.pipeline(name=kfp_pipeline_name(graph.name),
                        description=f"zen_mlmd pipeline {graph.name}")(body)


def compile_pipeline(graph: PipelineGraph, stack, package_path: str, **options: Any) -> str:
    """Compile `graph` into a KFP v2 pipeline package (YAML) at `package_path`.

    Args:
        options: `build_pipeline` keyword arguments.

    Returns:
        `package_path`.
    """
    from kfp import compiler

    compiler.Compiler().compile(build_pipeline(graph, stack, **options), package_path)
    return package_path


def _component(inv: Invocation, graph: PipelineGraph, stores, convention: str, image: str,
               run_config: Mapping[str, Any], step_names: tuple[str, ...]):
    from kfp import dsl

    outputs = {spec.name: kfp_name(spec.name) for spec in inv.step.outputs}
    taken = set(outputs.values()) | _RESERVED
    kfp_inputs: dict[str, tuple[str, int]] = {}
    input_classes: dict[str, type] = {}
    list_inputs = tuple(name for name, value in inv.inputs.items() if isinstance(value, tuple))
    for name, index, ref in inv.input_refs():
        base = kfp_name(name) + (f"__{index}" if name in list_inputs else "")
        kfp_input = base if base not in taken else f"input_{base}"
        if kfp_input in taken:
            raise ConfigError(f"{inv.name}.{name}", name, "clashes with another input or output name in KFP",
                              "rename the input or the output")
        taken.add(kfp_input)
        kfp_inputs[kfp_input] = (name, index)
        producer = graph.invocations[ref.invocation].step
        kind = next(o.kind for o in producer.outputs if o.name == ref.output)
        input_classes[kfp_input] = kfp_class_for_kind(kind)
    if len(set(outputs.values())) != len(outputs):
        raise ConfigError(f"{inv.name}.outputs", sorted(outputs), "two outputs map to one KFP name",
                          "give the outputs names that differ in more than punctuation")
    spec = TaskSpec(
        pipeline_name=graph.name, step_name=inv.name, step_ref=step_ref(inv),
        parameters=dict(inv.parameters), kfp_inputs=kfp_inputs, list_inputs=list_inputs,
        kfp_outputs=outputs, enable_cache=graph.enable_cache and inv.step.enable_cache is not False,
        convention=convention, stores=stores, step_names=step_names, image=image,
        run_config=dict(run_config), pipeline_source=graph.source,
    )
    output_classes = {outputs[o.name]: kfp_class_for_kind(o.kind) for o in inv.step.outputs}
    func = _task_function(kfp_name(inv.name), input_classes, output_classes, graph.name)
    return spec, dsl.component(func, base_image=image, install_kfp_package=False)


def _task_function(name: str, inputs: Mapping[str, type], outputs: Mapping[str, type], pipeline: str):
    """The component function: generated source, registered so `inspect.getsource` finds it.

    KFP embeds the function's source in the component; the task's process
    runs that source with kfp's executor, which calls `run_task`.
    """
    from kfp import dsl

    params = [f"{p}: str" for p in (TASK_PARAMETER, RUN_NAME_PARAMETER, JOB_PARAMETER, RUN_ID_PARAMETER)]
    params += [f"{n}: Input[{cls.__name__}]" for n, cls in inputs.items()]
    params += [f"{n}: Output[{cls.__name__}]" for n, cls in outputs.items()]
    source = textwrap.dedent(f'''\
        def {name}({", ".join(params)}):
            from zen_mlmd_kfp.task_entrypoint import run_task
            run_task({TASK_PARAMETER}, {RUN_NAME_PARAMETER}, {JOB_PARAMETER},
                     inputs={{{", ".join(f"{n!r}: {n}" for n in inputs)}}},
                     outputs={{{", ".join(f"{n!r}: {n}" for n in outputs)}}},
                     kfp_run_id={RUN_ID_PARAMETER})
        ''')
    filename = f"<zen_mlmd_kfp {pipeline}.{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"Input": dsl.Input, "Output": dsl.Output,
                 **{cls.__name__: cls for cls in (*inputs.values(), *outputs.values())}}
    # dont_inherit: this module's `from __future__ import annotations` would turn
    # the annotations into strings, which kfp cannot read.
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)  # noqa: S102
    return namespace[name]
