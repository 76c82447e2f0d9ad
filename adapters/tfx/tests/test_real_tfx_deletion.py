"""Deleting runs TFX itself recorded (tfx_runs/, TFX's own code in its own environment).

Each test deletes from a private copy of the session's store (SQLite's
backup, made in another process: the session's file may be open through
MLMD here). The store holds a cached rerun, a failing run, a run with a
failed execution result, an ASYNC pipeline (no run contexts: the pipeline
is the run) and a run with a sub-pipeline (whose inner run contexts
`training_<run id>` and `training_<run id>_<execution id>` hold the
sub-pipeline's executions beside the outer run context). After each
deletion the whole store is read with plain ml_metadata
(`assert_store_consistent`) and the other runs read as before.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
from ml_metadata.metadata_store import metadata_store as mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

from backends import BackendSpec
from lifecycle_helpers import assert_store_consistent, integrity
from tfx_shapes import sqlite_config
from zen_mlmd.lifecycle import delete_runs
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.post_execution import get_artifact

BACKUP = ("import sqlite3, sys; source = sqlite3.connect(sys.argv[1]); copy = sqlite3.connect(sys.argv[2]); "
          "source.backup(copy); copy.close(); source.close()")


@pytest.fixture
def copied(tfx_store, tmp_path):
    """(zen_mlmd store, plain ml_metadata store, run ids by scenario, path) on a private copy."""
    path = tmp_path / "tfx-copy.db"
    subprocess.run([sys.executable, "-c", BACKUP, str(tfx_store.path), str(path)], check=True, timeout=120)
    config = sqlite_config(path)
    store = MetadataStore(config, store_name="tfx-copy")
    yield store, mlmd.MetadataStore(config), tfx_store.run_ids, path
    store.close()


def steps_of(store, run_name: str) -> list[tuple]:
    reader = StoreReader(store)
    data = reader.read_run(reader.get_run(run_name))
    return [(s.id, s.name, s.state, s.inputs, s.outputs) for s in data.steps]


def run_names(store) -> set[str]:
    return {r.name for r in StoreReader(store).iter_runs()}


def contexts_by_type(raw) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    types = {t.id: t.name for t in raw.get_context_types()}
    for context in raw.get_contexts():
        found.setdefault(types[context.type_id], set()).add(context.name)
    return found


def orchestrator_records(raw) -> dict[int, tuple[str, str]]:
    """TFX's orchestrator executions: id -> (pipeline id, the run id they name)."""
    return {e.id: (context.name, e.custom_properties["pipeline_run_id"].string_value)
            for context in raw.get_contexts_by_type("__ORCHESTRATOR__")
            for e in raw.get_executions_by_context(context.id)}


def another_run_recorded_by_the_orchestrator(raw, pipeline_id: str, run_id: str) -> int:
    """An ended run's execution in the pipeline's orchestrator context, as TFX's
    `pipeline_state.PipelineState.new` writes it (tfx <= 1.15), then ended."""
    [context] = [c for c in raw.get_contexts_by_type("__ORCHESTRATOR__") if c.name == pipeline_id]
    execution = pb.Execution(type_id=raw.get_execution_type("__ORCHESTRATOR__").id,
                             name=f"orchestrator-{run_id}", last_known_state=pb.Execution.COMPLETE)
    execution.custom_properties["pipeline_run_id"].string_value = run_id
    execution_id, _, _ = raw.put_execution(execution, [], [context])
    return execution_id


def others_read_the_same(store, names, before) -> None:
    for name in names:
        assert steps_of(store, name) == before[name], name


def test_a_cached_reruns_first_run_goes_and_its_outputs_stay_for_the_second(copied):
    store, raw, run_ids, path = copied
    first, second = sorted(run_ids["cached_rerun"])
    others = [*run_ids["failing"], *run_ids["execution_result"], *run_ids["subpipeline"], "taxi_stream"]
    before = {name: steps_of(store, name) for name in [second, *others]}
    reader = StoreReader(store)
    first_steps = reader.read_run(reader.get_run(first)).steps
    outputs = {a for s in first_steps for ids in s.outputs.values() for a in ids}
    second_steps = {s[1]: s[0] for s in before[second]}
    [model] = next(s[4]["model"] for s in before[second] if s[1] == "Train")

    report = delete_runs(store, [first])

    assert report.executions == 3 and report.artifacts == ()  # every output was reused
    assert {a.id for a in report.kept} == outputs
    assert raw.get_executions_by_id([s.id for s in first_steps]) == []
    assert {a.id for a in raw.get_artifacts_by_id(sorted(outputs))} == outputs
    assert first not in contexts_by_type(raw)["pipeline_run"]
    others_read_the_same(store, [second, *others], before)
    # the model's lineage now runs through the second run's cached executions
    graph = get_artifact(model, store).lineage()
    assert {n.id for n in graph.nodes if n.kind == "step"} == set(second_steps.values())
    assert_store_consistent(BackendSpec("sqlite", "sqlite", {"path": str(path)}))

    report = delete_runs(store, [second])

    assert report.executions == 3 and {a.id for a in report.artifacts} == outputs
    assert raw.get_artifacts_by_id(sorted(outputs)) == []
    left = contexts_by_type(raw)
    assert "taxi" not in left["pipeline"]  # its last run went: the pipeline, nodes and cache entries too
    assert not any(name.startswith("taxi.") for name in left["node"])
    others_read_the_same(store, others, before)
    assert_store_consistent(BackendSpec("sqlite", "sqlite", {"path": str(path)}))
    assert integrity(path) == "ok"


def test_a_run_with_a_sub_pipeline_goes_whole(copied):
    store, raw, run_ids, path = copied
    [run] = run_ids["subpipeline"]
    others = [*run_ids["cached_rerun"], *run_ids["failing"], *run_ids["execution_result"], "taxi_stream"]
    before = {name: steps_of(store, name) for name in others}
    contexts = contexts_by_type(raw)
    inner = {name for name in contexts["pipeline_run"] if name.startswith(f"training_{run}")}
    assert len(inner) == 2  # training_<run id>, training_<run id>_<execution id>
    run_context = raw.get_context_by_type_and_name("pipeline_run", run)
    executions = {e.id for c in (run, *inner)
                  for e in raw.get_executions_by_context(raw.get_context_by_type_and_name("pipeline_run", c).id)}
    names = [s[1] for s in steps_of(store, run)]
    assert "training/Fit" in names  # a step of the sub-pipeline
    # TFX's orchestrator records each run (the sub-pipeline's too) in a context per pipeline
    records = orchestrator_records(raw)
    assert {name for name, _ in records.values()} == {"outer", "training"}
    assert {run_id for _, run_id in records.values()} == {run, *inner} - {f"training_{run}"}
    other = another_run_recorded_by_the_orchestrator(raw, "outer", "outer-run-0")

    report = delete_runs(store, [run])

    # every execution of the run, the sub-pipeline's and the orchestrator's included
    assert report.executions == len(executions) + len(records)
    assert raw.get_executions_by_id(sorted({*executions, *records})) == []
    assert orchestrator_records(raw) == {other: ("outer", "outer-run-0")}
    left = contexts_by_type(raw)
    assert not ({run, *inner} & left["pipeline_run"])
    assert raw.get_context_by_type_and_name("pipeline_run", run) is None and run_context is not None
    assert not ({"outer", "training"} & left["pipeline"])
    assert not any(n.startswith(("outer.", "training.")) for n in left["node"])
    # the orchestrator's context of a pipeline stays while another run's record is in it
    assert left["__ORCHESTRATOR__"] == {"outer"}
    assert run_names(store) == set(others)
    others_read_the_same(store, others, before)
    assert_store_consistent(BackendSpec("sqlite", "sqlite", {"path": str(path)}))


@pytest.mark.parametrize("backend", ["mysql", "postgresql"], indirect=True)
def test_a_sub_pipeline_run_goes_with_its_orchestrator_records_from_a_database_server(copied, backend):
    """The same deletion on MariaDB and PostgreSQL, the store copied there with
    `zen-mlmd metadata-store copy`: the orchestrator's records are found by SQL too."""
    from click.testing import CliRunner

    from backends import connection_config
    from zen_mlmd.cli.main import cli
    from zen_mlmd.stack import StackRegistry

    _, raw, run_ids, path = copied
    [run] = run_ids["subpipeline"]
    registry = StackRegistry()
    registry.register_metadata_store("tfx-copy", "sqlite", {"path": str(path)})
    registry.register_metadata_store("server", backend.flavor, dict(backend.options))
    result = CliRunner().invoke(cli, ["metadata-store", "copy", "tfx-copy", "server", "--json"])
    assert result.exit_code == 0, result.output
    store = MetadataStore(connection_config(backend), store_name="server")
    served = mlmd.MetadataStore(connection_config(backend))
    records = orchestrator_records(served)
    assert sorted(records.values())[0] == ("outer", run) and len(records) == 2  # and "training"'s
    executions = len(served.get_executions())

    report = delete_runs(store, [run])

    assert orchestrator_records(served) == {}
    assert "__ORCHESTRATOR__" not in contexts_by_type(served)  # emptied: no other run used them
    assert len(served.get_executions()) == executions - report.executions
    store.close()
    assert_store_consistent(backend)


def test_an_async_pipeline_is_one_run_and_goes_whole(copied):
    store, raw, run_ids, path = copied
    others = [*run_ids["cached_rerun"], *run_ids["failing"], *run_ids["execution_result"],
              *run_ids["subpipeline"]]
    before = {name: steps_of(store, name) for name in others}
    pipeline = raw.get_context_by_type_and_name("pipeline", "taxi_stream")
    executions = {e.id for e in raw.get_executions_by_context(pipeline.id)}
    artifacts = {a.id for a in raw.get_artifacts_by_context(pipeline.id)}
    assert len(executions) == 3 and artifacts  # two Importer executions and a Fit

    report = delete_runs(store, ["taxi_stream"])

    assert report.executions == 3 and {a.id for a in report.artifacts} == artifacts
    assert raw.get_executions_by_id(sorted(executions)) == []
    left = contexts_by_type(raw)
    assert "taxi_stream" not in left["pipeline"]
    assert not any(n.startswith("taxi_stream.") for n in left["node"])
    assert run_names(store) == set(others)
    others_read_the_same(store, others, before)
    assert_store_consistent(BackendSpec("sqlite", "sqlite", {"path": str(path)}))
