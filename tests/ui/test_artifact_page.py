"""An artifact's page: its record, previews that never run code, its lineage with a hops control."""
from __future__ import annotations

import json
import re

import pytest

from ui_fixtures import PNG, UI_BACKENDS
from ui_helpers import count_calls

pytestmark = pytest.mark.parametrize("backend", UI_BACKENDS, indirect=True)


def preview_of(html: str) -> tuple[str, str]:
    """(kind, text) of the preview section."""
    section = re.search(r'<section class="card preview" id="preview" data-kind="(\w+)">(.*?)</section>', html, re.S)
    return section.group(1), re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section.group(2)))


def test_record_shows_type_uri_hash_size_and_producer(showcase):
    html = showcase.client.get(f"/artifacts/{showcase.artifacts['table']}").text
    assert "zen_mlmd.Dataset" in html and "(dataset)" in html
    assert "/showcase/showcase-1/make/table" in html
    assert re.search(r"sha256:[0-9a-f]{64}", html)
    assert re.search(r"<dt>Size</dt><dd>[\d.]+ K?B</dd>", html)
    assert '<a href="/runs/showcase-1?step=' in html and ">make</a> in run" in html


@pytest.mark.parametrize("output, kind, shown", [
    ("table", "table", "city temp"),
    ("notes", "text", "first line second line"),
    ("scores", "metrics", "0.93 accuracy 0.07 loss"),
    ("weights", "array", "shape (3, 4), dtype float32"),
    ("rows", "table", "id label 1 cat 2 dog"),
    ("plot", "image", "plot.png"),
])
def test_previews(showcase, output, kind, shown):
    found_kind, text = preview_of(showcase.client.get(f"/artifacts/{showcase.artifacts[output]}").text)
    assert found_kind == kind
    assert shown in text
    if output == "table":
        assert "Oslo" in text and "31.25" in text


def test_a_pickle_is_never_loaded(showcase):
    kind, text = preview_of(showcase.client.get(f"/artifacts/{showcase.artifacts['estimator']}").text)
    assert kind == "refused" and "loading it would run code" in text
    assert not showcase.marker.exists()


def test_missing_files_and_files_outside_the_known_stores_are_said_so(showcase):
    kind, text = preview_of(showcase.client.get(f"/artifacts/{showcase.artifacts['gone']}").text)
    assert kind == "unavailable" and "are gone" in text and "Fix: re-run the step" in text
    response = showcase.client.get(f"/artifacts/{showcase.artifacts['outside']}")
    kind, text = preview_of(response.text)
    assert response.status_code == 200
    assert kind == "unavailable" and "outside every artifact store" in text
    assert "must not be shown" not in response.text


def test_images_are_served_sandboxed_and_nothing_else_is(showcase):
    artifact = showcase.artifacts["plot"]
    response = showcase.client.get(f"/artifacts/{artifact}/files/plot.png")
    assert response.status_code == 200 and response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert "sandbox" in response.headers["content-security-policy"]
    assert showcase.client.get(f"/artifacts/{showcase.artifacts['notes']}/files/data.txt").status_code == 400
    outside = showcase.client.get(f"/artifacts/{showcase.artifacts['outside']}/files/../../etc/passwd.png")
    assert outside.status_code in (400, 404)


def test_lineage_follows_the_hops_and_direction_asked_for(native_runs):
    client = native_runs.client
    html = client.get("/runs/" + native_runs.names[0]).text
    model = re.search(r'"kind": "artifact", "type": "Model", "artifact_id": (\d+)', html).group(1)

    def lineage(**params):
        page = client.get(f"/artifacts/{model}", params=params).text
        data = re.search(r'<script type="application/json" id="lineage-elements">(.*?)</script>', page, re.S)
        return [e["data"] for e in json.loads(data.group(1)) if "source" not in e["data"]]

    near = lineage(direction="upstream", hops=1)
    assert [n["name"] for n in near if n["kind"] == "step"] == ["train"]
    far = lineage(direction="upstream", hops=6)
    assert {n["name"] for n in far if n["kind"] == "step"} == {"load", "split", "train"}
    down = lineage(direction="downstream", hops=2)
    assert {n["name"] for n in down if n["kind"] == "step"} == {"evaluate"}
    root = [n for n in far if n.get("artifact_id") == int(model)]
    assert len(root) == 1
    assert client.get(f"/artifacts/{model}", params={"hops": 0}).status_code == 400
    assert client.get(f"/artifacts/{model}", params={"direction": "sideways"}).status_code == 400


def test_an_artifact_page_costs_a_fixed_number_of_calls(native_runs):
    _, calls = count_calls(native_runs.client, native_runs.opener, "/artifacts/1")
    assert calls["GetLineageSubgraph"] == 1
    assert sum(calls.values()) <= 10, calls


def test_an_unknown_artifact_is_a_404(native_runs):
    response = native_runs.client.get("/artifacts/424242")
    assert response.status_code == 404 and "unknown artifact id &#39;424242&#39;" in response.text
