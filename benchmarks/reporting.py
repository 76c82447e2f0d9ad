"""The benchmark's tables: recording, bytes, queries, start-up and the targets."""
from __future__ import annotations

from benchmarks import stats

#: The goals (not asserts). Recording is compared on the whole run / S: the
#: zen_mlmd leg writes its last publish and its deferred links at the run's end.
TARGETS = {
    "record_zen_over_raw": {"sqlite": 0.8, "mysql": 1.15, "postgresql": 1.15, "grpc": 1.15,
                            "memory": 1.3},
    "mlflow_over_zen": {"sqlite": 15.0},
    "bytes_zen_over_raw": {"sqlite": 1.3, "mysql": 1.3},
    "python_overhead_ms": {"memory": 0.3},
    "growth_2000_over_200": 1.2,
    "cli_help_s": 0.5,
}
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
    out.append(stats.table(
        f"[{backend}] zen_mlmd Python overhead per step, ms: its step, less the time inside MLMD "
        "calls, less raw MLMD's file writes (the same bytes)", ["steps", "overhead"],
        [[f"S={S}", stats.fmt(python_overhead(r))] for S, r in rec.items()]))
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
    if calls and not isinstance(next(iter(calls.values())), dict):
        calls = {str(max(results["queries"], key=int)): calls}  # results of an older version
    if calls:
        hs_calls = sorted(calls, key=int)
        names = list(calls[hs_calls[-1]])
        out.append(stats.table(f"[{backend}] zen_mlmd MLMD calls per query (S={max(results['config']['steps'])})",
                               ["query"] + [f"at {h} runs" for h in hs_calls],
                               [[k] + [str(calls[h].get(k, "n/a")) for h in hs_calls] for k in names]))
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


def python_overhead(r) -> float | None:
    """Median zen_mlmd step, less its median time inside MLMD, less raw MLMD's median file writes."""
    zen, raw = r.get("zen"), r.get("raw")
    if not zen or not raw:
        return None
    files = raw["phases"].get("write files x2")
    inside = zen["phases"].get("mlmd write")
    if not files or not inside:
        return None
    return zen["step"]["median_ms"] - inside["median_ms"] - files["median_ms"]


def _goal(name: str, backend: str):
    goal = TARGETS[name]
    return goal.get(backend) if isinstance(goal, dict) else goal


def targets(results):
    rows = []
    backend = results["backend"]
    rec = results["recording"]
    for S, r in rec.items():
        zr = stats.ratio(med(r.get("zen", {}).get("whole_run_per_step")),
                         med(r.get("raw", {}).get("whole_run_per_step")))
        goal = _goal("record_zen_over_raw", backend)
        if zr is not None and goal is not None:
            rows.append([f"record S={S}: zen/raw (whole run / S) <= {goal}", stats.fmt_ratio(zr),
                         "yes" if zr <= goal else "NO"])
        mz = stats.ratio(med(r.get("mlflow", {}).get("whole_run_per_step")),
                         med(r.get("zen", {}).get("whole_run_per_step")))
        goal = _goal("mlflow_over_zen", backend)
        if mz is not None and goal is not None:
            rows.append([f"record S={S}: MLflow/zen (whole run / S) >= {goal}", stats.fmt_ratio(mz),
                         "yes" if mz >= goal else "NO"])
        overhead, goal = python_overhead(r), _goal("python_overhead_ms", backend)
        if overhead is not None and goal is not None:
            rows.append([f"record S={S}: zen_mlmd Python overhead per step < {goal} ms",
                         f"{overhead:.3f} ms", "yes" if overhead < goal else "NO"])
    b = results["bytes_per_step"]
    br, goal = stats.ratio(b.get("zen"), b.get("raw")), _goal("bytes_zen_over_raw", backend)
    if br is not None and goal is not None:
        rows.append([f"bytes per step: zen/raw <= {goal}", stats.fmt_ratio(br), "yes" if br <= goal else "NO"])
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
        calls = results.get("query_calls", {})
        c_lo, c_hi = calls.get(lo) or calls.get(str(lo)), calls.get(hi) or calls.get(str(hi))
        if c_lo and c_hi:
            # (the first queries at the smaller history also fetch types once)
            flat = all(c_hi.get(k, 0) <= v for k, v in c_lo.items())
            rows.append([f"MLMD calls per query no more at {hi} than at {lo} runs",
                         "no more" if flat else "grew", "yes" if flat else "NO"])
    s = results.get("startup")
    if s:
        h = s["zen-mlmd --help"]["median_ms"] / 1000
        rows.append([f"zen-mlmd --help < {TARGETS['cli_help_s']} s", f"{h:.3f} s",
                     "yes" if h < TARGETS["cli_help_s"] else "NO"])
    return rows
