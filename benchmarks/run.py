"""Run the benchmarks on one backend: ``python -m benchmarks.run --backend sqlite``.

Phases (the legs alternate round-robin, the order rotating every repetition,
so machine noise hits all of them alike):

1. recording: runs of S steps (S = 10 and 50) through each leg, per-step
   phase timings and the MLMD calls they make; database bytes per step;
2. history: filled to 200 recorded runs per store, then the queries (read a
   whole run, lineage of the final artifact, cache lookup hit and miss);
   filled to 2000 runs, the same queries again;
3. start-up: ``import zen_mlmd`` and ``python -m zen_mlmd.cli.main --help``
   in fresh interpreters.

Prints one table per metric and writes ``benchmarks/results/<backend>.json``.
The phases are in `benchmarks.phases`, the tables in `benchmarks.reporting`.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.backends import BACKENDS, BackendError, open_backend
from benchmarks.legs import MlflowLeg, RawLeg, ZenLeg
from benchmarks.phases import fill, profile, query_phase, record_phase, startup, summarize_recording
from benchmarks.reporting import report
from benchmarks.workload import OUTPUTS, PIPELINE, output_text, output_value

perf = time.perf_counter
RESULTS = Path(__file__).resolve().parent / "results"


def _args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=BACKENDS, default="sqlite")
    p.add_argument("--steps", default="10,50", help="pipeline lengths (default 10,50)")
    p.add_argument("--reps", default="20,6",
                   help="measured runs per leg for each pipeline length (default 20,6)")
    p.add_argument("--history", default="200,2000", help="history sizes in runs (default 200,2000)")
    p.add_argument("--fill-steps", type=int, default=2, help="steps per history run (default 2)")
    p.add_argument("--query-reps", type=int, default=30, help="repetitions of each query (default 30)")
    p.add_argument("--mlflow-history", type=int, default=200,
                   help="fill MLflow's history only up to this many runs (default 200: building 2000 "
                        "MLflow runs takes minutes); MLflow reads at larger histories are n/a")
    p.add_argument("--no-mlflow", action="store_true", help="skip the MLflow leg")
    p.add_argument("--startup-reps", type=int, default=10)
    p.add_argument("--profile", action="store_true",
                   help="also profile zen_mlmd recording and reading with pyinstrument")
    p.add_argument("--workdir", help="keep stores and artifacts here (default: a temp dir, removed)")
    p.add_argument("--out", help=f"JSON results file (default {RESULTS}/<backend>.json)")
    p.add_argument("--report", metavar="JSON", help="only print the tables of an earlier results file")
    p.add_argument("--quick", action="store_true",
                   help="a fast smoke run: steps 5,10, reps 3,2, history 20,60, 5 query reps")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.reps, args.history, args.query_reps, args.startup_reps = "5,10", "3,2", "20,60", 5, 3
    args.steps = [int(x) for x in args.steps.split(",")]
    args.reps = [int(x) for x in args.reps.split(",")]
    args.history = sorted(int(x) for x in args.history.split(","))
    if len(args.reps) != len(args.steps):
        p.error("--reps needs one number per --steps value")
    return args


def load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value


# -- main -------------------------------------------------------------------------------------
def main(argv=None) -> int:
    args = _args(argv)
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return 0
    t_start = perf()
    load_before = load()
    own_workdir = args.workdir is None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix=f"zen-mlmd-bench-{args.backend}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    legs = []
    try:
        try:
            backend = open_backend(args.backend, workdir)
        except BackendError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            results = _run(args, backend, workdir, legs, t_start, load_before)
        finally:
            legs.clear()
            gc.collect()  # MLMD connections close before the databases are dropped
            backend.close()
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    results["elapsed_s"] = perf() - t_start
    text = report(results)
    print(text)
    out = Path(args.out) if args.out else RESULTS / f"{args.backend}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_jsonable(results), indent=1))
    print(f"\nresults written to {out}")
    return 0


def _run(args, backend, workdir, legs, t_start, load_before):
    print(f"benchmark on {args.backend} in {workdir}", flush=True)
    legs.append(ZenLeg(backend.mlmd_config("zen"), workdir))
    legs.append(RawLeg(backend.mlmd_config("raw"), workdir))
    mlflow_note = "skipped (--no-mlflow)"
    if not args.no_mlflow:
        try:
            import mlflow  # noqa: F401
        except ImportError:
            mlflow_note = ("skipped: mlflow is not installed in this interpreter; `bash "
                           "scripts/benchmark.sh` runs the benchmark in benchmarks/.venv-bench with it")
            print(f"MLflow leg {mlflow_note}", file=sys.stderr)
        else:
            t0 = perf()
            legs.append(MlflowLeg(backend.mlflow_uri(), workdir))
            mlflow_note = f"MLflow {legs[-1].version} on {backend.mlflow_store_note()}"
            print(f"MLflow tracking store set up in {perf() - t0:.1f} s", flush=True)
    run_counts = {leg.key: 0 for leg in legs}

    print("recording ...", flush=True)
    rec = record_phase(args, legs, backend, run_counts)
    _check_same_bytes(legs, rec)
    measured = {leg.key: {S: rec["by_steps"][S][leg.key][-1] for S in args.steps} for leg in legs}

    queries, fill_seconds, query_calls = {}, {}, {}
    for h in args.history:
        for leg in legs:
            if leg.key == "mlflow" and h > args.mlflow_history:
                continue
            print(f"history: {leg.name} to {h} runs ...", flush=True)
            fill_seconds[f"{leg.name} to {h}"] = fill(leg, h, args.fill_steps, run_counts)
        print(f"queries at {h} runs ...", flush=True)
        queries[h], query_calls[h] = query_phase(args, legs, measured, h, run_counts)

    prof = profile(legs[0], measured, max(args.steps)) if args.profile else {}
    print("start-up ...", flush=True)
    start = startup(args.startup_reps) if args.startup_reps else {}
    import ml_metadata

    return {
        "backend": args.backend,
        "config": {"steps": args.steps, "reps": args.reps, "history": args.history,
                   "fill_steps": args.fill_steps, "query_reps": args.query_reps,
                   "mlflow_history": args.mlflow_history},
        "machine": {"cpus": os.cpu_count(), "load_before": load_before, "load_after": load(),
                    "python": platform.python_version(), "platform": platform.platform(),
                    "ml_metadata": ml_metadata.__version__},
        "mlflow_store": mlflow_note,
        "size_method": backend.size_method,
        "recording": summarize_recording(rec),
        "bytes_per_step": rec["bytes"],
        "steps_recorded_per_leg": rec["steps_recorded"],
        "queries": queries,
        "query_calls": query_calls,
        "fill_seconds": fill_seconds,
        "run_counts": run_counts,
        "startup": start,
        "profiles": prof,
    }


def _check_same_bytes(legs, rec):
    """Every leg wrote the same bytes for the same output (a fair comparison)."""
    S = min(rec["by_steps"])
    run = rec["by_steps"][S]
    expected = output_text(output_value(run[legs[0].key][0].run_name, 0, OUTPUTS[0])).encode()
    for leg in legs:
        if leg.key == "mlflow":
            found = list(leg.artifact_root.rglob(f"{OUTPUTS[0]}/data.json"))
            assert any(p.read_bytes() == expected for p in found), "MLflow wrote other bytes"
        else:
            path = leg.artifact_root / PIPELINE / run[leg.key][0].run_name / "step_000" / OUTPUTS[0] / "data.json"
            assert path.read_bytes() == expected, f"{leg.name} wrote other bytes at {path}"


if __name__ == "__main__":
    sys.exit(main())
