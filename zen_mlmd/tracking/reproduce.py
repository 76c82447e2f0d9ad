"""Run a recorded run again: same pipeline, same parameters, current stack.

Every run records its pipeline's source (`module:qualname@file`), its
parameters, each step's code fingerprint, the stack it ran on and the
versions of Python, zen_mlmd and ml-metadata. `rerun` names the file it will
import, refuses one outside the current project unless the user passes it
explicitly (a record is only as trustworthy as everyone who can write the
metadata store, and importing a file runs it), loads the pipeline, warns
about every step whose code changed since, and runs it with the recorded
parameters.
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


@dataclass(frozen=True)
class PipelineLocation:
    """Where a pipeline will be imported from, found without running any of its code.

    Attributes:
        module: the module name to import, or "" to load `path` as a file.
        qualname: the pipeline's name inside the module.
        path: the file that will be executed by the import ("" if unknown:
            a module that is not a plain source file).
    """

    module: str
    qualname: str
    path: str


def locate_pipeline(source: str) -> PipelineLocation:
    """Where the recorded `module:qualname@file` source would be imported from.

    The module's file is found by name the way `import` finds it (or the one
    already imported in this process), but nothing is imported: a parent
    package's ``__init__`` does not run. A module that is not found by name
    is loaded from the recorded file.

    Raises:
        ConfigError: the source is malformed, or neither the module nor the
            file can be found.
    """
    target, _, path = source.partition("@")
    module_name, _, qualname = target.partition(":")
    if not module_name or not qualname:
        raise ConfigError("source", source, "not a recorded pipeline source",
                          "expected module:qualname@file")
    if module_name != "__main__":
        found = _module_file(module_name)
        if found is not None:
            return PipelineLocation(module_name, qualname, found)
    if not path or not os.path.exists(path):
        raise ConfigError("source", source, "the pipeline's module cannot be imported and its file is gone",
                          "run from the project directory, or restore the file")
    return PipelineLocation("", qualname, os.path.abspath(path))


def check_in_project(location: PipelineLocation, source: str, project: str | None = None) -> None:
    """Refuse a file outside `project` (the current directory by default).

    A recorded source names a file: whoever could write to the metadata store
    chose it, and importing it runs it. Inside the project the user works in,
    it is their own code.

    Raises:
        ConfigError: naming the file, the project and the explicit way to run it.
    """
    project = os.path.realpath(project or os.getcwd())
    real = os.path.realpath(location.path) if location.path else ""
    if real and (real == project or real.startswith(project.rstrip(os.sep) + os.sep)):
        return
    where = location.path or f"module {location.module!r} (no source file)"
    raise ConfigError(
        "source", source,
        f"the pipeline would be imported from {where}, outside the current project ({project}); "
        "the path comes from the run's record, and importing a file runs its code",
        f"read that file first; to run it anyway pass it explicitly: "
        f"`zen-mlmd run rerun RUN --source {location.path or location.module}:{location.qualname}`, "
        "or rerun from the directory of the project it belongs to",
    )


def load_pipeline(source: str, *, allow_outside_project: bool = False):
    """Import the pipeline object named by a recorded `module:qualname@file` source.

    The module is imported by name when it can be (run from the project
    directory); otherwise it is loaded from the recorded file. Either way the
    file must lie in the current project unless `allow_outside_project`.
    A script's top-level code runs when it is loaded, so keep pipelines in
    modules or guard scripts with `if __name__ == "__main__":`.

    Raises:
        ConfigError: malformed source, nothing to import, a file outside the
            project, or no @pipeline under that name.
    """
    location = locate_pipeline(source)
    if not allow_outside_project:
        check_in_project(location, source)
    return import_located(location, source)


def import_located(location: PipelineLocation, source: str):
    """Import the pipeline at `location` (this runs the module's code)."""
    if location.module:
        module = importlib.import_module(location.module)
    else:
        module = _module_from_file(location.path)
    return _attribute(module, location.qualname, source)


def _module_file(module_name: str) -> str | None:
    """The source file `import module_name` would run, found without importing; None if not found."""
    from importlib.machinery import PathFinder

    loaded = sys.modules.get(module_name)
    if loaded is not None:
        file = getattr(loaded, "__file__", None)
        return os.path.abspath(file) if file else None
    search_path = None
    spec = None
    for part in module_name.split("."):
        if not part.isidentifier():
            return None
        spec = PathFinder.find_spec(part, search_path)
        if spec is None:
            return None
        search_path = spec.submodule_search_locations
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return None
    return os.path.abspath(spec.origin)


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


def plan_rerun(store, run_name: str, *, source: str | None = None,
               say=None) -> RerunPlan:
    """Read a run and prepare to run it again (no step runs here; the pipeline is imported).

    Args:
        store: the open metadata store the run is recorded in.
        run_name: the run to repeat.
        source: where to import the pipeline from instead of the recorded
            source: ``path/to/file.py:name`` or ``package.module:name``. Given
            explicitly, it may lie outside the current project.
        say: called with a line naming the file that will be imported, before
            it is imported.

    Raises:
        UnknownNameError: no such run.
        ConfigError: the recorded source lies outside the current project (and
            no `source` was given), or cannot be imported.
    """
    reader = StoreReader(store)
    run = reader.get_run(run_name)
    if run is None:
        raise UnknownNameError("run", run_name, [r.name for r, _ in zip(reader.iter_runs(), range(100))])
    config = dict(run.config)
    recorded = config.get("source") or ""
    if source is not None:
        if say is not None:
            say(f"Importing the pipeline from {source} (given explicitly; recorded: {recorded or '-'})")
        pipeline = load_pipeline_source(source)
    else:
        location = locate_pipeline(recorded)
        if say is not None:
            say(f"Importing pipeline {location.qualname!r} from "
                f"{location.path or location.module} (recorded source: {recorded})")
        check_in_project(location, recorded)
        pipeline = import_located(location, recorded)
    data = reader.read_run(run)
    fingerprints = {s.name: s.code_fingerprint for s in data.steps if s.code_fingerprint}
    graph = pipeline.build(**dict(config.get("parameters") or {}))
    changed = tuple(
        name for name, inv in graph.invocations.items()
        if name in fingerprints and code_fingerprint(inv.step.func) != fingerprints[name]
    )
    return RerunPlan(pipeline, dict(config.get("parameters") or {}), changed,
                     dict(config.get("versions") or {}), source or recorded)


def rerun(run_name: str, *, store=None, stack=None, run_name_new: str | None = None,
          enable_cache: bool | None = None, quiet: bool = False, source: str | None = None):
    """Run a recorded run again with its parameters on the current (or given) stack.

    The file the pipeline is imported from is named on stderr (unless
    `quiet`) before it is imported; a recorded one outside the current
    project is refused unless `source` names it explicitly (see `plan_rerun`).
    Warns (`UserWarning`) for every step whose code fingerprint differs from
    the recorded one.
    """
    if stack is None:
        from zen_mlmd.stack import get_active_stack

        stack = get_active_stack()
    say = None if quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    if store is not None:
        plan = plan_rerun(store, run_name, source=source, say=say)
    else:
        with stack.metadata_store.open(read_only=True) as opened:  # the run opens its own
            plan = plan_rerun(opened, run_name, source=source, say=say)
    for name in plan.changed_steps:
        warnings.warn(f"step {name!r} changed since run {run_name!r}: its code fingerprint differs",
                      stacklevel=2)
    return plan.pipeline.run(run_name=run_name_new, enable_cache=enable_cache, stack=stack,
                             quiet=quiet, **plan.parameters)
