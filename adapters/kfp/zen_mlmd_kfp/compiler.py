"""A zen_mlmd pipeline graph -> a Kubeflow Pipelines v2 pipeline (and its YAML package).

Every step invocation becomes one KFP task of its own lightweight Python
component. The component's function is generated: its KFP inputs are the
step's input artifacts (typed by the producing output's kind) and the
`zen_mlmd` outputs of the tasks that produced them (where their contents
are and how to read them), its KFP outputs the step's outputs and its own
`zen_mlmd` output, and its body hands everything to
`zen_mlmd_kfp.task_entrypoint.run_task`, which runs the step through the
step runner the local orchestrator uses. Step parameters travel in the task
spec (JSON), so the compiled pipeline is a snapshot of one
`pipeline.build(**parameters)`.

Compiled for a cluster, the steps run inside a KFP exit handler whose exit
task, the run's end task (`end_run`), runs once they have all ended, even
after a failure; every task's pod gets what `pod_settings` says (image,
pinned packages, environment, Kubernetes Secret references).

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
from dataclasses import dataclass, field
from typing import Any, Mapping

from zen_mlmd.errors import ConfigError
from zen_mlmd.pipelines.pipeline import Invocation, PipelineGraph

from zen_mlmd_kfp.artifact_types import kfp_class_for_kind
from zen_mlmd_kfp.dag_paths import RUN_GROUP
from zen_mlmd_kfp.flavor import DEFAULT_IMAGE
from zen_mlmd_kfp.names import k8s_name
from zen_mlmd_kfp.pod_settings import PodSettings
from zen_mlmd_kfp.step_facts import FACTS_PARAMETER
from zen_mlmd_kfp.task_spec import EndRunSpec, TaskSpec, store_spec

#: The run's end task (a cluster run): its function, hence its KFP task key `zen-mlmd-end-run`.
END_RUN_FUNCTION = "zen_mlmd_end_run"

RUN_NAME_PARAMETER = "zen_mlmd_run_name"
TASK_PARAMETER = "zen_mlmd_task"
JOB_PARAMETER = "zen_mlmd_kfp_job"
RUN_ID_PARAMETER = "zen_mlmd_kfp_run_id"
#: Each task's output: the step's facts and where its outputs are (`step_facts`).
FACTS_OUTPUT = FACTS_PARAMETER
#: Prefix of the task parameters that carry an upstream task's `zen_mlmd` output.
UPSTREAM_PREFIX = "zen_mlmd_from_"
_RESERVED = {RUN_NAME_PARAMETER, TASK_PARAMETER, JOB_PARAMETER, RUN_ID_PARAMETER, FACTS_OUTPUT}
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


@dataclass(frozen=True)
class CompileOptions:
    """How a pipeline is compiled (see `build_pipeline`).

    Attributes:
        convention: the MLMD convention the tasks record in ("native" or "kfp").
        pods: what each task's pod gets (`pod_settings`).
        run_config: the configuration snapshot recorded with each run.
        cluster: compile for a KFP cluster: the steps run in a group whose
            end task ends the run (whatever happened to them), and KFP's
            launcher records each output where its contents are when they
            lie under `pipeline_root`.
        store_options: the metadata store's options as the pods get them.
    """

    convention: str = "native"
    pods: PodSettings = field(default_factory=lambda: PodSettings(DEFAULT_IMAGE, install_kfp_package=False))
    run_config: Mapping[str, Any] = field(default_factory=dict)
    cluster: bool = False
    pipeline_root: str = ""
    store_options: Mapping[str, Any] | None = None
    heartbeat_sec: float | None = None
    stale_after_sec: float | None = None


def build_pipeline(graph: PipelineGraph, stack, options: CompileOptions | None = None):
    """The KFP pipeline (a `kfp.dsl` graph component) of a traced zen_mlmd pipeline.

    Args:
        graph: `Pipeline.build(**parameters)`.
        stack: the stack whose stores the tasks record into.
        options: how to compile (default: for kfp.local, native convention).
    """
    from kfp import dsl

    options = options or CompileOptions()
    stores = store_spec(stack, options.store_options)
    step_names = tuple(graph.invocations)
    specs, components = {}, {}
    for inv in graph.invocations.values():
        spec, component = _component(inv, graph, stores, options, step_names)
        specs[inv.name], components[inv.name] = spec, component
    end_run = _end_run_component(graph, stores, options, step_names) if options.cluster else None

    def add_steps(run_name):
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
            for producer, parameter in spec.upstream_parameters.items():
                arguments[parameter] = tasks[producer].outputs[FACTS_OUTPUT]
            task = components[inv.name](**arguments)
            task.set_caching_options(False)
            options.pods.apply(task)
            tasks[inv.name] = task

    def body(run_name):
        if end_run is None:
            add_steps(run_name)
            return
        # The end task runs once the group has ended, whatever happened in it (KFP's exit handler).
        finish = end_run(**{TASK_PARAMETER: end_run.spec_json, RUN_NAME_PARAMETER: run_name,
                            JOB_PARAMETER: dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                            RUN_ID_PARAMETER: dsl.PIPELINE_JOB_ID_PLACEHOLDER})
        finish.set_caching_options(False)
        options.pods.apply(finish)
        with dsl.ExitHandler(finish, name=RUN_GROUP):
            add_steps(run_name)

    # KFP reads the pipeline's parameters from the function's signature: one,
    # the zen_mlmd run name ("" = named after the KFP job).
    body.__signature__ = inspect.Signature([inspect.Parameter(
        RUN_NAME_PARAMETER, inspect.Parameter.POSITIONAL_OR_KEYWORD, default="", annotation=str)])
    body.__name__ = kfp_name(graph.name)
    description = f"zen_mlmd pipeline {graph.name}; {options.pods.summary()}"
    return dsl.pipeline(name=kfp_pipeline_name(graph.name), description=description)(body)


def compile_pipeline(graph: PipelineGraph, stack, package_path: str,
                     options: CompileOptions | None = None) -> str:
    """Compile `graph` into a KFP v2 pipeline package (YAML) at `package_path`; returns the path."""
    from kfp import compiler

    compiler.Compiler().compile(build_pipeline(graph, stack, options), package_path)
    return package_path


def _component(inv: Invocation, graph: PipelineGraph, stores, options: CompileOptions,
               step_names: tuple[str, ...]):
    from kfp import dsl

    outputs = {spec.name: kfp_name(spec.name) for spec in inv.step.outputs}
    taken = set(outputs.values()) | _RESERVED
    kfp_inputs: dict[str, tuple[str, int]] = {}
    sources: dict[str, tuple[str, str]] = {}
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
        sources[kfp_input] = (ref.invocation, ref.output)
        producer = graph.invocations[ref.invocation].step
        kind = next(o.kind for o in producer.outputs if o.name == ref.output)
        input_classes[kfp_input] = kfp_class_for_kind(kind)
    if len(set(outputs.values())) != len(outputs):
        raise ConfigError(f"{inv.name}.outputs", sorted(outputs), "two outputs map to one KFP name",
                          "give the outputs names that differ in more than punctuation")
    upstream = {producer: UPSTREAM_PREFIX + kfp_name(producer)
                for producer in dict.fromkeys(source for source, _ in sources.values())}
    spec = TaskSpec(
        pipeline_name=graph.name, step_name=inv.name, step_ref=step_ref(inv),
        parameters=dict(inv.parameters), kfp_inputs=kfp_inputs, list_inputs=list_inputs,
        kfp_outputs=outputs, enable_cache=graph.enable_cache and inv.step.enable_cache is not False,
        convention=options.convention, stores=stores, step_names=step_names, image=options.pods.image,
        run_config=dict(options.run_config), pipeline_source=graph.source, input_sources=sources,
        upstream_parameters=upstream, pipeline_root=options.pipeline_root if options.cluster else "",
        end_run_task=options.cluster, heartbeat_sec=options.heartbeat_sec,
        stale_after_sec=options.stale_after_sec,
    )
    output_classes = {outputs[o.name]: kfp_class_for_kind(o.kind) for o in inv.step.outputs}
    func = _task_function(kfp_name(inv.name), input_classes, output_classes, list(upstream.values()),
                          graph.name)
    return spec, dsl.component(func, **options.pods.component_options())


def _end_run_component(graph: PipelineGraph, stores, options: CompileOptions, step_names: tuple[str, ...]):
    from kfp import dsl

    spec = EndRunSpec(pipeline_name=graph.name, convention=options.convention, stores=stores,
                      step_names=step_names,
                      step_types={inv.name: inv.step.type_name for inv in graph.invocations.values()},
                      run_config=dict(options.run_config),
                      pipeline_source=graph.source, heartbeat_sec=options.heartbeat_sec,
                      stale_after_sec=options.stale_after_sec)
    params = ", ".join(f"{p}: str" for p in (TASK_PARAMETER, RUN_NAME_PARAMETER, JOB_PARAMETER, RUN_ID_PARAMETER))
    source = textwrap.dedent(f'''\
        def {END_RUN_FUNCTION}({params}):
            from zen_mlmd_kfp.end_run import end_run
            end_run({TASK_PARAMETER}, {RUN_NAME_PARAMETER}, {JOB_PARAMETER}, {RUN_ID_PARAMETER})
        ''')
    component = dsl.component(_compiled(source, END_RUN_FUNCTION, graph.name, {}), **options.pods.component_options())
    component.spec_json = spec.to_json()
    return component


def _task_function(name: str, inputs: Mapping[str, type], outputs: Mapping[str, type],
                   upstream: list[str], pipeline: str):
    """The component function: generated source, registered so `inspect.getsource` finds it.

    KFP embeds the function's source in the component; the task's process
    runs that source with kfp's executor, which calls `run_task`. Its one
    output parameter, `zen_mlmd`, is what the step published.
    """
    from kfp import dsl

    params = [f"{p}: str" for p in (TASK_PARAMETER, RUN_NAME_PARAMETER, JOB_PARAMETER, RUN_ID_PARAMETER)]
    params += [f"{p}: dict" for p in upstream]
    params += [f"{n}: Input[{cls.__name__}]" for n, cls in inputs.items()]
    params += [f"{n}: Output[{cls.__name__}]" for n, cls in outputs.items()]
    source = textwrap.dedent(f'''\
        def {name}({", ".join(params)}) -> NamedTuple("Outputs", [("{FACTS_OUTPUT}", dict)]):
            from zen_mlmd_kfp.task_entrypoint import run_task
            return run_task({TASK_PARAMETER}, {RUN_NAME_PARAMETER}, {JOB_PARAMETER},
                            inputs={{{", ".join(f"{n!r}: {n}" for n in inputs)}}},
                            outputs={{{", ".join(f"{n!r}: {n}" for n in outputs)}}},
                            kfp_run_id={RUN_ID_PARAMETER},
                            upstream={{{", ".join(f"{p!r}: {p}" for p in upstream)}}})
        ''')
    classes = {cls.__name__: cls for cls in (*inputs.values(), *outputs.values())}
    return _compiled(source, name, pipeline, {"Input": dsl.Input, "Output": dsl.Output, **classes})


def _compiled(source: str, name: str, pipeline: str, namespace: dict):
    from typing import NamedTuple

    filename = f"<zen_mlmd_kfp {pipeline}.{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"NamedTuple": NamedTuple, **namespace}
    # dont_inherit: this module's `from __future__ import annotations` would turn
    # the annotations into strings, which kfp cannot read.
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)  # noqa: S102
    return namespace[name]
