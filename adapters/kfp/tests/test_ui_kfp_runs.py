"""The web view over runs Kubeflow Pipelines v2 recorded (`kfp_v2_runs`), on SQLite and MariaDB.

Sub-pipelines and loop iterations are drawn as groups; a cached task links
to the task whose outputs it reused; metrics come from the artifacts'
records; KFP's artifact files (minio://) are outside every artifact store
known here, and the page says so.
"""
from __future__ import annotations

import json
import re

import pytest
from ml_metadata.metadata_store import metadata_store

from backends import connection_config
from kfp_v2_runs import PIPELINE, RUN_1, RUN_2, write_training_runs
from ui_helpers import count_calls, register_store, ui_client

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "mysql"], indirect=True)


@pytest.fixture
def kfp_ui(backend):
    first, second = write_training_runs(metadata_store.MetadataStore(connection_config(backend)))
    client, opener = ui_client(register_store(backend, "kfp"))
    return client, opener, first, second


def elements(html: str) -> list[dict]:
    found = re.search(r'<script type="application/json" id="dag-elements">(.*?)</script>', html, re.S)
    return [e["data"] for e in json.loads(found.group(1))]


def test_runs_page_lists_kfp_runs_with_their_statuses(kfp_ui):
    client, _, _, _ = kfp_ui
    html = client.get("/runs").text
    assert f'data-run="{RUN_1}"' in html and f'data-run="{RUN_2}"' in html
    row_2 = html[html.index(f'data-run="{RUN_2}"'):].split("</tr>")[0]
    assert 'data-status="failed"' in row_2 and "Kubeflow Pipelines" in row_2
    assert f'href="/runs?pipeline={PIPELINE}"' in html
    # KFP never ends its root DAG: a run's status follows from its tasks
    completed = client.get("/runs", params={"pipeline": PIPELINE, "status": "completed"}).text
    assert f'data-run="{RUN_1}"' in completed and f'data-run="{RUN_2}"' not in completed


def test_run_page_groups_loop_iterations_and_sub_pipelines(kfp_ui):
    client, _, _, _ = kfp_ui
    data = elements(client.get(f"/runs/{RUN_1}").text)
    groups = {d["id"]: d for d in data if d.get("kind") == "group"}
    assert {"group:for-loop-2", "group:for-loop-2[0]", "group:for-loop-2[1]", "group:for-loop-2[2]",
            "group:evaluate-pipeline"} <= set(groups)
    assert groups["group:for-loop-2[1]"]["parent"] == "group:for-loop-2"
    assert groups["group:for-loop-2[1]"]["label"] == "iteration 1"
    steps = {d["name"]: d for d in data if d.get("kind") == "step"}
    assert steps["for-loop-2[1]/train"]["parent"] == "group:for-loop-2[1]"
    assert steps["for-loop-2[1]/train"]["label"] == "train"
    assert steps["evaluate-pipeline/report"]["parent"] == "group:evaluate-pipeline"
    assert "parent" not in steps["make-data"]
    assert {d["status"] for d in steps.values()} == {"completed"}


def test_a_cached_task_links_to_the_original_and_a_failed_one_shows_its_state(kfp_ui):
    client, _, first, second = kfp_ui
    html = client.get(f"/runs/{RUN_2}").text
    steps = {d["name"]: d["status"] for d in elements(html) if d.get("kind") == "step"}
    assert steps["make-data"] == "cached" and steps["for-loop-2[2]/train"] == "failed"
    assert f'from <a href="/runs/{RUN_1}?step={first.executions["make-data"]}"' in html
    detail = client.get(f"/steps/{second.executions['make-data']}", params={"run": RUN_2}).text
    assert "Kubeflow Pipelines served this step from its cache" in detail
    detail = client.get(f"/steps/{first.executions['for-loop-2[0]/train']}", params={"run": RUN_1}).text
    assert "<th>lr</th><td><code>0.1</code>" in detail
    assert "Kubeflow Pipelines does not record why a step ran" in detail
    assert "its cache fingerprint was" in detail


def test_kfp_metrics_and_files_on_the_artifact_page(kfp_ui):
    client, _, first, _ = kfp_ui
    html = client.get(f"/artifacts/{first.artifacts['for-loop-2[1]/train.metrics']}").text
    section = html[html.index('id="preview"'):]
    assert 'data-kind="metrics"' in section and "0.91" in section and "accuracy" in section
    assert "outside every artifact store" in section
    dataset = client.get(f"/artifacts/{first.artifacts['make-data.dataset']}").text
    assert "minio://mlpipeline/v2/artifacts" in dataset and 'data-kind="unavailable"' in dataset
    assert "secretkey" not in dataset or "••••••" in dataset


def test_comparing_kfp_runs_reads_metrics_from_their_records(kfp_ui):
    client, _, _, _ = kfp_ui
    html = client.get("/compare", params={"pipeline": PIPELINE, "runs": [RUN_1, RUN_2]}).text
    assert 'data-row="for-loop-2[1]/train.metrics.accuracy"' in html
    row = re.search(r'data-row="for-loop-2\[1\]/train.metrics.accuracy">(.*?)</tr>', html, re.S).group(1)
    assert "0.91" in row


def test_kfp_pages_cost_bounded_calls(kfp_ui):
    client, opener, first, _ = kfp_ui
    _, run_calls = count_calls(client, opener, f"/runs/{RUN_1}")
    assert sum(run_calls.values()) <= 14, run_calls
    _, list_calls = count_calls(client, opener, "/runs")
    assert sum(list_calls.values()) <= 10, list_calls
    _, artifact_calls = count_calls(client, opener, f"/artifacts/{first.artifacts['make-data.dataset']}")
    # the lineage query, and the contexts that name the producing task (KFP names tasks by their DAGs)
    assert artifact_calls["GetLineageSubgraph"] <= 3 and sum(artifact_calls.values()) <= 20, artifact_calls
