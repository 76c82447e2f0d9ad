"""`zen-mlmd export` (JSONL archive, OpenLineage) and `zen-mlmd import` on the default stack.

OpenLineage events are validated against the specification's JSON schemas
(tests/fixtures/openlineage, the versions openlineage-python names), and
`--url` is tested against a local HTTP endpoint that records what it gets.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cli_helpers import error_of
from lifecycle_helpers import openlineage_validators as validators
from zen_mlmd.artifacts import Dataset
from zen_mlmd.errors import StepFailedError
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step

@step(outputs={"rows": Dataset})
def make_rows(n: int = 3):
    return list(range(n))


@step
def check_rows(rows: list, fail: bool = False):
    if fail:
        raise ValueError("the rows are wrong")
    return {"count": len(rows)}


@pipeline
def lineage_demo(n: int = 3, fail: bool = False):
    check_rows(make_rows(n=n), fail=fail)


@pytest.fixture
def recorded(run):
    lineage_demo.run(quiet=True, run_name="ok-1")
    lineage_demo.run(quiet=True, run_name="ok-2")  # served from the cache
    with pytest.raises(StepFailedError):
        lineage_demo.run(quiet=True, run_name="bad-1", n=5, fail=True)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_openlineage_events_validate_pair_up_and_are_deterministic(run, recorded, tmp_path):
    run("export", "--format", "openlineage", "--output", str(tmp_path / "a.jsonl"))
    run("export", "--format", "openlineage", "--output", str(tmp_path / "b.jsonl"))
    events = read_lines(tmp_path / "a.jsonl")
    assert events == read_lines(tmp_path / "b.jsonl")  # same store, same ids
    event_schema, parent_schema = validators()
    for event in events:
        event_schema.validate(event)
        parent_schema.validate(event["run"]["facets"]["parent"])
    # the events name the very schemas they were validated against
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "openlineage"
    event_id = json.loads((fixtures / "OpenLineage.json").read_text())["$id"]
    parent_id = json.loads((fixtures / "ParentRunFacet.json").read_text())["$id"]
    assert {e["schemaURL"].split("#")[0] for e in events} == {event_id}
    assert {e["run"]["facets"]["parent"]["_schemaURL"].split("#")[0] for e in events} == {parent_id}
    by_run: dict[str, list[str]] = {}
    for event in events:
        by_run.setdefault(event["run"]["runId"], []).append(event["eventType"])
    assert len(by_run) == 6  # two steps in each of three runs
    assert sorted(tuple(v) for v in by_run.values()) == sorted(
        [("START", "COMPLETE")] * 4 + [("START", "COMPLETE"), ("START", "FAIL")])
    jobs = {e["job"]["name"] for e in events}
    assert jobs == {"lineage_demo.make_rows", "lineage_demo.check_rows"}
    parents = {e["run"]["facets"]["parent"]["run"]["runId"] for e in events}
    assert len(parents) == 3 and {e["run"]["facets"]["parent"]["job"]["name"] for e in events} == {
        "lineage_demo"}
    outputs = [d for e in events if e["eventType"] == "COMPLETE" for d in e["outputs"]]
    assert outputs and all(d["namespace"] == "file" and d["name"].startswith("/") for d in outputs)
    assert "rows" in {Path(d["name"]).name for d in outputs}


class _Recorder(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


def test_openlineage_events_are_sent_to_an_http_endpoint(run, recorded, tmp_path):
    _Recorder.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        run("export", "--format", "openlineage", "--url", url)
        run("export", "--format", "openlineage", "--output", str(tmp_path / "file.jsonl"))
    finally:
        server.shutdown()
        server.server_close()
    assert {path for path, _ in _Recorder.received} == {"/api/v1/lineage"}
    def key(event):
        return event["run"]["runId"], event["eventType"] != "START"

    sent = sorted((body for _, body in _Recorder.received), key=key)
    event_schema, _ = validators()
    for event in sent:
        event_schema.validate(event)
        # the client adds a run facet naming its own version
        assert event["run"]["facets"].pop("tags")["tags"][0]["key"] == "openlineage_client_version"
    assert sent == sorted(read_lines(tmp_path / "file.jsonl"), key=key)
    bad = run("export", "--format", "openlineage", "--url", "http://127.0.0.1:9", expect=1)
    assert "OpenLineage endpoint" in error_of(bad) and "Fix:" in error_of(bad)


def test_jsonl_archive_round_trips_and_bad_archives_are_refused(run, recorded, tmp_path, config_home):
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    run("export", "--format", "jsonl", "--output", str(first))
    run("metadata-store", "register", "empty", "-f", "sqlite", "--path", str(tmp_path / "empty.db"))
    run("import", str(first), "--store", "empty")
    run("export", "--format", "jsonl", "--output", str(second), "--store", "empty")
    assert first.read_text().splitlines()[1:] == second.read_text().splitlines()[1:]
    header = json.loads(first.read_text().splitlines()[0])
    assert header["format"] == "zen-mlmd-archive" and header["version"] == 1
    copied = json.loads(run("run", "list", "--json", "--store", "empty").stdout)
    assert [r["name"] for r in copied] == ["bad-1", "ok-2", "ok-1"]

    # a second import into the now full store is refused, nothing written
    refused = run("import", str(first), "--store", "empty", expect=2)
    assert "already holds records" in error_of(refused)
    other = tmp_path / "v2.jsonl"
    lines = first.read_text().splitlines()
    other.write_text("\n".join([json.dumps({**header, "version": 2}), *lines[1:]]) + "\n")
    run("metadata-store", "register", "empty2", "-f", "sqlite", "--path", str(tmp_path / "e2.db"))
    refused = run("import", str(other), "--store", "empty2", expect=2)
    assert "version 2" in error_of(refused) and "Fix:" in error_of(refused)
    truncated = tmp_path / "cut.jsonl"
    truncated.write_text("\n".join(lines[:-3]) + "\n")
    refused = run("import", str(truncated), "--store", "empty2", expect=2)
    assert "truncated" in error_of(refused)
    refused = run("import", str(tmp_path / "missing.jsonl"), expect=2)
    assert "cannot be read" in error_of(refused)
    # the pipeline filter
    run("export", "--format", "jsonl", "--output", str(tmp_path / "p.jsonl"), "--pipeline", "nope",
        expect=2)


def test_a_record_json_cannot_carry_fails_the_export_clearly_and_leaves_no_file(run, recorded, tmp_path):
    """A value only a forger (or another tool) writes: NaN inside a list in `proto_value`."""
    from google.protobuf.struct_pb2 import ListValue

    from zen_mlmd.stack import get_active_stack

    store = get_active_stack().metadata_store.open()
    try:
        [artifact] = store.get_artifacts()[:1]
        listed = ListValue()
        listed.extend([float("nan")])
        artifact.custom_properties["other_tool"].proto_value.Pack(listed)
        store.put_artifacts([artifact])
    finally:
        store.close()
    out = tmp_path / "a.jsonl"
    result = run("export", "--format", "jsonl", "--output", str(out), expect=1)
    message = error_of(result)
    assert f"Artifact {artifact.id} {artifact.name!r}" in message
    assert "cannot carry" in message and "no archive was written" in message
    assert "zen-mlmd metadata-store copy" in message
    assert not out.exists() and not Path(f"{out}.partial").exists()
