"""Run a recorded run again: same pipeline, same parameters, current stack.

Every run records its pipeline's source (`module:qualname@file`), its
parameters, each step's code fingerprint, the stack it ran on and the
versions of Python, zen_mlmd and ml-metadata. `rerun` loads the pipeline
from its source, warns about every step whose code changed since, and runs
it with the recorded parameters.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass

from zen_mlmd.errors import ConfigError, UnknownNameError
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.tracking.fingerprint import code_fingerprint


@dataclass(frozen=True)
class RerunPlan:
    """What a rerun will do: the pipeline, its parameters, and what changed."""

    pipeline: object
    parameters: dict
    changed_steps: tuple[str, ...]
    recorded_versions: dict
    source: str


def load_pipeline(source: str):
    """Import the pipeline object named by a recorded `module:qualname@file` source.

    The module is imported by name when it can be (run from the project
    directory); otherwise it is loaded from the recorded file. A script's
    top-level code runs when it is loaded, so keep pipelines in modules or
    guard scripts with `if __name__ == "__main__":`.
    """
    target, _, path = source.partition("@")
    module_name, _, qualname = target.partition(":")
    if not module_name or not qualname:
        raise ConfigError("source", source, "not a recorded pipeline source",
                          "expected module:qualname@file")
    module = None
    if module_name != "__main__":
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
    if module is None:
        if not path or not os.path.exists(path):
            raise ConfigError("source", source, "the pipeline's module cannot be imported and its file is gone",
                              "run from the project directory, or restore the file")
        module = _module_from_file(path)
    return _attribute(module, qualname, source)


def load_pipeline_source(source: str):
    """The pipeline named by `path/to/file.py:name` or `package.module:name`."""
    location, sep, qualname = source.rpartition(":")
    if not sep or not location or not qualname:
        raise ConfigError("source", source, "expected FILE_OR_MODULE:PIPELINE",
                          "e.g. examples/quickstart/pipeline.py:iris_training")
    if location.endswith(".py") or os.sep in location:
        if not os.path.exists(location):
            raise ConfigError("source", source, f"no file {location!r}", "check the path")
        module = _module_from_file(os.path.abspath(location))
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as exc:
            raise ConfigError("source", source, f"cannot import {location!r}: {exc}",
                              "run from the project directory or install the package") from None
    return _attribute(module, qualname, source)


def _module_from_file(path: str):
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:  # so that the file's own local imports work
        sys.path.insert(0, directory)
    name = os.path.splitext(os.path.basename(path))[0]
    existing = sys.modules.get(name)
    if existing is not None and os.path.abspath(getattr(existing, "__file__", "") or "") == os.path.abspath(path):
        return existing
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _attribute(module, qualname: str, source: str):
    from zen_mlmd.pipelines.pipeline import Pipeline

    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ConfigError("source", source, f"{qualname!r} is not defined in {module.__name__}",
                              "check the name, or restore the pipeline definition")
    if not isinstance(obj, Pipeline):
        raise ConfigError("source", source, f"{qualname!r} is a {type(obj).__name__}, not a @pipeline",
                          "name a function decorated with @pipeline")
    return obj


def plan_rerun(store, run_name: str) -> RerunPlan:
    """Read a run and prepare to run it again (no step runs here)."""
    reader = StoreReader(store)
    run = reader.get_run(run_name)
    if run is None:
        raise UnknownNameError("run", run_name, [r.name for r, _ in zip(reader.iter_runs(), range(100))])
    config = dict(run.config)
    source = config.get("source") or ""
    pipeline = load_pipeline(source)
    data = reader.read_run(run)
    recorded = {s.name: s.code_fingerprint for s in data.steps if s.code_fingerprint}
    graph = pipeline.build(**dict(config.get("parameters") or {}))
    changed = tuple(
        name for name, inv in graph.invocations.items()
        if name in recorded and code_fingerprint(inv.step.func) != recorded[name]
    )
    return RerunPlan(pipeline, dict(config.get("parameters") or {}), changed,
                     dict(config.get("versions") or {}), source)


def rerun(run_name: str, *, store=None, stack=None, run_name_new: str | None = None,
          enable_cache: bool | None = None, quiet: bool = False):
    """Run a recorded run again with its parameters on the current (or given) stack.

    Warns (`UserWarning`) for every step whose code fingerprint differs from
    the recorded one.
    """
    if stack is None:
        from zen_mlmd.stack import get_active_stack

        stack = get_active_stack()
    plan = plan_rerun(store or stack.metadata_store.open(), run_name)
    for name in plan.changed_steps:
        warnings.warn(f"step {name!r} changed since run {run_name!r}: its code fingerprint differs",
                      stacklevel=2)
    return plan.pipeline.run(run_name=run_name_new, enable_cache=enable_cache, stack=stack,
                             quiet=quiet, **plan.parameters)
