"""The measured phases of a benchmark run: recording, history and queries, start-up.

The legs alternate round-robin, the order rotating every repetition, so
machine noise hits all of them alike. `benchmarks.run` calls the phases in
order; `benchmarks.reporting` turns their results into tables.
"""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import stats
from benchmarks.workload import OUTPUTS

perf = time.perf_counter
REPO = Path(__file__).resolve().parent.parent


def rotated(items, k):
    k %= len(items)
    return items[k:] + items[:k]


# -- phase 1: recording ---------------------------------------------------------------
def record_phase(args, legs, backend, run_counts):
    out = {"by_steps": {}, "bytes": {}}
    # Warm-up (not counted): types, node contexts, caches, first file writes.
    for leg in legs:
        leg.record_run(f"warmup-{leg.key}", max(args.steps))
        run_counts[leg.key] += 1
    sizes_before = {leg.key: backend.size(leg.key) for leg in legs}
    steps_recorded = 0
    for S, reps in zip(args.steps, args.reps):
        per_leg = {leg.key: [] for leg in legs}
        for rep in range(reps):
            for leg in rotated(legs, rep):
                gc.collect()
                per_leg[leg.key].append(leg.record_run(f"rec-s{S}-r{rep:03d}", S))
                run_counts[leg.key] += 1
        steps_recorded += S * reps
        out["by_steps"][S] = per_leg
    sizes_after = {leg.key: backend.size(leg.key) for leg in legs}
    for leg in legs:
        before, after = sizes_before[leg.key], sizes_after[leg.key]
        out["bytes"][leg.key] = (None if before is None or after is None
                                 else (after - before) / steps_recorded)
    out["steps_recorded"] = steps_recorded
    return out


def summarize_recording(rec):
    result = {}
    for S, per_leg in rec["by_steps"].items():
        result[S] = {}
        for key, runs in per_leg.items():
            phases = {}
            for run in runs:
                for step in run.step_phases:
                    for phase, seconds in step.items():
                        phases.setdefault(phase, []).append(seconds)
            result[S][key] = {
                "step": stats.summary(phases["total"]),
                "phases": {ph: stats.summary(v) for ph, v in phases.items() if ph != "total"},
                "whole_run_per_step": stats.summary([r.total_s / r.steps for r in runs]),
                "start_run": stats.summary([r.start_run_s for r in runs]),
                "finish_run": stats.summary([r.finish_run_s for r in runs]),
                "mlmd_calls_per_run": runs[-1].calls,
            }
    return result


# -- phase 2: history and queries ------------------------------------------------------------
def fill(leg, target, fill_steps, run_counts):
    t0 = perf()
    start = run_counts[leg.key]
    for i in range(start, target):
        leg.fill_run(f"fill-{i:05d}", fill_steps)
    run_counts[leg.key] = max(start, target)
    return perf() - t0


def timed(fn, *a):
    t0 = perf()
    fn(*a)
    return perf() - t0


def query_phase(args, legs, measured, history, run_counts):
    """Queries at one history size. `measured[leg][S]` is the run to read."""
    zen = next((leg for leg in legs if leg.key == "zen"), None)
    raw = next((leg for leg in legs if leg.key == "raw"), None)
    samples: dict[str, dict[str, list[float]]] = {}

    def add(metric, key, seconds):
        samples.setdefault(metric, {}).setdefault(key, []).append(seconds)

    hit_key = {leg.key: measured[leg.key][max(args.steps)].last_cache_key for leg in legs if leg.key != "mlflow"}
    miss_key = "0" * 64
    post_exec = zen is not None and zen.post_execution_available()
    calls = {}
    if zen is not None:  # MLMD calls per query, counted once
        for label, fn in [("read_run", lambda: zen.read_run(measured["zen"][max(args.steps)])),
                          ("lineage", lambda: zen.lineage(measured["zen"][max(args.steps)])),
                          ("cache_lookup", lambda: zen.cache_lookup(hit_key["zen"]))] + (
                [("read_run post_execution",
                  lambda: zen.read_run_post_execution(measured["zen"][max(args.steps)]))] if post_exec else []):
            snap = zen.timer.snapshot()
            fn()
            calls[label] = sum(zen.timer.since(snap)[1].values())
    for q in range(args.query_reps):
        for leg in rotated(legs, q):
            key = leg.key
            if key == "mlflow" and run_counts["mlflow"] < history:
                continue
            for S in args.steps:
                run = measured[key][S]
                add(f"read_run S={S}", key, timed(leg.read_run, run))
                if key == "zen" and post_exec:
                    add(f"read_run S={S}", "zen_post_execution", timed(leg.read_run_post_execution, run))
                if key != "mlflow":
                    add(f"lineage S={S}", key, timed(leg.lineage, run))
            if key != "mlflow":
                add("cache_lookup hit", key, timed(leg.cache_lookup, hit_key[key]))
                add("cache_lookup miss", key, timed(leg.cache_lookup, miss_key))
    # Sanity: both MLMD legs see the whole chain, and the lookups find what they should.
    for leg in (zen, raw):
        if leg is not None:
            for S in args.steps:
                assert leg.lineage(measured[leg.key][S]) == S, f"{leg.name}: lineage misses steps"
    if zen is not None:
        found = zen.cache_lookup(hit_key["zen"])
        assert found is not None and set(found.outputs) == set(OUTPUTS), found
        assert zen.cache_lookup(miss_key) is None
    if raw is not None:
        assert len(raw.cache_lookup(hit_key["raw"])) == len(OUTPUTS)
    return {m: {k: stats.summary(v) for k, v in by_leg.items()} for m, by_leg in samples.items()}, calls


# -- phase 3: start-up ------------------------------------------------------------------------
def startup(reps):
    python = getattr(sys, "_base_executable", None) or sys.executable
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def wall(cmd):
        times = []
        for _ in range(reps):
            t0 = perf()
            subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times.append(perf() - t0)
        return stats.summary(times)

    def inside(code):
        values = []
        for _ in range(reps):
            out = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, check=True)
            values.append(float(out.stdout.strip()))
        return stats.summary(values)

    subprocess.run([python, "-m", "zen_mlmd.cli.main", "--help"], env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # bytecode compiled
    result = {
        "python": python,
        "python -c pass": wall([python, "-c", "pass"]),
        "python -c 'import zen_mlmd'": wall([python, "-c", "import zen_mlmd"]),
        "import zen_mlmd (in process)": inside(
            "import time; t = time.perf_counter(); import zen_mlmd; print(time.perf_counter() - t)"),
        "zen-mlmd --help": wall([python, "-m", "zen_mlmd.cli.main", "--help"]),
    }
    # Heaviest imports of `--help` (cumulative microseconds), for the report.
    out = subprocess.run([python, "-X", "importtime", "-m", "zen_mlmd.cli.main", "--help"], env=env,
                         capture_output=True, text=True)
    rows = []
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            parts = [p.strip() for p in line[len("import time:"):].split("|")]
            if parts[1].isdigit():
                rows.append((int(parts[1]), parts[2]))
    result["help_top_imports_ms"] = [(name, us / 1000) for us, name in sorted(rows, reverse=True)[:12]]
    return result


# -- profiling --------------------------------------------------------------------------------
def profile(zen, measured, steps):
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("\n--profile: pyinstrument is not installed (pip install pyinstrument in the bench venv)")
        return {}
    out = {}
    for label, fn in [("record a run of %d steps" % steps, lambda: zen.record_run("profile-run", steps)),
                      ("read a run 20x", lambda: [zen.read_run(measured["zen"][steps]) for _ in range(20)])]:
        profiler = Profiler(interval=0.0005)
        profiler.start()
        fn()
        profiler.stop()
        text = profiler.output_text(unicode=False, color=False, show_all=False)
        print(f"\n=== profile: zen_mlmd {label} ===\n{text}")
        out[label] = text
    return out
