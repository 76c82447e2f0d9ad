"""A run's page: its DAG with step statuses, a step's details, a running run's statuses."""
from __future__ import annotations

import json
import re

import pytest

from ui_fixtures import UI_BACKENDS
from ui_helpers import count_calls

pytestmark = pytest.mark.parametrize("backend", UI_BACKENDS, indirect=True)


def dag_elements(html: str) -> list[dict]:
    return json.loads(re.search(r'<script type="application/json" id="dag-elements">(.*?)</script>',
                                html, re.S).group(1))


def test_run_page_draws_the_dag_with_step_statuses(native_runs):
    first, _, cached = native_runs.names
    html = native_runs.client.get(f"/runs/{cached}").text
    elements = dag_elements(html)
    steps = {e["data"]["name"]: e["data"]["status"] for e in elements if e["data"].get("kind") == "step"}
    assert steps == {"load": "cached", "split": "cached", "train": "cached", "evaluate": "cached"}
    artifacts = {e["data"]["label"] for e in elements if e["data"].get("kind") == "artifact"}
    assert {"model", "metrics", "train", "test"} <= artifacts
    edges = [e for e in elements if "source" in e["data"]]
    assert all(e["data"]["source"] in {x["data"]["id"] for x in elements} for e in edges)
    # a cached step links to the run whose outputs it reused
    second = native_runs.names[1]
    assert f'from <a href="/runs/{second}?step=' in html or f'from <a href="/runs/{first}?step=' in html


def test_a_step_shows_parameters_inputs_outputs_timing_and_why_it_ran(native_runs):
    client = native_runs.client
    second = native_runs.names[1]
    html = client.get(f"/runs/{second}", params={"step": "train"}).text
    detail = html[html.index('id="step-detail"'):]
    assert "<th>C</th><td><code>2.0</code>" in detail
    assert "Inputs" in detail and 'class="artifact-link"' in detail
    assert "Duration" in detail
    assert "Cache decision: <span class=\"cache-status cache-miss\">miss</span>" in detail
    assert "parameters changed (C: 1.0 -&gt; 2.0)" in detail
    # the panel the page loads when another step is picked
    execution_id = re.search(r'data-execution-id="(\d+)" data-step="evaluate"', html).group(1)
    fragment = client.get(f"/steps/{execution_id}", params={"run": second})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'data-execution-id="%s"' % execution_id in fragment.text


def test_a_failed_step_opens_with_its_traceback(showcase):
    html = showcase.client.get(f"/runs/{showcase.run}").text
    assert 'data-status="failed"' in html
    detail = html[html.index('id="step-detail"'):]
    assert "<strong>ValueError</strong>: 3 rows have no label" in detail
    assert "Traceback (most recent call last)" in detail and "raise ValueError" in detail


def test_a_running_run_polls_its_statuses(metadata_store, backend, tmp_path):
    from ui_helpers import register_store, ui_client
    from zen_mlmd.tracking.recorder import Recorder

    run = Recorder(metadata_store).start_run("live", "live-1")
    first = run.start_step("first", "tests.first")
    first.publish({})
    second = run.start_step("second", "tests.second")
    client, opener = ui_client(register_store(backend, "live"))
    html = client.get("/runs/live-1").text
    assert 'data-poll="3000"' in html and 'data-status-url="/api/runs/live-1"' in html
    response, calls = count_calls(client, opener, "/api/runs/live-1")
    state = response.json()
    assert state["status"] == "running"
    # what the page asks every 3 s: the run, its steps and their events, whatever its size
    assert sum(calls.values()) <= 4 and calls["GetExecutionsByContext"] == 1, calls
    assert sorted(state["steps"].values()) == ["completed", "running"]
    assert client.get("/api/runs/live-1").headers["cache-control"] == "no-store"
    second.publish({})
    run.finish()
    response, finished_calls = count_calls(client, opener, "/api/runs/live-1")
    state = response.json()
    assert state["status"] == "completed" and set(state["steps"].values()) == {"completed"}
    assert finished_calls == calls
    assert "data-poll" not in client.get("/runs/live-1").text


#: Records a run on the backend given as JSON, publishes one step, starts a second and waits to be killed.
KILLED_CHILD = """
import json, sys, time
from pathlib import Path
from backends import BackendSpec, connection_config
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.tracking.recorder import Recorder

spec = BackendSpec(**json.loads(sys.argv[1]))
run = Recorder(MetadataStore(connection_config(spec))).start_run("killed", "killed-1")
run.start_step("first", "tests.first").publish({})
run.start_step("second", "tests.second")
Path(sys.argv[2]).write_text("started")
time.sleep(120)
"""


def test_a_run_whose_process_was_killed_shows_as_interrupted(metadata_store, backend, tmp_path):
    import dataclasses
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from ui_helpers import register_store, ui_client

    tests = Path(__file__).resolve().parents[1]
    started = tmp_path / "started"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, json.dumps(dataclasses.asdict(backend)), str(started)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tests.parent), str(tests)])},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60  # a bound on waiting for the child, not a timing assertion
        while not started.exists():
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the child never started its second step"
            time.sleep(0.05)
        client, _ = ui_client(register_store(backend, "killed"))
        assert client.get("/api/runs/killed-1").json()["status"] == "running"  # alive: still running
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    html = client.get("/runs/killed-1").text
    assert re.search(r'<h1>[^\n]*data-status="interrupted">interrupted</span></h1>', html), html[:3000]
    assert "data-poll" not in html  # nothing will change any more
    steps = {e["data"]["name"]: e["data"]["status"] for e in dag_elements(html) if e["data"].get("kind") == "step"}
    assert steps == {"first": "completed", "second": "interrupted"}
    state = client.get("/api/runs/killed-1").json()
    assert state["status"] == "interrupted" and sorted(state["steps"].values()) == ["completed", "interrupted"]
    runs = client.get("/runs", params={"status": "interrupted"}).text
    assert 'href="/runs/killed-1"' in runs


def test_an_unknown_run_or_step_is_a_404_page_that_says_so(native_runs):
    client = native_runs.client
    response = client.get(f"/runs/{native_runs.names[0][:-3]}")
    assert response.status_code == 404
    assert "unknown run" in response.text and f"did you mean &#39;{native_runs.names[0]}" in response.text
    response = client.get(f"/runs/{native_runs.names[0]}", params={"step": "deploy"})
    assert response.status_code == 404 and "unknown step &#39;deploy&#39;" in response.text
    assert client.get("/steps/99999", params={"run": native_runs.names[0]}).status_code == 404
    assert client.get("/api/runs/nope").status_code == 404


def test_a_run_page_costs_the_same_calls_whatever_the_run_size(metadata_store, backend, tmp_path):
    from post_execution_helpers import LocalTestStack, chain_pipeline
    from ui_helpers import register_store, ui_client

    stack = LocalTestStack(metadata_store, tmp_path / "artifacts")
    short = chain_pipeline(3).run(stack=stack, quiet=True, enable_cache=False).name
    long = chain_pipeline(30).run(stack=stack, quiet=True, enable_cache=False).name
    client, opener = ui_client(register_store(backend, "sizes", tmp_path / "artifacts"))
    _, short_calls = count_calls(client, opener, f"/runs/{short}")
    _, long_calls = count_calls(client, opener, f"/runs/{long}")
    assert long_calls == short_calls, (short_calls, long_calls)
    assert sum(long_calls.values()) <= 12, long_calls
    # the step panel adds the step's cache history: two calls
    _, step_calls = count_calls(client, opener, f"/runs/{long}?step=identity")
    assert sum(step_calls.values()) - sum(long_calls.values()) <= 2
