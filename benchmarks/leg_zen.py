"""The zen_mlmd leg: the workload recorded through zen_mlmd's `Recorder`."""
from __future__ import annotations

from pathlib import Path

from benchmarks.workload import (
    INPUTS,
    OUTPUTS,
    PIPELINE,
    CallTimer,
    RunResult,
    cache_key,
    output_value,
    perf,
    step_name,
    step_params,
)


class ZenLeg:
    """zen_mlmd's recorder as its local orchestrator uses it.

    start_run (naming its steps, as the local orchestrator does); per step
    start_step (which carries the previous step's held publish: one
    transaction), save_output x2, publish(defer=True) (no MLMD call); finish
    (the run's deferred node links, then its status with the last publish).
    """

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
        run = self.recorder.start_run(PIPELINE, run_name, config={"num_steps": steps},
                                      step_names=[step_name(i) for i in range(steps)])
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
            refs = step.publish(defer=True)
            t4 = perf()
            seconds, _ = self.timer.since(snap)
            result.step_phases.append({
                "total": t4 - t1, "start_step (+ previous publish)": t2 - t1, "save_output x2": t3 - t2,
                "publish (held back)": t4 - t3,
                "mlmd write": seconds.get("PutExecution", 0.0) + seconds.get("PutLineageSubgraph", 0.0),
            })
            inputs = {inp: refs[out][0] for inp, out in INPUTS.items()}
        t5 = perf()
        run.finish()  # the last publish goes out here
        t6 = perf()
        result.finish_run_s = t6 - t5
        result.total_s = t6 - t0
        result.final_artifact_id = step.output_ids["b"][0]
        result.handle = run_name
        result.last_cache_key = cache_key(run_name, steps - 1)
        result.calls = self.timer.since(calls0)[1]
        return result

    # -- history ------------------------------------------------------------------------
    def fill_run(self, run_name: str, steps: int) -> None:
        """A small run for the history: outputs published as already written (no file IO)."""
        from zen_mlmd.mlmd.records import OutputArtifact

        run = self.recorder.start_run(PIPELINE, run_name, config={"num_steps": steps},
                                      step_names=[step_name(i) for i in range(steps)])
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
                    properties={"cache_key": key})
                for out in OUTPUTS
            }
            refs = step.publish(outputs, defer=True)
            inputs = {inp: refs[out][0] for inp, out in INPUTS.items()}
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
