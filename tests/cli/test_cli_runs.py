"""`zen-mlmd pipeline|run|artifact ...` on runs recorded in the active stack's store."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import pytest
from click.testing import CliRunner

from post_execution_helpers import training
from zen_mlmd.cli import main

NOUNS = {
    "pipeline": "zen_mlmd.cli.pipeline:pipeline",
    "run": "zen_mlmd.cli.run:run",
    "artifact": "zen_mlmd.cli.artifact:artifact",
}


@pytest.fixture
def cli(monkeypatch, config_dir):
    for noun, target in NOUNS.items():  # also before the nouns are in the root table
        monkeypatch.setitem(main.COMMANDS, noun, target)
    runner = CliRunner()

    def invoke(*args: str, expect: int = 0):
        result = runner.invoke(main.cli, list(args))
        assert result.exit_code == expect, result.output
        assert "Traceback" not in result.output
        return result

    return invoke


@pytest.fixture
def recorded(cli):
    from zen_mlmd.stack import get_active_stack

    stack = get_active_stack()
    for name, c in (("first", 1.0), ("second", 1.0), ("third", 2.0)):
        training.run(stack=stack, quiet=True, run_name=f"training-{name}", C=c)
    return ["training-third", "training-second", "training-first"]


def test_pipeline_and_run_lists(cli, recorded):
    assert cli("pipeline", "list").stdout.splitlines()[1].split()[0] == "training"
    rows = [line.split() for line in cli("run", "list").stdout.splitlines()]
    assert rows[0][:3] == ["RUN", "PIPELINE", "STATUS"]
    assert [(r[0], r[2]) for r in rows[1:]] == [
        ("training-third", "completed"), ("training-second", "cached"), ("training-first", "completed")]
    assert [r["name"] for r in json.loads(cli("run", "list", "--limit", "2", "--json").stdout)] == recorded[:2]
    cached = json.loads(cli("run", "list", "--status", "cached", "--pipeline", "training", "--json").stdout)
    assert [r["name"] for r in cached] == ["training-second"]


def test_run_describe(cli, recorded):
    text = cli("run", "describe", "training-second").stdout
    assert "Run 'training-second' of pipeline 'training'" in text
    assert "  train [cached]" in text and "cached from run 'training-first'" in text
    assert "parameters: C=1.0" in text and "model: zen_mlmd.Model #" in text
    assert text.index("  load [") < text.index("  split [") < text.index("  train [") < text.index("  evaluate [")
    data = json.loads(cli("run", "describe", "training-first", "--json").stdout)
    assert [s["name"] for s in data["steps"]] == ["load", "split", "train", "evaluate"]
    assert data["steps"][2]["outputs"]["model"]["uri"].endswith("/training-first/train/model")


def test_unknown_names_are_one_line_errors_with_suggestions(cli, recorded):
    result = cli("run", "describe", "training-thrid", expect=2)
    assert "Error: unknown run 'training-thrid'; did you mean 'training-third'" in result.output
    result = cli("run", "list", "--pipeline", "trainnig", expect=2)
    assert "did you mean 'training'" in result.output
    assert "unknown artifact id '999'" in cli("artifact", "lineage", "999", expect=2).output


def test_artifact_describe_and_lineage(cli, recorded, tmp_path):
    run = json.loads(cli("run", "describe", "training-first", "--json").stdout)
    model_id = run["steps"][2]["outputs"]["model"]["id"]
    described = json.loads(cli("artifact", "describe", str(model_id), "--json").stdout)
    assert described["type"] == "zen_mlmd.Model"
    assert described["producer"]["step"] == "train" and described["producer"]["run"] == "training-first"
    text = cli("artifact", "lineage", str(model_id)).stdout
    assert text.splitlines()[0] == f"model (zen_mlmd.Model #{model_id})"
    assert "<- split [completed, run training-first" in text  # (reused by later runs)
    graph = json.loads(cli("artifact", "lineage", str(model_id), "--format", "json").stdout)
    assert graph["root"] == f"artifact:{model_id}"
    assert cli("artifact", "lineage", str(model_id), "--format", "dot").stdout.startswith("digraph")
    assert cli("artifact", "lineage", str(model_id), "--format", "mermaid",
               "--direction", "downstream").stdout.startswith("flowchart LR")
    svg = tmp_path / "model.svg"
    cli("artifact", "lineage", str(model_id), "--format", "svg", "--output", str(svg))
    assert ElementTree.parse(svg).getroot().tag.endswith("svg")


def test_run_compare(cli, recorded):
    lines = cli("run", "compare", *recorded).stdout.splitlines()
    assert lines[0].split()[:4] == ["run", "start_time", "status", "train.C"]
    data = json.loads(cli("run", "compare", "training-first", "training-third",
                          "--param", "load.n_samples", "--metric", "evaluate.metrics.accuracy",
                          "--json").stdout)
    assert [sorted(row) for row in data][0] == sorted(
        ["run", "start_time", "status", "load.n_samples", "evaluate.metrics.accuracy"])
    assert "did you mean 'train.C'" in cli("run", "compare", "training-first", "--param", "train.c",
                                            expect=2).output


def test_empty_store(cli, config_dir):
    # a fresh install: the default store's file does not exist yet; listings
    # say there is nothing, other reads say why, and nothing is created
    database = config_dir / "local_stores" / "default" / "metadata.db"
    assert cli("run", "list").stdout.strip() == "No runs recorded yet."
    assert "No pipelines recorded yet" in cli("pipeline", "list").stdout
    assert "holds no records yet" in cli("run", "describe", "anything", expect=1).output
    assert not database.exists()
    cli("metadata-store", "init")
    assert cli("run", "list").stdout.strip() == "No runs recorded yet."
    assert "No pipelines recorded yet" in cli("pipeline", "list").stdout
