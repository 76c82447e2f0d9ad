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
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import stats
from benchmarks.backends import BACKENDS, BackendError, open_backend
from benchmarks.legs import OUTPUTS, PIPELINE, MlflowLeg, RawLeg, ZenLeg, output_text, output_value

perf = time.perf_counter
REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

TARGETS = {
    "record_zen_over_raw": 1.25,
    "mlflow_over_zen_sqlite": 5.0,
    "growth_2000_over_200": 1.2,
    "cli_help_s": 0.5,
}


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


def rotated(items, k):
    k %= len(items)
    return items[k:] + items[:k]


def load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


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


# -- report -----------------------------------------------------------------------------------
LEG_NAMES = {"zen": "zen_mlmd", "raw": "raw MLMD", "mlflow": "MLflow",
             "zen_post_execution": "zen_mlmd post_execution"}


def cell(summary):
    if not summary:
        return "n/a"
    return f"{stats.fmt(summary['median_ms'])} ({stats.fmt(summary['p90_ms'])})"


def med(summary):
    return summary["median_ms"] if summary else None


def report(results) -> str:
    out = []
    backend = results["backend"]
    rec = results["recording"]
    out.append(stats.table(
        f"[{backend}] Recording: ms per recorded step, median (p90)",
        ["steps", "zen_mlmd", "raw MLMD", "MLflow", "zen/raw", "MLflow/zen"],
        [[f"S={S}", cell(r.get("zen", {}).get("step")), cell(r.get("raw", {}).get("step")),
          cell(r.get("mlflow", {}).get("step")),
          stats.fmt_ratio(stats.ratio(med(r.get("zen", {}).get("step")), med(r.get("raw", {}).get("step")))),
          stats.fmt_ratio(stats.ratio(med(r.get("mlflow", {}).get("step")), med(r.get("zen", {}).get("step"))))]
         for S, r in rec.items()]))
    out.append(stats.table(
        f"[{backend}] Recording: whole run (start_run + steps + finish) / S, ms, median (p90)",
        ["steps", "zen_mlmd", "raw MLMD", "MLflow", "zen/raw", "MLflow/zen"],
        [[f"S={S}", *(cell(r.get(k, {}).get("whole_run_per_step")) for k in ("zen", "raw", "mlflow")),
          stats.fmt_ratio(stats.ratio(med(r.get("zen", {}).get("whole_run_per_step")),
                                      med(r.get("raw", {}).get("whole_run_per_step")))),
          stats.fmt_ratio(stats.ratio(med(r.get("mlflow", {}).get("whole_run_per_step")),
                                      med(r.get("zen", {}).get("whole_run_per_step"))))]
         for S, r in rec.items()]))
    rows = []
    for S, r in rec.items():
        for key, data in r.items():
            for phase, summary in data["phases"].items():
                rows.append([f"S={S}", LEG_NAMES[key], phase, cell(summary)])
            rows.append([f"S={S}", LEG_NAMES[key], "start_run", cell(data["start_run"])])
            rows.append([f"S={S}", LEG_NAMES[key], "finish run", cell(data["finish_run"])])
    out.append(stats.table(f"[{backend}] Recording: per-call breakdown, ms per step (per run for start/finish)",
                           ["steps", "leg", "call", "median (p90)"], rows))
    rows = []
    for S, r in rec.items():
        for key in ("zen", "raw"):
            if key in r:
                calls = r[key]["mlmd_calls_per_run"]
                rows.append([f"S={S}", LEG_NAMES[key], str(sum(calls.values())),
                             ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))])
    out.append(stats.table(f"[{backend}] MLMD calls per recorded run", ["steps", "leg", "total", "calls"], rows))
    b = results["bytes_per_step"]
    out.append(stats.table(
        f"[{backend}] Metadata bytes stored per step ({results['size_method']}; MLflow: {results['mlflow_store']})",
        ["zen_mlmd", "raw MLMD", "MLflow", "zen/raw", "MLflow/zen"],
        [[stats.fmt(b.get("zen")), stats.fmt(b.get("raw")), stats.fmt(b.get("mlflow")),
          stats.fmt_ratio(stats.ratio(b.get("zen"), b.get("raw"))),
          stats.fmt_ratio(stats.ratio(b.get("mlflow"), b.get("zen")))]]))

    queries = results["queries"]
    hs = sorted(queries, key=int)
    metrics = sorted({m for h in hs for m in queries[h]}, key=lambda m: (m.split()[0], m))
    for family in ("read_run", "lineage", "cache_lookup"):
        fam = [m for m in metrics if m.startswith(family)]
        keys = {"read_run": ["zen", "zen_post_execution", "raw", "mlflow"],
                "lineage": ["zen", "raw"], "cache_lookup": ["zen", "raw"]}[family]
        title = {"read_run": "Reading a whole run", "lineage": "Lineage of the final artifact (upstream, "
                 "one get_lineage_subgraph, field masks)",
                 "cache_lookup": "Cache lookup (find_cached_outputs; raw = the same filter query)"}[family]
        rows = []
        for m in fam:
            for h in hs:
                data = queries[h].get(m, {})
                row = [m.split(" ", 1)[1], f"{h} runs"] + [cell(data.get(k)) for k in keys]
                row.append(stats.fmt_ratio(stats.ratio(med(data.get("zen")), med(data.get("raw")))))
                if family == "read_run":
                    row.append(stats.fmt_ratio(stats.ratio(med(data.get("mlflow")), med(data.get("zen")))))
                rows.append(row)
        header = ["case", "history"] + [LEG_NAMES[k] for k in keys] + ["zen/raw"] + (
            ["MLflow/zen"] if family == "read_run" else [])
        out.append(stats.table(f"[{backend}] {title}: ms, median (p90)", header, rows))
        if len(hs) >= 2:
            lo, hi = hs[0], hs[-1]
            rows = []
            for m in fam:
                g = {k: stats.ratio(med(queries[hi].get(m, {}).get(k)), med(queries[lo].get(m, {}).get(k)))
                     for k in keys}
                rows.append([m.split(" ", 1)[1]] + [stats.fmt_ratio(g[k]) for k in keys]
                            + [stats.fmt_ratio(stats.ratio(g["zen"], g["raw"]))])
            out.append(stats.table(f"[{backend}] {title}: growth, median at {hi} / median at {lo} runs "
                                   f"(target <= {TARGETS['growth_2000_over_200']}; zen/raw growth "
                                   "cancels machine load that changed between the two points)",
                                   ["case"] + [LEG_NAMES[k] for k in keys] + ["zen growth / raw growth"],
                                   rows))
    calls = results.get("query_calls", {})
    if calls:
        out.append(stats.table(f"[{backend}] zen_mlmd MLMD calls per query (S={max(results['config']['steps'])})",
                               ["query", "MLMD calls"], [[k, str(v)] for k, v in calls.items()]))
    s = results.get("startup")
    if s:
        out.append(stats.table(
            "Start-up (fresh interpreter, wall time), ms, median (p90)", ["what", "median (p90)"],
            [[k, cell(v)] for k, v in s.items() if isinstance(v, dict)]))
        out.append(stats.table("Heaviest imports of `zen-mlmd --help` (cumulative ms, one run, -X importtime)",
                               ["module", "ms"], [[n, stats.fmt(ms)] for n, ms in s["help_top_imports_ms"]]))
    out.append(stats.table(f"[{backend}] Targets (goals, not asserts)", ["target", "measured", "met"],
                           targets(results)))
    out.append(f"\nhistory built in: {', '.join(f'{k}: {v:.1f} s' for k, v in results['fill_seconds'].items())}")
    out.append(f"load average: {results['machine']['load_before']:.2f} at start, "
               f"{results['machine']['load_after']:.2f} at end, {results['machine']['cpus']} CPUs")
    out.append(f"total time: {results['elapsed_s']:.1f} s")
    return "\n".join(out)


def targets(results):
    rows = []
    rec = results["recording"]
    for S, r in rec.items():
        zr = stats.ratio(med(r.get("zen", {}).get("step")), med(r.get("raw", {}).get("step")))
        if zr is not None:
            rows.append([f"record S={S}: zen/raw <= {TARGETS['record_zen_over_raw']}", stats.fmt_ratio(zr),
                         "yes" if zr <= TARGETS["record_zen_over_raw"] else "NO"])
        mz = stats.ratio(med(r.get("mlflow", {}).get("step")), med(r.get("zen", {}).get("step")))
        if mz is not None:
            rows.append([f"record S={S}: MLflow/zen >= {TARGETS['mlflow_over_zen_sqlite']}", stats.fmt_ratio(mz),
                         "yes" if mz >= TARGETS["mlflow_over_zen_sqlite"] else "NO"])
    queries = results["queries"]
    hs = sorted(queries, key=int)
    if len(hs) >= 2:
        lo, hi = hs[0], hs[-1]
        for m in sorted(queries[hi]):
            if m.startswith(("read_run", "cache_lookup", "lineage")):
                g = stats.ratio(med(queries[hi][m].get("zen")), med(queries[lo].get(m, {}).get("zen")))
                graw = stats.ratio(med(queries[hi][m].get("raw")), med(queries[lo].get(m, {}).get("raw")))
                if g is not None:
                    rows.append([f"{m}: zen {hi}/{lo} runs <= {TARGETS['growth_2000_over_200']}",
                                 stats.fmt_ratio(g), "yes" if g <= TARGETS["growth_2000_over_200"] else "NO"])
                if g is not None and graw:
                    n = g / graw
                    rows.append([f"{m}: same, relative to raw MLMD's growth <= "
                                 f"{TARGETS['growth_2000_over_200']}",
                                 stats.fmt_ratio(n), "yes" if n <= TARGETS["growth_2000_over_200"] else "NO"])
    s = results.get("startup")
    if s:
        h = s["zen-mlmd --help"]["median_ms"] / 1000
        rows.append([f"zen-mlmd --help < {TARGETS['cli_help_s']} s", f"{h:.3f} s",
                     "yes" if h < TARGETS["cli_help_s"] else "NO"])
    return rows


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
        queries[h], query_calls = query_phase(args, legs, measured, h, run_counts)

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
