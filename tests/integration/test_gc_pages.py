"""`gc` over 2,000 runs: read and deleted in pages, a fixed cost per page.

The runs are written with zen_mlmd's writer directly (one step, one output
each) into a SQLite file, so that the store is large without running 2,000
pipelines. Costs are counted: MLMD calls to read the runs, SQL statements
to delete them.
"""
from __future__ import annotations

import sqlite3

from lifecycle_helpers import assert_store_consistent
from tracking_helpers import sqlite_store
from zen_mlmd.artifacts import ArtifactStore
from zen_mlmd.lifecycle.retention import PAGE_SIZE, RetentionPolicy, collect_garbage
from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.writer import RunWriter
from zen_mlmd.post_execution import get_runs

RUNS = 2000
KEPT = 3


def write_runs(store, artifacts: ArtifactStore) -> None:
    writer = RunWriter(store)
    for i in range(RUNS):
        run = writer.start_run("big", f"big-{i:04d}", {}, {})
        handle = writer.start_step(run, records.StepStart(name="make", type_name="tests.make"))
        uri = artifacts.uri_for("big", f"big-{i:04d}", "make", "output")
        writer.publish_step(handle, {"output": [records.OutputArtifact(
            uri=uri, kind="data", materializer="json", data_type="builtins.int")]})
        writer.end_run(run, "completed")


def test_gc_over_2000_runs_works_in_pages(tmp_path):
    path = tmp_path / "big.sqlite"
    store = sqlite_store(path)
    with sqlite3.connect(path) as conn:  # WAL: a faster write of the fixture (persisted in the file)
        conn.execute("PRAGMA journal_mode=WAL")
    artifacts = ArtifactStore(str(tmp_path / "artifacts"))
    write_runs(store, artifacts)
    store.reset_counts()

    dry = collect_garbage(store, RetentionPolicy(keep_last=KEPT), artifact_stores=[artifacts],
                          dry_run=True)
    report = collect_garbage(store, RetentionPolicy(keep_last=KEPT), artifact_stores=[artifacts])

    pages = -(-(RUNS - KEPT) // PAGE_SIZE)
    assert report.pages == dry.pages == pages == 20
    assert len(report.runs) == RUNS - KEPT and sorted(report.runs) == sorted(dry.runs)
    assert len(report.artifacts) == RUNS - KEPT
    # the same statements for every page: none per run
    assert report.statements % pages == 0 and report.statements // pages <= 25
    # reading 2,000 runs (twice) took pages of MLMD calls, not calls per run
    assert store.total_calls < 20 * pages
    assert [r.name for r in get_runs(store=store)] == [f"big-{i:04d}" for i in range(RUNS - 1, RUNS - 1 - KEPT, -1)]
    assert_store_consistent(_spec(path))


def _spec(path):
    from backends import BackendSpec

    return BackendSpec("sqlite", "sqlite", {"path": str(path)})
