"""Lineage graphs: from one MLMD lineage query, and a run's DAG without any call."""
from __future__ import annotations

import pytest

from post_execution_helpers import LocalTestStack, record_training
from zen_mlmd.errors import ConfigError, UnknownNameError
from zen_mlmd.mlmd.store import MetadataStore, in_memory_connection_config
from zen_mlmd.post_execution import get_run
from zen_mlmd.post_execution.lineage import artifact_lineage
from zen_mlmd.post_execution.session import ReadSession


@pytest.fixture
def store() -> MetadataStore:
    return MetadataStore(in_memory_connection_config(), store_name="memory")


@pytest.fixture
def stack(store, tmp_path) -> LocalTestStack:
    return LocalTestStack(store, tmp_path / "artifacts")


def test_model_lineage_reaches_the_dataset_through_the_steps_in_one_query(store, stack):
    run = get_run(record_training(stack, run_name="first"), store)
    model = run.steps["train"].outputs["model"]
    store.reset_counts()
    graph = model.lineage()
    assert store.calls["GetLineageSubgraph"] == 1
    # the client fills in node details: one call for artifacts, one for executions
    assert store.total_calls <= 3
    assert graph.root == f"artifact:{model.id}" and graph.direction == "upstream"
    train = graph.edges_into(graph.root)
    assert [graph.node(e.source).name for e in train] == ["train"]
    train_set = graph.edges_into(train[0].source)
    assert [(e.name, graph.node(e.source).type) for e in train_set] == [("train_set", "zen_mlmd.Dataset")]
    split = graph.node(graph.edges_into(train_set[0].source)[0].source)
    assert (split.name, split.status, split.run_name) == ("split", "completed", "first")
    assert {n.name for n in graph.steps} == {"load", "split", "train"}
    assert "evaluate" not in {n.name for n in graph.nodes}


def test_downstream_and_both_directions(store, stack):
    run = get_run(record_training(stack), store)
    dataset = run.steps["split"].outputs["train"]
    downstream = dataset.lineage("downstream")
    assert {n.name for n in downstream.steps} == {"train", "evaluate"}
    both = dataset.lineage("both", max_hops=1)
    assert {n.name for n in both.steps} == {"split", "train"}


def test_cached_run_lineage_leads_to_the_first_runs_producing_execution(store, stack):
    first = get_run(record_training(stack, run_name="first"), store)
    second = get_run(record_training(stack, run_name="second"), store)
    model = second.steps["train"].outputs["model"]
    graph = model.lineage(include_cached=True)
    producers = [graph.node(e.source) for e in graph.edges_into(graph.root)]
    assert {(p.name, p.status, p.run_name) for p in producers} == {
        ("train", "completed", "first"), ("train", "cached", "second")}
    assert first.steps["train"].id in {p.id for p in producers}
    assert second.steps["train"].original.id == first.steps["train"].id


def test_cached_executions_are_folded_into_the_step_they_reused(store, stack):
    first = get_run(record_training(stack, run_name="first"), store)
    for name in ("second", "third"):
        record_training(stack, run_name=name)
    graph = first.steps["train"].outputs["model"].lineage()
    assert {(n.name, n.status) for n in graph.steps} == {
        ("load", "completed"), ("split", "completed"), ("train", "completed")}
    [train] = [n for n in graph.steps if n.name == "train"]
    assert train.reused_by == ("second", "third")
    assert "reused by 2 run(s)" in graph.to_text()
    everything = first.steps["train"].outputs["model"].lineage(include_cached=True)
    assert len(everything.steps) == 9  # three runs of load, split, train


def test_run_dag_needs_no_call_once_the_run_is_read(store, stack):
    run = get_run(record_training(stack), store)
    run.steps  # read the run
    store.reset_counts()
    dag = run.dag()
    assert store.total_calls == 0
    assert [n.name for n in dag.steps] == ["load", "split", "train", "evaluate"]
    evaluate = next(n for n in dag.steps if n.name == "evaluate")
    assert sorted(e.name for e in dag.edges_into(evaluate.key)) == ["model", "test_set"]
    assert sorted(e.name for e in dag.edges_from(evaluate.key)) == ["metrics", "n_test"]


def test_bad_requests_fail_clearly(store, stack):
    record_training(stack)
    session = ReadSession(store)
    with pytest.raises(UnknownNameError, match="artifact id '999'"):
        artifact_lineage(session, 999)
    with pytest.raises(ConfigError, match="direction"):
        artifact_lineage(session, 1, direction="sideways")
    with pytest.raises(ConfigError, match="max_hops"):
        artifact_lineage(session, 1, max_hops=1000)
