"""Compare: runs of a pipeline side by side with differences marked, a metric over time."""
from __future__ import annotations

import re

import pytest

from ui_fixtures import UI_BACKENDS
from ui_helpers import count_calls

pytestmark = pytest.mark.parametrize("backend", UI_BACKENDS, indirect=True)


def test_parameters_and_metrics_side_by_side_with_differences_marked(native_runs):
    first, second, _ = native_runs.names
    response = native_runs.client.get("/compare", params={"pipeline": "training", "runs": [first, second]})
    assert response.status_code == 200
    table = response.text[response.text.index('id="compare-table"'):]
    row = re.search(r'data-row="train.C">(.*?)</tr>', table, re.S).group(1)
    assert re.findall(r"<td( class=\"diff\")?>([^<]*)</td>", row) == [("", "1.0"), (' class="diff"', "2.0")]
    accuracy = re.search(r'data-row="evaluate.metrics.accuracy">(.*?)</tr>', table, re.S).group(1)
    assert 'class="diff"' in accuracy
    same = re.search(r'data-row="evaluate.n_test">(.*?)</tr>', table, re.S).group(1)
    assert 'class="diff"' not in same and "5" in same


def test_a_metric_is_charted_across_the_pipelines_runs(native_runs):
    first, second, third = native_runs.names
    html = native_runs.client.get("/compare", params={
        "pipeline": "training", "runs": [first, second], "metric": "evaluate.metrics.accuracy"}).text
    chart = html[html.index('id="metric-chart"'):]
    points = re.findall(r'class="point" data-run="([^"]+)" data-value="([^"]+)"', chart)
    assert {run for run, _ in points} == {first, second, third}
    values = {run: float(value) for run, value in points}
    assert values[second] == values[third] != values[first]
    assert chart.count('fill="#f57f17"') == 2  # the compared runs stand out


def test_the_picker_lists_the_pipelines_runs(native_runs):
    html = native_runs.client.get("/compare", params={"pipeline": "training"}).text
    assert html.count('name="runs" value="training-') == 3
    assert "Pick two or more runs" in html
    assert native_runs.client.get("/compare").status_code == 200


def test_bad_comparisons_are_clear_errors(native_runs):
    response = native_runs.client.get("/compare", params={"pipeline": "trainin"})
    assert response.status_code == 404 and "did you mean &#39;training&#39;" in response.text
    response = native_runs.client.get("/compare", params={"pipeline": "training", "runs": ["nope"]})
    assert response.status_code == 404 and "unknown run &#39;nope&#39;" in response.text
    many = [f"r{i}" for i in range(11)]
    assert native_runs.client.get("/compare", params={"pipeline": "training", "runs": many}).status_code == 400


def test_compare_costs_a_fixed_number_of_calls_per_run(native_runs):
    first, second, _ = native_runs.names
    url = f"/compare?pipeline=training&runs={first}&runs={second}&window=3"
    _, calls = count_calls(native_runs.client, native_runs.opener, url)
    # the pipeline, the listing, then each of the 3 charted runs read once (the compared ones among them)
    assert calls["GetExecutionsByContext"] == 3, calls
    assert sum(calls.values()) <= 30, calls


def test_a_diverged_metric_is_left_out_of_the_chart_and_said_so(metadata_store, backend, tmp_path):
    import time

    from ui_helpers import register_store, ui_client
    from zen_mlmd.artifacts import ArtifactStore
    from zen_mlmd.tracking.recorder import Recorder

    root = tmp_path / "artifacts"
    recorder = Recorder(metadata_store, ArtifactStore(str(root)))
    # oldest first: the chart's first point is NaN, a later one infinite
    losses = {"fit-nan": float("nan"), "fit-1": 0.5, "fit-inf": float("inf"), "fit-2": 0.25}
    for name, loss in losses.items():
        with recorder.start_run("fit", name) as run:
            step = run.start_step("train", "tests.train")
            step.publish({"scores": [step.save_output("scores", {"loss": loss}, kind="metrics")]})
        time.sleep(0.01)  # distinct start times
    client, _ = ui_client(register_store(backend, "diverged", root))
    response = client.get("/compare", params={"pipeline": "fit", "runs": ["fit-nan", "fit-1"],
                                              "metric": "train.scores.loss"})
    assert response.status_code == 200
    chart = response.text[response.text.index('id="metric-chart"'):]
    points = dict(re.findall(r'class="point" data-run="([^"]+)" data-value="([^"]+)"', chart))
    assert points == {"fit-1": "0.5", "fit-2": "0.25"}
    svg = chart[chart.index("<svg"):chart.index("</svg>")]
    assert "nan" not in svg.lower() and "inf" not in svg.lower()
    note = re.search(r'id="chart-left-out">(.*?)</p>', chart, re.S).group(1)
    assert "2 values are not finite and left out of the chart" in note
    assert '<a href="/runs/fit-nan">fit-nan</a> (nan)' in note and '<a href="/runs/fit-inf">fit-inf</a> (inf)' in note
    # the table still shows them as recorded
    table = response.text[response.text.index('id="compare-table"'):]
    assert re.search(r'data-row="train.scores.loss">.*?<td>nan</td>', table, re.S)
