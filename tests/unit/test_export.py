"""Exports of lineage graphs: JSON, DOT, Mermaid, SVG (Graphviz) and text."""
from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ElementTree

import pytest

from post_execution_helpers import LocalTestStack, record_training
from zen_mlmd.mlmd.store import MetadataStore, in_memory_connection_config
from zen_mlmd.post_execution import get_run, to_dot, to_json, to_mermaid, to_svg, to_text
from zen_mlmd.post_execution.export import GraphvizError


@pytest.fixture
def run(tmp_path):
    store = MetadataStore(in_memory_connection_config())
    return get_run(record_training(LocalTestStack(store, tmp_path / "a"), run_name="r1"), store)


@pytest.fixture
def graph(run):
    return run.steps["train"].outputs["model"].lineage()


def test_json_round_trips(graph):
    data = json.loads(to_json(graph))
    assert data["root"] == graph.root
    assert {n["key"] for n in data["nodes"]} == {n.key for n in graph.nodes}
    assert len(data["edges"]) == len(graph.edges)
    assert all({"source", "target", "name"} <= set(e) for e in data["edges"])


def test_dot_names_every_node_and_edge(graph):
    dot = to_dot(graph)
    assert dot.startswith('digraph "lineage" {') and dot.rstrip().endswith("}")
    for node in graph.nodes:
        assert f'"{node.key}" [label="{node.name}\\n' in dot
    assert dot.count(" -> ") == len(graph.edges)


def test_mermaid_is_a_flowchart(graph):
    text = to_mermaid(graph)
    assert text.startswith("flowchart TB\n")  # load -> data -> split -> train_set -> train -> model
    assert text.count('subgraph run0["run r1"]') == 1 and text.count("r1") == 1
    assert text.count("-->") == len(graph.edges)
    assert '"model<br/>zen_mlmd.Model #' in text


def test_text_reads_from_the_model_back_to_the_data(graph):
    lines = to_text(graph).splitlines()
    assert lines[0].startswith("model (zen_mlmd.Model #")
    assert lines[1] == "└── <- train [completed, run r1]"
    assert "<- train (zen_mlmd.Dataset #" in lines[2] and lines[2].endswith("as train_set")
    assert "<- split [completed, run r1]" in lines[3]
    assert "<- load [completed, run r1]" in lines[-1]


def test_text_of_a_run_dag_lists_inputs_and_outputs(run):
    text = to_text(run.dag())
    assert "train [completed, run r1]\n  <- train_set: zen_mlmd.Dataset #" in text
    assert "  -> metrics: zen_mlmd.Metrics #" in text


def test_svg_is_valid_xml_with_the_node_names(graph, tmp_path):
    assert shutil.which("dot"), "Graphviz `dot` is needed for this test: apt-get install graphviz"
    path = to_svg(graph, tmp_path / "lineage.svg")
    root = ElementTree.parse(path).getroot()
    assert root.tag.endswith("svg")
    texts = {element.text for element in root.iter() if element.tag.endswith("text")}
    assert {"model", "train", "split", "load"} <= texts


def test_svg_without_graphviz_says_how_to_install_it(graph, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without the dot program
    with pytest.raises(GraphvizError, match="apt-get install graphviz.*brew install graphviz"):
        to_svg(graph, tmp_path / "x.svg")


# --- a legible picture ----------------------------------------------------------------------
def _two_runs(tmp_path):
    store = MetadataStore(in_memory_connection_config())
    stack = LocalTestStack(store, tmp_path / "a")
    first = record_training(stack, run_name="training-2026_12_05-14_16_19_980445")
    second = record_training(stack, run_name="training-2026_12_05-14_16_24_581845", C=0.5)
    return get_run(first, store), get_run(second, store)


def test_each_run_is_named_once_in_its_own_box(tmp_path):
    first, second = _two_runs(tmp_path)
    graph = first.steps["split"].outputs["train"].lineage("both")
    dot = to_dot(graph)
    for run in (first, second):
        assert dot.count(run.name) == 1
        assert f'label="run {run.name}"' in dot
    assert dot.count("subgraph cluster_") == 2
    assert "rankdir=TB;" in dot  # load -> ... -> metrics is longer than a screen is wide
    # the run's box holds its steps and their outputs
    box = dot.split("subgraph cluster_1")[1].split("}")[0]
    assert box.count("shape=box") == 2 and box.count("shape=note") == 3  # train, evaluate (+ n_test)


def test_labels_are_wrapped_and_edges_named_only_where_the_name_differs(tmp_path):
    from zen_mlmd.post_execution.export import LABEL_WIDTH

    first, _ = _two_runs(tmp_path)
    dot = to_dot(first.steps["evaluate"].outputs["metrics"].lineage())
    labels = [line.split('label="')[1].split('"')[0] for line in dot.splitlines()
              if "shape=" in line]
    assert all(len(part) <= LABEL_WIDTH for label in labels for part in label.split("\\n"))
    edge_labels = {line.split('label="')[1].split('"')[0] for line in dot.splitlines()
                   if " -> " in line and "label=" in line}
    assert edge_labels == {"data", "train_set", "test_set"}  # inputs named unlike their artifact


def test_a_short_chain_stays_left_to_right(tmp_path):
    first, _ = _two_runs(tmp_path)
    dot = to_dot(first.steps["load"].outputs["output"].lineage())
    assert "rankdir=LR;" in dot


def test_the_rendered_picture_fits_a_screen(tmp_path):
    """The quickstart's lineage over two runs was 2100 pt wide in one row; now it fits."""
    assert shutil.which("dot"), "Graphviz `dot` is needed for this test: apt-get install graphviz"
    first, _ = _two_runs(tmp_path)
    graph = first.steps["split"].outputs["train"].lineage("both")
    root = ElementTree.parse(to_svg(graph, tmp_path / "both.svg")).getroot()
    width, height = (float(root.get(side).removesuffix("pt")) for side in ("width", "height"))
    assert width <= 800 and height <= 1000, (width, height)
    texts = [element.text for element in root.iter() if element.tag.endswith("text")]
    assert texts.count(f"run {first.name}") == 1


def test_long_generated_names_break_where_their_parts_join():
    from zen_mlmd.post_execution.export import _wrap

    assert _wrap("preprocess_the_training_features_step") == ["preprocess_the_training_", "features_step"]
    assert _wrap("zen_mlmd.ClassificationMetrics #1234") == ["zen_mlmd.", "ClassificationMetrics", "#1234"]
    assert _wrap("x" * 30) == ["x" * 24, "x" * 6]
