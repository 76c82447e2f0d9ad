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

    report = delete_runs(store, [run])

    # every execution of the run, the sub-pipeline's included
    assert report.executions == len(executions) and raw.get_executions_by_id(sorted(executions)) == []
    left = contexts_by_type(raw)
    assert not ({run, *inner} & left["pipeline_run"])
    assert raw.get_context_by_type_and_name("pipeline_run", run) is None and run_context is not None
    assert not ({"outer", "training"} & left["pipeline"])
    assert not any(n.startswith(("outer.", "training.")) for n in left["node"])
    # TFX's orchestrator keeps its own records per pipeline, tied to no run: they stay
    assert left["__ORCHESTRATOR__"] == {"outer", "training"}
    assert run_names(store) == set(others)
    others_read_the_same(store, others, before)
    assert_store_consistent(BackendSpec("sqlite", "sqlite", {"path": str(path)}))


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
