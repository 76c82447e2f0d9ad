"""The web view over TFX runs: TFX-shaped stores on SQLite and MariaDB, and a store TFX itself wrote."""
from __future__ import annotations

import json
import re

import pytest
from ml_metadata.metadata_store import metadata_store as mlmd

from backends import BackendSpec, connection_config
from tfx_fixtures import PIPELINE, Written, write_portable_runs
from ui_helpers import count_calls, register_store, ui_client


def elements(html: str) -> list[dict]:
    found = re.search(r'<script type="application/json" id="dag-elements">(.*?)</script>', html, re.S)
    return [e["data"] for e in json.loads(found.group(1))]


@pytest.fixture
def tfx_ui(backend, tmp_path):
    written = write_portable_runs(Written(tmp_path / "unused"), mlmd.MetadataStore(connection_config(backend)))
    client, opener = ui_client(register_store(backend, "tfx"))
    return client, opener, written


@pytest.mark.parametrize("backend", ["sqlite", "mysql"], indirect=True)
def test_tfx_runs_pages(tfx_ui):
    client, opener, written = tfx_ui
    run1, run2 = written.runs["run1"].name, written.runs["run2"].name
    listing = client.get("/runs").text
    assert f'data-run="{run1}"' in listing and f'data-run="{run2}"' in listing
    assert listing.count(">TFX<") == 2
    html = client.get(f"/runs/{run2}").text
    steps = {d["name"]: d["status"] for d in elements(html) if d.get("kind") == "step"}
    assert steps == {"CsvExampleGen": "cached", "StatisticsGen": "cached", "Trainer": "failed"}
    original = written.executions[("run1", "CsvExampleGen")].id
    assert f'from <a href="/runs/{run1}?step={original}"' in html
    trainer = written.executions[("run2", "Trainer")].id
    detail = client.get(f"/steps/{trainer}", params={"run": run2}).text
    assert "taxi_utils_v2.py" in detail and "failed" in detail
    model = written.artifacts[("run1", "Trainer", "model")][0].id
    artifact = client.get(f"/artifacts/{model}", params={"direction": "upstream", "hops": 10}).text
    lineage = re.search(r'id="lineage-elements">(.*?)</script>', artifact, re.S).group(1)
    names = {d["data"].get("name") for d in json.loads(lineage)}
    assert {"CsvExampleGen", "SchemaGen", "StatisticsGen", "Trainer"} <= names
    compared = client.get("/compare", params={"pipeline": PIPELINE, "runs": [run1, run2]})
    assert compared.status_code == 200 and 'data-row="Trainer.module_file"' in compared.text
    _, calls = count_calls(client, opener, f"/runs/{run2}")
    assert sum(calls.values()) <= 16, calls


def test_a_store_tfx_wrote(tfx_store, config_dir):
    spec = BackendSpec("sqlite", "sqlite", {"path": str(tfx_store.path)})
    client, _ = ui_client(register_store(spec, "real-tfx", tfx_store.root))
    first, second = sorted(tfx_store.run_ids["cached_rerun"])
    html = client.get(f"/runs/{second}").text
    assert {d["status"] for d in elements(html) if d.get("kind") == "step"} == {"cached"}
    assert f'from <a href="/runs/{first}?step=' in html
    [failing] = tfx_store.run_ids["failing"]
    listing = client.get("/runs", params={"status": "failed"}).text
    assert f'data-run="{failing}"' in listing
    [outer] = tfx_store.run_ids["subpipeline"]
    assert client.get(f"/runs/{outer}").status_code == 200
    model = re.search(r'"label": "model", "kind": "artifact", "type": "\w+", "artifact_id": (\d+)',
                      client.get(f"/runs/{first}").text).group(1)
    page = client.get(f"/artifacts/{model}").text
    assert 'id="preview" data-kind=' in page and "Traceback" not in page
