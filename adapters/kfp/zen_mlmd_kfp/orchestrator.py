"""The Kubeflow orchestrator: compile a zen_mlmd pipeline for KFP, run it there or locally.

    orchestrator = KubeflowOrchestrator(stack, KubeflowOrchestratorConfig(local=True))
    summary = orchestrator.run(iris_training.build(C=0.5))

On a cluster the launcher only submits the compiled package (`submit`);
the first task starts the zen_mlmd run and the last one ends it. Locally
(`kfp.local`, one subprocess per task) the launcher starts the run itself,
so the run's owner is a live process while it runs, then reads the steps'
statuses back from the metadata store.
"""
from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Mapping

from zen_mlmd.errors import StepFailedError
from zen_mlmd.pipelines.orchestrator import RunSummary, versions
from zen_mlmd.pipelines.pipeline import PipelineGraph
from zen_mlmd.tracking.recorder import default_run_name, validate_name

from zen_mlmd_kfp.compiler import RUN_NAME_PARAMETER, compile_pipeline, kfp_pipeline_name
from zen_mlmd_kfp.flavor import KubeflowOrchestratorConfig

_STEP_STATUS = {"COMPLETE": "completed", "CACHED": "cached", "FAILED": "failed",
                "CANCELED": "canceled", "RUNNING": "running"}


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
        """Write the KFP v2 pipeline package (YAML) of `graph`; returns its path."""
        return compile_pipeline(
            graph, self.stack, package_path, convention=self.config.convention,
            image=self.config.image,
            run_config=self.run_config(graph, pipeline_root or self.config.pipeline_root or ""),
        )

    # -- running -----------------------------------------------------------------------
    def run(self, graph: PipelineGraph, run_name: str | None = None):
        """Run `graph`: locally (returns a `RunSummary`) or on the endpoint (returns the KFP run id)."""
        if self.config.local:
            return self.run_locally(graph, run_name)
        return self.submit(graph, run_name=run_name)

    def run_locally(self, graph: PipelineGraph, run_name: str | None = None) -> RunSummary:
        """Run the compiled package through `kfp.local`, each task in a subprocess.

        Raises:
            StepFailedError: a step failed; the run is recorded as failed.
        """
        from kfp import components, local

        from zen_mlmd.mlmd.convention import get_convention
        from zen_mlmd.tracking.recorder import Recorder

        from zen_mlmd_kfp import recording

        run_name = validate_name("run", run_name or default_run_name(graph.name))
        artifact_store = self.stack.artifact_store.open()
        root = self.config.pipeline_root or os.path.join(artifact_store.root, "kfp_local")
        store = self.stack.metadata_store.open()
        try:  # closed when the run ends (a port-forward stops with it)
            convention = get_convention(self.config.convention)
            recorder = Recorder(store, artifact_store, convention=convention)
            with tempfile.TemporaryDirectory(prefix="zen_mlmd_kfp-") as tmp:
                # Compile first: a pipeline that cannot compile leaves no run behind.
                package = self.compile(graph, os.path.join(tmp, f"{kfp_pipeline_name(graph.name)}.yaml"), root)
                recorder.start_run(graph.name, run_name, self.run_config(graph, root),
                                         {"source": graph.source})
                self._say(f"Run {run_name!r} of pipeline {graph.name!r} through kfp.local")
                local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root,
                           raise_on_error=False)
                components.load_component_from_file(package)(**{RUN_NAME_PARAMETER: run_name})
            if not recording.run_has_ended(store, run_name, convention):
                # A failed task stops its dependents: nobody was left to end the run.
                recording.attach_run(recorder, graph.name, run_name).finish("failed")
            return self._summary(store, graph, run_name)
        finally:
            store.close()

    def submission(self, graph: PipelineGraph, package_path: str, run_name: str | None = None) -> SubmissionRequest:
        """Compile `graph` to `package_path` and build the request `submit` sends.

        The zen_mlmd run name is a pipeline argument; every task records into it.
        """
        run_name = validate_name("run", run_name or default_run_name(graph.name))
        self.compile(graph, package_path)
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
        if self.config.pipeline_root:
            arguments["pipeline_root"] = self.config.pipeline_root
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
    def _summary(self, store, graph: PipelineGraph, run_name: str) -> RunSummary:
        from zen_mlmd.mlmd.reader import StoreReader

        reader = StoreReader(store)
        record = reader.get_run(run_name)
        steps = {s.name: s for s in reader.read_run_steps(record)}
        summary = RunSummary(run_name, graph.name, "completed")
        for name in graph.invocations:
            summary.steps[name] = _STEP_STATUS.get(steps[name].state, "unknown") if name in steps else "not run"
        failed = [name for name, status in summary.steps.items() if status == "failed"]
        if failed or record.recorded_status == "failed":
            summary.status = "failed"
        elif summary.steps and all(s == "cached" for s in summary.steps.values()):
            summary.status = "cached"
        self._say(f"Run {run_name!r} {summary.status}: {len(summary.steps)} steps, "
                  f"{len(summary.cache_hits)} from cache")
        if failed:
            step = steps[failed[0]]
            raise StepFailedError(failed[0], run_name, RuntimeError(
                f"{step.error_type}: {step.error_message}" if step.error_type else step.error_message))
        return summary

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)
