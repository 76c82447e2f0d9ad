"""Deleting runs on every backend: records with SQL (gRPC: through the server's delete
extension), shared outputs kept while a run uses them, files after records.

Three runs: run 2 is served entirely from run 1's cache, run 3 has other
parameters. Deleting run 1 keeps the outputs run 2 reused; deleting run 2
then removes them. After every deletion the whole store is read with plain
ml_metadata (`assert_store_consistent`).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle_helpers import assert_store_consistent, lineage_shape, plain_store
from recording_pipelines import EXECUTED, run_data, training
from recording_pipelines import executed_cleared, stack_fixture  # noqa: F401 (fixtures)
from zen_mlmd.errors import UnknownNameError
from zen_mlmd.lifecycle import delete_runs
from zen_mlmd.post_execution import get_artifact, get_run


def record_three_runs(stack):
    training.run(stack=stack, quiet=True, run_name="run-1")
    training.run(stack=stack, quiet=True, run_name="run-2")  # every step from run 1's cache
    training.run(stack=stack, quiet=True, run_name="run-3", n=6)
    return {name: run_data(stack.store, name) for name in ("run-1", "run-2", "run-3")}


def outputs_of(data) -> set[int]:
    return {aid for step in data.steps for ids in step.outputs.values() for aid in ids}


def lineage_of(store, data):
    return {aid: lineage_shape(get_artifact(aid, store).lineage()) for aid in sorted(outputs_of(data))}


def test_deleting_runs_keeps_shared_outputs_until_their_last_user_goes(stack, backend):
    store = stack.store
    data = record_three_runs(stack)
    assert {s.state for s in data["run-2"].steps} == {"CACHED"}
    shared = outputs_of(data["run-1"])
    assert outputs_of(data["run-2"]) == shared
    run1_executions = [s.id for s in data["run-1"].steps]
    before = {name: lineage_of(store, data[name]) for name in ("run-2", "run-3")}
    described = {name: [(s.name, s.status) for s in get_run(name, store).steps] for name in ("run-2", "run-3")}

    report = delete_runs(store, ["run-1"], artifact_stores=[stack.artifacts])

    assert report.runs == ("run-1",) and not report.soft
    assert report.artifacts == ()  # all of run 1's outputs are run 2's too
    assert {a.id for a in report.kept} == shared
    raw = plain_store(backend)
    assert raw.get_context_by_type_and_name("pipeline_run", "run-1") is None
    assert raw.get_executions_by_id(run1_executions) == []
    assert {a.id for a in raw.get_artifacts_by_id(sorted(shared))} == shared
    assert all(Path(a.uri).exists() for a in raw.get_artifacts_by_id(sorted(shared)))
    assert_store_consistent(backend)
    for name in ("run-2", "run-3"):
        assert [(s.name, s.status) for s in get_run(name, store).steps] == described[name]
        assert lineage_of(store, data[name]) == before[name]

    report = delete_runs(store, ["run-2"], artifact_stores=[stack.artifacts])

    assert {a.id for a in report.artifacts} == shared and report.kept == ()
    assert report.bytes > 0
    assert raw.get_artifacts_by_id(sorted(shared)) == []
    uris = [a.uri for a in data["run-1"].artifacts.values()]
    assert not any(Path(uri).exists() for uri in uris)
    assert_store_consistent(backend)
    assert lineage_of(store, data["run-3"]) == before["run-3"]
    # the pipeline and run 3 still read; node contexts stay while run 3 uses them
    assert [r.name for r in (get_run("run-3", store),)] == ["run-3"]

    # the cache entries of the deleted outputs cannot hit any more
    EXECUTED.clear()
    training.run(stack=stack, quiet=True, run_name="run-4")
    assert sorted(EXECUTED) == ["describe", "fit", "load", "score"]


#: Statements are counted on a database connection: the database backends.
DATABASES = ["sqlite", "mysql", "postgresql"]


@pytest.mark.parametrize("backend", DATABASES, indirect=True)
def test_deleting_costs_a_fixed_number_of_statements(stack, backend):
    store = stack.store
    training.run(stack=stack, quiet=True, run_name="small-1", n=3)
    first = delete_runs(store, ["small-1"], artifact_stores=[stack.artifacts])
    for i in range(6):  # a larger store, and a run of the same size
        training.run(stack=stack, quiet=True, run_name=f"grow-{i}", n=10 + i)
    second = delete_runs(store, ["grow-3"], artifact_stores=[stack.artifacts])
    assert first.statements == second.statements <= 25
    assert first.executions == second.executions == 4
    assert_store_consistent(backend)


def test_unknown_and_running_runs_are_refused(stack, backend):
    training.run(stack=stack, quiet=True, run_name="known-run")
    with pytest.raises(UnknownNameError, match="known-run"):
        delete_runs(stack.store, ["knwn-run"], artifact_stores=[stack.artifacts])
    assert get_run("known-run", stack.store).status == "completed"
