"""`zen-mlmd cache explain` after a secret global and a secret parameter changed.

It says that they changed, masked; the secrets never show in its output, and
the store (read with plain ml_metadata) holds the secret global nowhere and
the secret parameter only as the parameter itself (the step's parameter and
the run's config, which a rerun needs), never in the recorded cache parts.
"""
from __future__ import annotations

import json

import pytest
from ml_metadata.metadata_store import metadata_store as plain_mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step

DB = {"host": "db.local", "password": "global-hunter2"}
SERVICE_TOKEN = "token-hunter2"


@step
def query(n: int, api_key: str = "") -> int:
    return n + len(DB["host"]) + len(SERVICE_TOKEN) + len(api_key)


def secrets_pipeline(api_key: str):
    @pipeline(name="secrets")
    def run_it():
        query(n=3, api_key=api_key)
    return run_it


def all_properties(path) -> str:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
    store = plain_mlmd.MetadataStore(config)
    found = []
    for kind, records in (("execution", store.get_executions()), ("artifact", store.get_artifacts()),
                          ("context", store.get_contexts())):
        for record in records:
            for name, value in list(record.properties.items()) + list(record.custom_properties.items()):
                found.append(f"{kind} {record.id} {name} " + " ".join(str(value).split()))
            found.append(f"{kind} {record.id} name {record.name}")
    return "\n".join(found)


@pytest.fixture
def runs(run, monkeypatch):
    from zen_mlmd.stack import get_active_stack

    stack = get_active_stack()
    secrets_pipeline("param-hunter2").run(stack=stack, quiet=True, run_name="secrets-1")
    monkeypatch.setitem(DB, "password", "global-hunter3")
    monkeypatch.setitem(globals(), "SERVICE_TOKEN", "token-hunter3")
    secrets_pipeline("param-hunter3").run(stack=stack, quiet=True, run_name="secrets-2")
    return stack


def test_cache_explain_says_secrets_changed_without_showing_them(run, runs):
    text = run("cache", "explain", "secrets-2").output
    as_json = run("cache", "explain", "secrets-2", "--json").output
    [query_step] = json.loads(as_json)
    assert query_step["status"] == "miss"
    reasons = query_step["reasons"]
    assert "global DB changed: password ******** -> ********" in reasons
    assert "global SERVICE_TOKEN changed: ******** -> ********" in reasons
    assert "parameters changed (api_key: '********' -> '********')" in reasons
    for output in (text, as_json):
        assert "hunter" not in output, output


def test_the_store_holds_no_secret_a_step_read(runs):
    recorded = all_properties(runs.metadata_store.config.path)
    assert "query" in recorded  # the step was recorded (the reads above are not vacuous)
    for secret in ("global-hunter2", "global-hunter3", "token-hunter2", "token-hunter3"):
        assert secret not in recorded
    # the parameter itself is recorded (rerunning the step needs it): as the step's parameter
    # and in the run's config, nowhere else (not in the cache key parts)
    holding = [line.split(" string_value")[0] for line in recorded.splitlines() if "param-hunter" in line]
    assert sorted(line.split(" ", 2)[2].split(" ")[0] for line in holding) == \
        ["config", "config", "param.api_key", "param.api_key"], holding
    assert "cache_key_parts" in recorded
