"""The same workload three ways: zen_mlmd, raw MLMD (the physical limit) and MLflow.

The workload is a linear pipeline of S steps. Step i has five parameters,
consumes step i-1's two outputs (``in_a``, ``in_b``) and produces two small
JSON outputs (``a``, ``b``). Every leg writes the same bytes to one file per
output (``<root>/<pipeline>/<run>/<step>/<output>/data.json``).
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store as mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

PIPELINE = "bench_pipeline"
OUTPUTS = ("a", "b")
INPUTS = {"in_a": "a", "in_b": "b"}
LINEAGE_FIELD_MASK = ["artifacts", "executions", "events"]
PAGE_SIZE = 100

perf = time.perf_counter


# -- the workload ---------------------------------------------------------------------
def step_name(i: int) -> str:
    return f"step_{i:03d}"


def step_params(i: int) -> dict[str, Any]:
    return {"learning_rate": 0.001 * (i + 1), "epochs": i + 1, "optimizer": "adam",
            "shuffle": i % 2 == 0, "seed": 42}


def output_value(run_name: str, i: int, output: str) -> dict[str, Any]:
    return {"run": run_name, "step": i, "output": output, "values": [i * 10 + j for j in range(8)]}


def output_text(value: dict[str, Any]) -> str:
    """The bytes every leg writes (what zen_mlmd's JSON materializer writes)."""
    return json.dumps(value)


def cache_key(run_name: str, i: int) -> str:
    return hashlib.sha256(f"{run_name}/{step_name(i)}".encode()).hexdigest()


def write_output_file(root: Path, run_name: str, step: str, output: str, text: str) -> str:
    directory = os.path.join(root, PIPELINE, run_name, step, output)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "data.json"), "w", encoding="utf-8") as f:
        f.write(text)
    return directory


# -- measurements -----------------------------------------------------------------------
class CallTimer:
    """Time spent inside MLMD calls (the C++ store or the gRPC stub), by RPC name."""

    def __init__(self, raw_store):
        self.seconds: collections.Counter[str] = collections.Counter()
        self.count: collections.Counter[str] = collections.Counter()
        inner = raw_store._call_method

        def timed(method_name, request, response):
            start = perf()
            try:
                return inner(method_name, request, response)
            finally:
                self.seconds[method_name] += perf() - start
                self.count[method_name] += 1

        raw_store._call_method = timed

    def snapshot(self) -> tuple[dict, dict]:
        return dict(self.seconds), dict(self.count)

    def since(self, snapshot) -> tuple[dict, dict]:
        seconds, count = snapshot
        return ({k: v - seconds.get(k, 0.0) for k, v in self.seconds.items() if v - seconds.get(k, 0.0)},
                {k: v - count.get(k, 0) for k, v in self.count.items() if v - count.get(k, 0)})


@dataclass
class RunResult:
    """One recorded run: per-step phase timings and what the queries need."""

    leg: str
    run_name: str
    steps: int
    #: per step: phase name -> seconds ("total" = the whole step)
    step_phases: list[dict[str, float]] = field(default_factory=list)
    start_run_s: float = 0.0
    finish_run_s: float = 0.0
    total_s: float = 0.0
    final_artifact_id: int | None = None
    #: an id a reader / lineage query starts from (MLflow: the parent run id)
    handle: Any = None
    #: cache key of the last step (zen_mlmd and raw record it)
    last_cache_key: str = ""
    #: MLMD RPCs made while recording the run, by name
    calls: dict[str, int] = field(default_factory=dict)


# -- zen_mlmd ---------------------------------------------------------------------------------
class ZenLeg:
    """zen_mlmd's recorder: start_run, start_step, save_output x2, publish, finish."""

    name = "zen_mlmd"
    key = "zen"

    def __init__(self, config, workdir: Path):
        from zen_mlmd.artifacts import ArtifactStore
        from zen_mlmd.mlmd.store import MetadataStore
        from zen_mlmd.tracking.recorder import Recorder

        self.store = MetadataStore(config, store_name="benchmark-zen")
        self.timer = CallTimer(self.store.raw)
        self.artifact_root = workdir / "zen-artifacts"
        self.artifact_store = ArtifactStore(str(self.artifact_root))
        self.recorder = Recorder(self.store, self.artifact_store)
        self._post_execution = None

    def record_run(self, run_name: str, steps: int) -> RunResult:
        result = RunResult(self.name, run_name, steps)
        calls0 = self.timer.snapshot()
        t0 = perf()
        run = self.recorder.start_run(PIPELINE, run_name, config={"num_steps": steps})
        result.start_run_s = perf() - t0
        inputs = None
        ids = {}
        for i in range(steps):
            name = step_name(i)
            snap = self.timer.snapshot()
            t1 = perf()
            step = run.start_step(name, type_name=f"benchmarks.steps.{name}", parameters=step_params(i),
                                  inputs=inputs, cache_key=cache_key(run_name, i))
            t2 = perf()
            for output in OUTPUTS:
                step.save_output(output, output_value(run_name, i, output))
            t3 = perf()
            ids = step.publish()
            t4 = perf()
            seconds, _ = self.timer.since(snap)
            result.step_phases.append({
                "total": t4 - t1, "start_step": t2 - t1, "save_output x2": t3 - t2,
                "publish": t4 - t3, "mlmd PutExecution": seconds.get("PutExecution", 0.0),
            })
            inputs = {inp: ids[out][0] for inp, out in INPUTS.items()}
        t5 = perf()
        run.finish()
        t6 = perf()
        result.finish_run_s = t6 - t5
        result.total_s = t6 - t0
        result.final_artifact_id = ids["b"][0]
        result.handle = run_name
        result.last_cache_key = cache_key(run_name, steps - 1)
        result.calls = self.timer.since(calls0)[1]
        return result

    # -- history ------------------------------------------------------------------------
    def fill_run(self, run_name: str, steps: int) -> None:
        """A small run for the history: outputs published as already written (no file IO)."""
        from zen_mlmd.mlmd.records import OutputArtifact

        run = self.recorder.start_run(PIPELINE, run_name, config={"num_steps": steps})
        inputs = None
        for i in range(steps):
            name = step_name(i)
            key = cache_key(run_name, i)
            step = run.start_step(name, type_name=f"benchmarks.steps.{name}", parameters=step_params(i),
                                  inputs=inputs, cache_key=key)
            outputs = {
                out: OutputArtifact(
                    uri=f"{self.artifact_root}/{PIPELINE}/{run_name}/{name}/{out}", kind="data",
                    materializer="builtins.json", data_type="builtins.dict",
                    content_hash="sha256:" + "0" * 64, size_bytes=90,
                    properties={"producer_execution_id": step.execution_id, "output_index": 0,
                                "cache_key": key})
                for out in OUTPUTS
            }
            ids = step.publish(outputs)
            inputs = {inp: ids[out][0] for inp, out in INPUTS.items()}
        run.finish()

    # -- queries ------------------------------------------------------------------------
    def read_run(self, run: RunResult) -> int:
        """The mlmd-layer reader: the run by name, then steps, events and artifacts."""
        from zen_mlmd.mlmd.reader import StoreReader

        reader = StoreReader(self.store)
        data = reader.read_run(reader.get_run(run.handle))
        return len(data.steps)

    def post_execution_available(self) -> bool:
        if self._post_execution is None:
            try:
                from zen_mlmd.post_execution import get_run  # noqa: F401
                self._post_execution = True
            except Exception:  # the read API is optional for this benchmark
                self._post_execution = False
        return self._post_execution

    def read_run_post_execution(self, run: RunResult) -> int:
        """The user-facing read API: get_run, then every step with its inputs and outputs."""
        from zen_mlmd.post_execution import get_run

        view = get_run(run.handle, store=self.store)
        n = 0
        for step in view.steps:
            n += len(step.inputs) + len(step.outputs)
        return n

    def lineage(self, run: RunResult) -> int:
        from zen_mlmd.mlmd.lineage_query import query_lineage

        records = query_lineage(self.store, run.final_artifact_id, "upstream",
                                max_hops=min(2 * run.steps, 100))
        return len(records.steps)

    def cache_lookup(self, key: str):
        from zen_mlmd.mlmd.cache_query import find_cached_outputs

        return find_cached_outputs(self.store, key)

    def mlmd_calls_since(self, snapshot) -> dict[str, int]:
        return self.timer.since(snapshot)[1]


# -- raw MLMD ---------------------------------------------------------------------------------
class RawLeg:
    """The minimal MLMD calls for the same records: ONE put_execution per step.

    Types are registered once; the pipeline context is created once and the
    node context of each step name the first time it is seen (inside that
    step's put_execution); afterwards contexts are passed by id. Per run: one
    put_contexts (run context), one put_parent_contexts (run -> pipeline),
    one put_contexts at the end (status, end time).
    """

    name = "raw MLMD"
    key = "raw"

    def __init__(self, config, workdir: Path):
        self.store = mlmd.MetadataStore(config)
        self.timer = CallTimer(self.store)
        self.artifact_root = workdir / "raw-artifacts"
        s = self.store
        self.pipeline_type = s.put_context_type(pb.ContextType(name="pipeline"), can_add_fields=True)
        self.run_type = s.put_context_type(pb.ContextType(name="pipeline_run"), can_add_fields=True)
        self.node_type = s.put_context_type(pb.ContextType(name="node"), can_add_fields=True)
        self.artifact_type = s.put_artifact_type(pb.ArtifactType(name="benchmarks.Data"), can_add_fields=True)
        self.execution_types: dict[str, int] = {}
        self.node_ids: dict[str, int] = {}
        pipeline = pb.Context(type_id=self.pipeline_type, name=PIPELINE)
        [self.pipeline_id] = s.put_contexts([pipeline])

    def _execution_type(self, name: str) -> int:
        type_id = self.execution_types.get(name)
        if type_id is None:
            type_id = self.store.put_execution_type(
                pb.ExecutionType(name=f"benchmarks.steps.{name}"), can_add_fields=True)
            self.execution_types[name] = type_id
        return type_id

    @staticmethod
    def _event(kind, key: str, artifact_id: int | None = None) -> pb.Event:
        event = pb.Event(type=kind)
        if artifact_id is not None:
            event.artifact_id = artifact_id
        event.path.steps.add().key = key
        event.path.steps.add().index = 0
        return event

    def _start_run(self, run_name: str, steps: int) -> pb.Context:
        context = pb.Context(type_id=self.run_type, name=run_name)
        context.custom_properties["pipeline_name"].string_value = PIPELINE
        context.custom_properties["steps"].int_value = steps
        [context.id] = self.store.put_contexts([context])
        self.store.put_parent_contexts([pb.ParentContext(child_id=context.id, parent_id=self.pipeline_id)])
        return context

    def _finish_run(self, context: pb.Context) -> None:
        context.custom_properties["status"].string_value = "completed"
        context.custom_properties["end_time"].int_value = int(time.time() * 1000)
        self.store.put_contexts([context])

    def _put_step(self, run: pb.Context, run_name: str, i: int, inputs, uris) -> tuple[int, list[int]]:
        name = step_name(i)
        key = cache_key(run_name, i)
        execution = pb.Execution(type_id=self._execution_type(name), name=f"{run_name}.{name}",
                                 last_known_state=pb.Execution.COMPLETE)
        props = execution.custom_properties
        for param, value in step_params(i).items():
            _set_value(props[f"param.{param}"], value)
        props["cache_key"].string_value = key
        pairs = [(None, self._event(pb.Event.INPUT, inp, artifact_id)) for inp, artifact_id in inputs.items()]
        for output, uri in zip(OUTPUTS, uris):
            artifact = pb.Artifact(type_id=self.artifact_type, uri=uri, name=f"{run_name}.{name}.{output}",
                                   state=pb.Artifact.LIVE)
            artifact.custom_properties["cache_key"].string_value = key
            pairs.append((artifact, self._event(pb.Event.OUTPUT, output)))
        node_id = self.node_ids.get(name)
        node = pb.Context(id=node_id) if node_id else pb.Context(type_id=self.node_type, name=f"{PIPELINE}.{name}")
        contexts = [pb.Context(id=self.pipeline_id), pb.Context(id=run.id), node]
        execution_id, artifact_ids, context_ids = self.store.put_execution(
            execution, pairs, contexts, reuse_context_if_already_exist=True, force_reuse_context=True)
        if not node_id:
            self.node_ids[name] = context_ids[2]
        # put_execution returns one id per pair, inputs first: keep the outputs'.
        return execution_id, list(artifact_ids[len(inputs):])

    def record_run(self, run_name: str, steps: int) -> RunResult:
        result = RunResult(self.name, run_name, steps)
        calls0 = self.timer.snapshot()
        t0 = perf()
        run = self._start_run(run_name, steps)
        result.start_run_s = perf() - t0
        inputs: dict[str, int] = {}
        artifact_ids: list[int] = []
        for i in range(steps):
            name = step_name(i)
            snap = self.timer.snapshot()
            t1 = perf()
            uris = [write_output_file(self.artifact_root, run_name, name, output,
                                      output_text(output_value(run_name, i, output)))
                    for output in OUTPUTS]
            t2 = perf()
            _, artifact_ids = self._put_step(run, run_name, i, inputs, uris)
            t3 = perf()
            seconds, _ = self.timer.since(snap)
            result.step_phases.append({"total": t3 - t1, "write files x2": t2 - t1,
                                       "put_execution": t3 - t2,
                                       "mlmd PutExecution": seconds.get("PutExecution", 0.0)})
            inputs = {inp: artifact_ids[OUTPUTS.index(out)] for inp, out in INPUTS.items()}
        t4 = perf()
        self._finish_run(run)
        t5 = perf()
        result.finish_run_s = t5 - t4
        result.total_s = t5 - t0
        result.final_artifact_id = artifact_ids[1]
        result.handle = run_name
        result.last_cache_key = cache_key(run_name, steps - 1)
        result.calls = self.timer.since(calls0)[1]
        return result

    def fill_run(self, run_name: str, steps: int) -> None:
        run = self._start_run(run_name, steps)
        inputs: dict[str, int] = {}
        for i in range(steps):
            name = step_name(i)
            uris = [f"{self.artifact_root}/{PIPELINE}/{run_name}/{name}/{out}" for out in OUTPUTS]
            _, artifact_ids = self._put_step(run, run_name, i, inputs, uris)
            inputs = {inp: artifact_ids[OUTPUTS.index(out)] for inp, out in INPUTS.items()}
        self._finish_run(run)

    def read_run(self, run: RunResult) -> int:
        """Run context by name, its executions, their events, the artifacts: four calls."""
        s = self.store
        context = s.get_context_by_type_and_name("pipeline_run", run.handle)
        executions = s.get_executions_by_context(context.id)
        events = s.get_events_by_execution_ids([e.id for e in executions])
        artifacts = s.get_artifacts_by_id(sorted({e.artifact_id for e in events}))
        return len(executions) + len(artifacts)

    def lineage(self, run: RunResult) -> int:
        options = pb.LineageSubgraphQueryOptions(
            starting_artifacts=pb.LineageSubgraphQueryOptions.StartingNodes(
                filter_query=f"id = {run.final_artifact_id}"),
            max_num_hops=min(2 * run.steps, 100),
            direction=pb.LineageSubgraphQueryOptions.UPSTREAM,
        )
        graph = self.store.get_lineage_subgraph(options, field_mask_paths=LINEAGE_FIELD_MASK)
        return len(graph.executions)

    def cache_lookup(self, key: str):
        """The same single filter query zen_mlmd's cache lookup makes, without decoding."""
        options = mlmd.ListOptions(limit=PAGE_SIZE, order_by=mlmd.OrderByField.ID, is_asc=False,
                                   filter_query=f"custom_properties.cache_key.string_value = '{key}' "
                                                "AND state = LIVE")
        return self.store.get_artifacts(list_options=options)


def _set_value(target: pb.Value, value: Any) -> None:
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    else:
        target.string_value = str(value)


# -- MLflow -----------------------------------------------------------------------------------
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
