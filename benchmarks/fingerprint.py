"""How long fingerprinting a step takes: ``python -m benchmarks.fingerprint``.

A generated user module (a real file under a temporary directory) holds a
step that reaches N user functions (default 1,000: a binary tree of calls),
each with a default value, reading a module dict, a module list and a class
attribute, with a list comprehension (a nested code object) and a call into
the standard library. Per repetition a fresh copy of the module is imported,
so the first fingerprint is *cold* (every code object is new, read for the
first time in the process); the second is *warm* (the bytecode scans are cached
per code object, the values are read again, as for every step of a run).

Target (a goal, not an assert): a step reaching 1,000 user functions is
fingerprinted in under 50 ms, cold. Prints a table and writes
``benchmarks/results/fingerprint.json``.
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.stats import summary

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_MS = 50.0


def module_source(functions: int, salt: int = 0) -> str:
    """The benchmark module; `salt` makes every code object new (equal code objects
    compare equal, and their scans are shared)."""
    lines = [
        "import math",
        "CONFIG = {'threshold': 0.5, 'layers': [64, 32], 'name': 'bench'}",
        "WEIGHTS = [0.1 * i for i in range(50)]",
        "",
        "class Settings:",
        "    DEPTH = 3",
        "    TAGS = ('a', 'b')",
        "",
    ]
    for i in range(functions):
        callees = [f"f{j}" for j in (2 * i + 1, 2 * i + 2) if j < functions]
        calls = " + ".join(f"{c}(x - 1)" for c in callees) or "0"
        lines.append(
            f"def f{i}(x, k={i}):\n"
            f"    if x > CONFIG['threshold'] * Settings.DEPTH:\n"
            f"        return math.sqrt(k) + WEIGHTS[k % 50]\n"
            f"    y = [v * k for v in range(3)]\n"
            f"    return {calls} + len(y) + {salt}\n")
    return "\n".join(lines)


def load(directory: Path, name: str, source: str):
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def measure(functions: int, repetitions: int) -> dict:
    from zen_mlmd.tracking.fingerprint import fingerprint

    cold, warm, parts_bytes, reached = [], [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        fingerprint(load(Path(tmp), "bench_warmup", module_source(3)).f0)  # imports, versions
        for i in range(repetitions + 1):
            module = load(Path(tmp), f"bench_{functions}_{i}", module_source(functions, salt=i))
            gc.collect()
            started = time.perf_counter()
            found = fingerprint(module.f0)
            first = time.perf_counter() - started
            started = time.perf_counter()
            again = fingerprint(module.f0)
            second = time.perf_counter() - started
            assert again.value == found.value and found.cacheable
            if i == 0:
                continue  # the first repetition warms the interpreter
            cold.append(first)
            warm.append(second)
            parts_bytes = len(json.dumps(found.parts))
            reached = sum(1 for r in found.parts["reads"].values() if r["kind"] == "code") \
                + found.parts["omitted"]
            del sys.modules[module.__name__]
    return {"functions": functions, "cold": summary(cold), "warm": summary(warm),
            "parts_bytes": parts_bytes, "entries": reached}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repetitions", type=int, default=20)
    args = parser.parse_args(argv)
    rows = [measure(n, args.repetitions) for n in args.functions]
    print(f"Fingerprinting a step (Python {platform.python_version()}, {args.repetitions} repetitions)")
    print(f"{'user functions':>15}  {'cold median':>12}  {'cold p90':>9}  {'warm median':>12}  "
          f"{'warm p90':>9}  {'parts':>8}")
    for row in rows:
        print(f"{row['functions']:>15}  {row['cold']['median_ms']:>9.1f} ms  {row['cold']['p90_ms']:>6.1f} ms"
              f"  {row['warm']['median_ms']:>9.1f} ms  {row['warm']['p90_ms']:>6.1f} ms"
              f"  {row['parts_bytes'] / 1024:>5.1f} KB")
    thousand = [r for r in rows if r["functions"] == 1000]
    if thousand:
        verdict = "met" if thousand[0]["cold"]["median_ms"] < TARGET_MS else "MISSED"
        print(f"target: 1,000 user functions under {TARGET_MS:.0f} ms cold: {verdict}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fingerprint.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
