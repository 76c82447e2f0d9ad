"""The benchmark's workload, and what every leg measures while recording it.

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
