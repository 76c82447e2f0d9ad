"""The MLflow leg: the workload as a user would record it with MLflow's fluent API."""
from __future__ import annotations

from pathlib import Path

from benchmarks.workload import (
    INPUTS,
    OUTPUTS,
    PIPELINE,
    RunResult,
    output_text,
    output_value,
    perf,
    step_name,
    step_params,
)


class MlflowLeg:
    """What a user would build with MLflow's fluent API.

    A parent run per pipeline run; per step a nested run with log_params (5),
    inputs as tags (``runs:/<producer run>/<output>/data.json``) and each
    output logged with log_text as ``<output>/data.json``.
    """

    name = "MLflow"
    key = "mlflow"

    def __init__(self, tracking_uri: str, workdir: Path):
        import logging

        import mlflow
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        self.mlflow = mlflow
        self.version = mlflow.__version__
        mlflow.set_tracking_uri(tracking_uri)
        self.client = MlflowClient(tracking_uri)
        self.artifact_root = workdir / "mlflow-artifacts"
        self.experiment_id = self.client.create_experiment(
            PIPELINE, artifact_location=self.artifact_root.as_uri())
        mlflow.set_experiment(experiment_id=self.experiment_id)

    def record_run(self, run_name: str, steps: int) -> RunResult:
        mlflow = self.mlflow
        result = RunResult(self.name, run_name, steps)
        t0 = perf()
        parent = mlflow.start_run(run_name=run_name, experiment_id=self.experiment_id)
        mlflow.log_params({"steps": steps})
        result.start_run_s = perf() - t0
        previous = None
        for i in range(steps):
            name = step_name(i)
            t1 = perf()
            child = mlflow.start_run(run_name=name, nested=True)
            t2 = perf()
            mlflow.log_params(step_params(i))
            t3 = perf()
            if previous is not None:
                mlflow.set_tags({inp: f"runs:/{previous}/{out}/data.json" for inp, out in INPUTS.items()})
            t4 = perf()
            for output in OUTPUTS:
                mlflow.log_text(output_text(output_value(run_name, i, output)), f"{output}/data.json")
            t5 = perf()
            mlflow.end_run()
            t6 = perf()
            result.step_phases.append({"total": t6 - t1, "start_run(nested)": t2 - t1, "log_params": t3 - t2,
                                       "set_tags": t4 - t3, "log_text x2": t5 - t4, "end_run": t6 - t5})
            previous = child.info.run_id
        t7 = perf()
        mlflow.end_run()
        t8 = perf()
        result.finish_run_s = t8 - t7
        result.total_s = t8 - t0
        result.handle = parent.info.run_id
        return result

    def fill_run(self, run_name: str, steps: int) -> None:
        """A small run for the history through the client API (no artifacts)."""
        from mlflow.entities import Param

        client = self.client
        parent = client.create_run(self.experiment_id, run_name=run_name)
        for i in range(steps):
            child = client.create_run(self.experiment_id, run_name=step_name(i),
                                      tags={"mlflow.parentRunId": parent.info.run_id})
            client.log_batch(child.info.run_id,
                             params=[Param(k, str(v)) for k, v in step_params(i).items()])
            client.set_terminated(child.info.run_id)
        client.set_terminated(parent.info.run_id)

    def read_run(self, run: RunResult) -> int:
        """The parent run by name, then its nested runs with their params and tags."""
        client = self.client
        [parent] = client.search_runs([self.experiment_id], f"attributes.run_name = '{run.run_name}'",
                                      max_results=1)
        children = client.search_runs([self.experiment_id],
                                      f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                      max_results=1000)
        return sum(len(child.data.params) for child in children)
