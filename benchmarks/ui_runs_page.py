"""Server time of the web view's runs page on a store with many runs (10,000 by default).

    python -m benchmarks.ui_runs_page                  # SQLite, 10,000 runs
    python -m benchmarks.ui_runs_page --runs 2000 --workdir /tmp/bench-ui

Records the runs with zen_mlmd's Recorder (one step each) into a SQLite
store, then times requests of the app in-process (Starlette's TestClient: no
network, no browser), each after a warm-up request, and counts the MLMD calls
of each page. The target: the first runs page under 300 ms of server time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 300.0
PAGES = {
    "runs (first page, 25)": "/runs",
    "runs (100 per page)": "/runs?limit=100",
    "runs of one pipeline": "/runs?pipeline=bench-0",
    "runs, name search": "/runs?q=0042",
    "runs, status filter (looks at 500)": "/runs?status=failed",
    "runs, deep page (cursor after half)": None,  # filled in once the store exists
}


def record(path: Path, runs: int, pipelines: int) -> None:
    from zen_mlmd.stack.components import MetadataStoreComponent
    from zen_mlmd.tracking.recorder import Recorder

    store = MetadataStoreComponent("bench", "sqlite", {"path": str(path)}).open()
    recorder = Recorder(store)
    started = time.perf_counter()
    for i in range(runs):
        with recorder.start_run(f"bench-{i % pipelines}", run_name=f"bench-run-{i:05d}") as run:
            run.start_step("only", type_name="bench.only", parameters={"i": i}).publish({})
        if (i + 1) % 1000 == 0:
            print(f"  recorded {i + 1} runs ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    store.close()


def time_page(client, opener, url: str, repeats: int) -> tuple[float, float, int]:
    """(median ms, max ms, MLMD calls) of GET `url`, after one warm-up request."""
    assert client.get(url).status_code == 200, url
    times = []
    for _ in range(repeats):
        opener.reset()
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    return statistics.median(times), max(times), opener.total()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--pipelines", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the store here (reused if present)")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="zen-mlmd-bench-ui-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["ZEN_MLMD_CONFIG_DIR"] = str(workdir / "config")
    path = workdir / f"runs-{args.runs}.sqlite"
    if not path.exists():
        print(f"recording {args.runs} runs into {path} ...", file=sys.stderr)
        record(path, args.runs, args.pipelines)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from ui_helpers import ui_client

    from zen_mlmd.stack import StackRegistry

    registry = StackRegistry()
    if "bench" not in {s.name for s in registry.list_metadata_stores()}:
        registry.register_metadata_store("bench", "sqlite", {"path": str(path)})
    client, opener = ui_client("bench")
    client.get("/runs")
    middle = opener.session.reader.get_run(f"bench-run-{args.runs // 2:05d}")
    PAGES["runs, deep page (cursor after half)"] = f"/runs?cursor=0.{middle.created_ms}.{middle.id}"

    print(f"\nweb view, SQLite store with {args.runs} runs ({args.pipelines} pipelines); "
          f"median of {args.repeats} requests each")
    print(f"{'page':40s} {'median ms':>10s} {'max ms':>8s} {'MLMD calls':>11s}")
    first = None
    for label, url in PAGES.items():
        median, worst, calls = time_page(client, opener, url, args.repeats)
        first = median if first is None else first
        print(f"{label:40s} {median:10.1f} {worst:8.1f} {calls:11d}")
    verdict = "meets" if first < TARGET_MS else "MISSES"
    print(f"\nthe first runs page {verdict} the {TARGET_MS:.0f} ms target ({first:.1f} ms)")
    return 0 if first < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
