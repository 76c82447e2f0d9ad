"""The Kubeflow orchestrator: compile a zen_mlmd pipeline for KFP, run it there or locally.

    orchestrator = KubeflowOrchestrator(stack, KubeflowOrchestratorConfig(local=True))
    run = orchestrator.run(iris_training.build(C=0.5))
    print(run.name, run.status, [s.status for s in run.steps])

On a cluster the launcher checks the stack (`cluster_checks`), compiles the
package with what every pod needs (`pod_settings`) and submits it
(`submit`); KFP's driver creates the run, each task adds zen_mlmd's facts
to KFP's own record of it (`joined`), the run's end task ends it
(`end_run`), and `run` returns a `SubmittedRun`. Locally (`kfp.local`, one subprocess per task) the
launcher starts the run itself, so the run's owner is a live process while
it runs; afterwards it records every step kfp.local did not reach as
CANCELED and returns the recorded run, the same view the local orchestrator
returns (`zen_mlmd.post_execution.Run`).

Each task process imports the pipeline's module by name: it must be
importable there (run from the directory that contains it, or put that
directory on PYTHONPATH; never `__main__`). A local run checks this first.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Mapping

from zen_mlmd.errors import ConfigError, RunFailedError, StepFailedError
from zen_mlmd.pipelines.orchestrator import read_recorded_run, versions
from zen_mlmd.pipelines.pipeline import PipelineGraph
from zen_mlmd.tracking.recorder import default_run_name, validate_name

from zen_mlmd_kfp.compiler import (
    RUN_NAME_PARAMETER, CompileOptions, compile_pipeline, kfp_pipeline_name, step_ref,
)
from zen_mlmd_kfp.flavor import KubeflowOrchestratorConfig
from zen_mlmd_kfp.pod_settings import local_settings

#: Schemes KFP accepts for a pipeline root (`backend/src/v2/objectstore/config.go`).
KFP_ROOT_SCHEMES = ("gs", "s3", "minio")

#: How long the check that task processes can import the pipeline may take.
IMPORT_CHECK_TIMEOUT = 120.0


@dataclass(frozen=True)
class SubmittedRun:
    """A run submitted to a Kubeflow Pipelines endpoint, before any task has run.

    Its tasks record it in the stack's metadata store as they run; read it
    then with `zen_mlmd.get_run(name)` (or `zen-mlmd run describe NAME`).

    Attributes:
        name: the zen_mlmd run name (also the KFP run's display name).
        status: always "submitted".
        steps: none yet (an empty `StepList`).
        kfp_run_id: the id KFP gave the run.
        host: the KFP endpoint.
    """

    name: str
    kfp_run_id: str
    host: str = ""
    status: str = "submitted"

    @property
    def steps(self):
        from zen_mlmd.post_execution.views import StepList

        return StepList(())

    def __str__(self) -> str:
        return f"KFP run {self.kfp_run_id} on {self.host}" if self.host else f"KFP run {self.kfp_run_id}"


@dataclass(frozen=True)
class SubmissionRequest:
    """Everything sent to a KFP endpoint to start one run.

    `client_arguments` go to `kfp.Client(...)`, `run_arguments` to
    `Client.create_run_from_pipeline_package(...)`.
    """

    package_path: str
    run_name: str
    client_arguments: Mapping[str, Any] = field(default_factory=dict)
    run_arguments: Mapping[str, Any] = field(default_factory=dict)


class KubeflowOrchestrator:
    """Compiles zen_mlmd pipelines to KFP v2 and runs them (see the module docstring).

    Args:
        stack: the stack whose metadata and artifact stores the tasks record into.
        config: the orchestrator options; default: run locally through `kfp.local`.
        quiet: print nothing.
    """

    def __init__(self, stack, config: KubeflowOrchestratorConfig | None = None, quiet: bool = False):
        self.stack = stack
        self.config = config or KubeflowOrchestratorConfig(local=True)
        self.quiet = quiet

    # -- compiling ---------------------------------------------------------------------
    def run_config(self, graph: PipelineGraph, pipeline_root: str = "") -> dict[str, Any]:
        """The configuration snapshot recorded with each run."""
        config = graph.config()
        config["stack"] = self.stack.describe()
        config["versions"] = versions()
        config["orchestrator"] = {"flavor": "kubeflow", **self.config.model_dump(exclude_none=True)}
        config["kfp"] = {"namespace": self.config.namespace or "", "pipeline_root": pipeline_root}
        return config

    def compile(self, graph: PipelineGraph, package_path: str, pipeline_root: str = "") -> str:
        """Write the KFP v2 pipeline package (YAML) of `graph` for kfp.local; returns its path."""
        options = CompileOptions(
            convention=self.config.recording_convention, pods=local_settings(self.config.image),
            run_config=self.run_config(graph, pipeline_root or self.config.pipeline_root or ""),
            heartbeat_sec=self.config.heartbeat_sec, stale_after_sec=self.config.stale_after_sec)
        return compile_pipeline(graph, self.stack, package_path, options)

    def compile_for_cluster(self, graph: PipelineGraph, package_path: str) -> str:
        """Write the package a KFP cluster runs: checked stack, pinned packages, secret references.

        Raises:
            ConfigError: the stack has a store the pods cannot reach, a
                secret given as a literal or a file, or a package to pin is
                not installed (`cluster_checks`, `pod_settings`).
        """
        from zen_mlmd_kfp import cluster_checks, pod_settings

        store_options = cluster_checks.check_stack(self.stack, self.config.secret_name)
        secret_fields = getattr(self.stack.metadata_store.config, "SECRET_FIELDS", frozenset())
        modules = sorted({step_ref(inv).partition(":")[0] for inv in graph.invocations.values()})
        pods = pod_settings.cluster_settings(
            self.config, self.stack, modules, cluster_checks.secret_references(store_options, secret_fields))
        options = CompileOptions(
            convention=self.config.recording_convention, pods=pods,
            run_config=self.run_config(graph, self.pipeline_root()), cluster=True,
            pipeline_root=self.pipeline_root(), store_options=store_options,
            heartbeat_sec=self.config.heartbeat_sec, stale_after_sec=self.config.stale_after_sec)
        compile_pipeline(graph, self.stack, package_path, options)
        self._say(f"Compiled {package_path}: {pods.summary()}")
        return package_path

    def pipeline_root(self) -> str:
        """KFP's pipeline root for a cluster run: the configured one, else the artifact store's root
        when KFP can use it (gs://, s3://, minio://), else "" (the cluster's default)."""
        if self.config.pipeline_root:
            return self.config.pipeline_root
        root = self.stack.artifact_store.path
        return root if root.split("://", 1)[0] in KFP_ROOT_SCHEMES and "://" in root else ""

    # -- running -----------------------------------------------------------------------
    def run(self, graph: PipelineGraph, run_name: str | None = None):
        """Run `graph` locally (returns the recorded `Run`) or on the endpoint (a `SubmittedRun`)."""
        if self.config.local:
            return self.run_locally(graph, run_name)
        request_name = validate_name("run", run_name or default_run_name(graph.name))
        return SubmittedRun(request_name, self.submit(graph, run_name=request_name),
                            self.config.host or "")

    def run_locally(self, graph: PipelineGraph, run_name: str | None = None):
        """Run the compiled package through `kfp.local`, each task in a subprocess.

        Returns:
            The recorded run (`zen_mlmd.post_execution.Run`), every step in it.

        Raises:
            ConfigError: the task processes cannot import the pipeline's
                module (nothing is recorded then).
            StepFailedError: a step failed; the run is recorded as failed,
                with every step kfp.local did not reach recorded CANCELED.
            RunFailedError: a task failed before it recorded its step (its
                log is above); the run is recorded as failed likewise.
        """
        from kfp import components, local

        from zen_mlmd.mlmd.convention_registry import get_convention
        from zen_mlmd.tracking.heartbeat import heartbeat_owner
        from zen_mlmd.tracking.owner import current_owner
        from zen_mlmd.tracking.recorder import Recorder

        run_name = validate_name("run", run_name or default_run_name(graph.name))
        artifact_store = self.stack.artifact_store.open()
        root = self.config.pipeline_root or os.path.join(artifact_store.root, "kfp_local")
        convention = get_convention(self.config.recording_convention)
        with tempfile.TemporaryDirectory(prefix="zen_mlmd_kfp-") as tmp:
            # Compile and check first: a pipeline that cannot run leaves no trace in the store.
            package = self.compile(graph, os.path.join(tmp, f"{kfp_pipeline_name(graph.name)}.yaml"), root)
            check_importable_by_tasks(graph)
            store = self.stack.metadata_store.open()
            try:  # the run returned reads through it; a port-forward stops when the run ends
                owner = current_owner()  # this process, alive while kfp.local runs the tasks
                owner.update(heartbeat_owner({}, self.config.heartbeat_sec, self.config.stale_after_sec))
                recorder = Recorder(store, artifact_store, convention=convention, owner=owner)
                recorder.start_run(graph.name, run_name, self.run_config(graph, root),
                                   {"source": graph.source})
                self._say(f"Run {run_name!r} of pipeline {graph.name!r} through kfp.local")
                local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root,
                           raise_on_error=False)
                components.load_component_from_file(package)(**{RUN_NAME_PARAMETER: run_name})
                self._record_unfinished(store, recorder, graph, run_name, convention)
                run = read_recorded_run(store, artifact_store, run_name)
            finally:
                store.close_if_forwarded()
        self._say(f"Run {run_name!r} {run.status}: {len(run.steps)} steps, "
                  f"{sum(s.status == 'cached' for s in run.steps)} from cache")
        failed = [step for step in run.steps if step.status == "failed"]
        if failed:
            raise StepFailedError(failed[0].name, run_name, _task_error(failed[0].error))
        if run.status != "completed" and run.status != "cached":
            raise RunFailedError(
                f"run {run_name!r} ended {run.status}: a kfp.local task failed before it could "
                f"record its step. Fix: read the task's log above; `zen-mlmd run describe "
                f"{run_name}` shows which steps ran")
        return run

    def submission(self, graph: PipelineGraph, package_path: str, run_name: str | None = None) -> SubmissionRequest:
        """Compile `graph` to `package_path` and build the request `submit` sends.

        The zen_mlmd run name is a pipeline argument; every task records into it.
        """
        run_name = validate_name("run", run_name or default_run_name(graph.name))
        self.compile_for_cluster(graph, package_path)
        client = {"host": self.config.host}
        if self.config.namespace:
            client["namespace"] = self.config.namespace
        arguments: dict[str, Any] = {
            "pipeline_file": package_path,
            "arguments": {RUN_NAME_PARAMETER: run_name},
            "run_name": run_name,
            "enable_caching": False,  # zen_mlmd's cache decides, and records every task
        }
        if self.config.experiment:
            arguments["experiment_name"] = self.config.experiment
        if self.config.namespace:
            arguments["namespace"] = self.config.namespace
        if self.pipeline_root():
            arguments["pipeline_root"] = self.pipeline_root()
        return SubmissionRequest(package_path, run_name, client, arguments)

    def submit(self, graph: PipelineGraph, package_path: str | None = None, run_name: str | None = None) -> str:
        """Submit `graph` to the KFP endpoint; returns the KFP run id."""
        import kfp

        package_path = package_path or os.path.join(tempfile.mkdtemp(prefix="zen_mlmd_kfp-"),
                                                    f"{kfp_pipeline_name(graph.name)}.yaml")
        request = self.submission(graph, package_path, run_name)
        client = kfp.Client(**request.client_arguments)
        result = client.create_run_from_pipeline_package(**request.run_arguments)
        self._say(f"Submitted run {request.run_name!r} to {self.config.host}: KFP run {result.run_id}")
        return result.run_id

    # -- pieces ------------------------------------------------------------------------
    def _record_unfinished(self, store, recorder, graph: PipelineGraph, run_name: str,
                           convention) -> None:
        """Record every step kfp.local did not reach as CANCELED; end the run if it is open.

        kfp.local stops at the first failed task: the steps after it (and a
        step whose task died before recording anything) would otherwise be
        missing from the run. One read, then one write per missing step, as
        the local orchestrator records the steps it cancels.
        """
        from zen_mlmd.mlmd.reader import StoreReader

        from zen_mlmd_kfp import recording

        reader = StoreReader(store)
        recorded = {s.name: s.state for s in reader.read_run_steps(reader.get_run(run_name))}
        missing = [inv for name, inv in graph.invocations.items() if name not in recorded]
        ended = recording.run_has_ended(store, run_name, convention)
        if not missing and ended:
            return
        run = recording.attach_run(recorder, graph.name, run_name)
        failed = [name for name, state in recorded.items() if state == "FAILED"]
        for invocation in missing:
            blocked = [u for u in invocation.upstream if u not in recorded or recorded[u] == "FAILED"]
            reason = (f"not run: upstream step {blocked[0]!r} did not complete" if blocked else
                      f"not run: kfp.local stopped the run after step {failed[0]!r} failed"
                      if failed else "not run: kfp.local stopped the run after a task failed "
                      "before it recorded its step (see the task's log)")
            start = run.step_start(invocation.name, invocation.step.type_name, invocation.parameters)
            run.cancel_step(start, reason)
            self._say(f"  step {invocation.name}: canceled ({reason.removeprefix('not run: ')})")
        if not ended:
            # a task that died after publishing its step may have left the run open
            unfinished = missing or any(state != "COMPLETE" and state != "CACHED"
                                        for state in recorded.values())
            run.finish("failed" if unfinished else "completed")

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)


def check_importable_by_tasks(graph: PipelineGraph) -> None:
    """Check that a new Python process, as kfp.local starts one per task, imports every step.

    kfp.local's tasks run `sys.executable` in this working directory with this
    environment: the check does the same, so that a module only this process
    could load (from a file path) is reported before anything is recorded.

    Raises:
        ConfigError: naming the module, what the process said, and how to
            make it importable.
    """
    modules = sorted({step_ref(inv).partition(":")[0] for inv in graph.invocations.values()})
    code = ("import importlib, sys\nfor name in sys.argv[1:]:\n    try:\n"
            "        importlib.import_module(name)\n    except BaseException:\n"
            "        print(name, flush=True)\n        raise\n")
    try:
        result = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True,
                                text=True, timeout=IMPORT_CHECK_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise ConfigError("pipeline module", ", ".join(modules),
                          f"importing it in a new Python process took over {IMPORT_CHECK_TIMEOUT:g} s",
                          "make importing the module fast (no work at import time)") from None
    if result.returncode == 0:
        return
    last_line = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
    missing = (result.stdout.split() or modules)[-1]
    directory = _import_root(missing)
    where = f"export PYTHONPATH={directory}" if directory else "put its directory on PYTHONPATH"
    raise ConfigError(
        "pipeline module", missing,
        f"kfp.local runs each step in a new Python process, which cannot import it ({last_line})",
        f"run from the directory that contains it{f' (cd {directory})' if directory else ''}, or "
        f"{where}; see adapters/kfp/README.md")


def _task_error(error) -> Exception:
    """The recorded error of a task's step as an exception of the same type name.

    The exception itself stayed in the task's process; its type name and
    message are what the run records (`StepError`).
    """
    if error is None:
        return RuntimeError("the step failed (no error was recorded)")
    name = error.type if error.type and error.type.isidentifier() else "RuntimeError"
    return type(name, (RuntimeError,), {"__module__": "kfp_task"})(error.message)


def _import_root(module_name: str) -> str:
    """The directory to put on sys.path so that `module_name` imports (from where it was loaded here)."""
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if not path:
        return ""
    directory = os.path.dirname(os.path.abspath(path))
    depth = module_name.count(".") + (1 if os.path.basename(path) == "__init__.py" else 0)
    for _ in range(depth):
        directory = os.path.dirname(directory)
    return directory
