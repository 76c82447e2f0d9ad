"""The raw MLMD leg: the same records with the fewest MLMD calls (the physical limit)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store as mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

from benchmarks.workload import (
    INPUTS,
    LINEAGE_FIELD_MASK,
    OUTPUTS,
    PAGE_SIZE,
    PIPELINE,
    CallTimer,
    RunResult,
    cache_key,
    output_text,
    output_value,
    perf,
    step_name,
    step_params,
    write_output_file,
)


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
        # a double: milliseconds overflow the 32-bit int column on MySQL/PostgreSQL
        context.custom_properties["end_time"].double_value = float(int(time.time() * 1000))
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
                                       "mlmd write": seconds.get("PutExecution", 0.0)})
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
