"""`zen-mlmd stack ...` and `zen-mlmd artifact-store ...` through click's runner."""
from __future__ import annotations

import json


from cli_helpers import error_of

SECRET = "Stack-Secret-Pw-123"


def test_default_stack_exists_on_first_use(run, config_home):
    assert run("stack", "get").stdout == "default\n"
    rows = run("stack", "list").stdout.splitlines()
    assert rows[1].split()[:3] == ["*", "default", "default"]
    described = run("stack", "describe").stdout
    assert "Stack 'default' (active)" in described
    assert str(config_home / "local_stores" / "default" / "metadata.db") in described
    assert str(config_home / "local_stores" / "default" / "artifacts") in described


def test_artifact_store_lifecycle(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("artifact-store", "register", "local", "--path", "artifacts")
    assert str(tmp_path / "artifacts") in result.stdout
    run("artifact-store", "register", "bucket", "--path", "s3://my-bucket/runs")
    listing = json.loads(run("artifact-store", "list", "--json").stdout)
    assert {e["name"]: e["path"] for e in listing} == {
        "bucket": "s3://my-bucket/runs", "default": listing[1]["path"],
        "local": str(tmp_path / "artifacts")}
    assert [e["active"] for e in listing] == [False, True, False]
    text = run("artifact-store", "list").stdout
    assert "s3://my-bucket/runs" in text
    described = json.loads(run("artifact-store", "describe", "bucket", "--json").stdout)
    assert described == {"name": "bucket", "path": "s3://my-bucket/runs", "active": False,
                         "trusted": False, "stacks": []}
    assert "Artifact store 'default' (active)" in run("artifact-store", "describe").stdout
    run("artifact-store", "register", "local", "--path", "x", expect=1)  # already exists
    run("artifact-store", "delete", "bucket")
    result = run("artifact-store", "describe", "buckt", expect=2)
    assert "unknown artifact store 'buckt'" in result.stderr


def test_stack_lifecycle(run, tmp_path):
    run("metadata-store", "register", "store2", "-f", "sqlite", "--path", str(tmp_path / "m.db"))
    run("artifact-store", "register", "art2", "--path", str(tmp_path / "art"))
    run("stack", "register", "dev", "-m", "store2", "-a", "art2")
    assert run("stack", "get").stdout.strip() == "default"
    assert "Active stack: 'dev'" in run("stack", "set", "dev").stdout
    assert run("stack", "get").stdout.strip() == "dev"
    rows = run("stack", "list").stdout.splitlines()[1:]
    assert [row.split()[1] for row in rows if row.startswith("*")] == ["dev"]
    described = json.loads(run("stack", "describe", "--json").stdout)
    assert described["name"] == "dev" and described["active"] is True
    assert described["metadata_store"]["name"] == "store2"
    assert described["metadata_store"]["config"]["path"] == str(tmp_path / "m.db")
    assert described["artifact_store"] == {"name": "art2", "path": str(tmp_path / "art"), "trusted": False}
    assert described["orchestrator"] == {"name": "default", "flavor": "local", "options": {}}
    # The active stack's store is what `metadata-store check` uses by default.
    assert "Metadata store 'store2' is OK." in run("metadata-store", "check").stdout

    result = run("stack", "delete", "dev", expect=1)
    assert "active stack" in result.stderr and "stack set" in result.stderr
    run("stack", "update", "dev", "-a", "default")
    assert json.loads(run("stack", "describe", "dev", "--json").stdout)[
        "artifact_store"]["name"] == "default"
    run("stack", "set", "default")
    assert "Deleted stack 'dev'" in run("stack", "delete", "dev").stdout
    assert [s["name"] for s in json.loads(run("stack", "list", "--json").stdout)] == ["default"]


def test_register_with_set_activates(run):
    run("stack", "register", "copy", "-m", "default", "-a", "default", "--set")
    assert run("stack", "get").stdout.strip() == "copy"


def test_unknown_components_are_named(run):
    result = run("stack", "register", "s", "-m", "defualt", "-a", "default", expect=2)
    assert "unknown metadata store 'defualt'; did you mean 'default'?" in result.stderr
    result = run("stack", "set", "nope", expect=2)
    assert "unknown stack 'nope'" in result.stderr
    result = run("stack", "register", "bad name", "-m", "default", "-a", "default", expect=2)
    assert "stack name" in result.stderr


def test_deleting_a_component_in_use_names_the_stack(run, tmp_path):
    run("artifact-store", "register", "art2", "--path", str(tmp_path))
    run("stack", "register", "training", "-m", "default", "-a", "art2")
    result = run("artifact-store", "delete", "art2", expect=1)
    assert error_of(result).startswith("Error: artifact store 'art2' is used by stack(s) 'training'")
    result = run("metadata-store", "delete", "default", expect=1)
    assert "'default', 'training'" in result.stderr


def test_stack_output_has_no_secret(run):
    run("metadata-store", "register", "prod", "-f", "mysql", "--host", "127.0.0.1",
        "--database", "mlmd", "--user", "u", "--password", SECRET)
    run("stack", "register", "prod", "-m", "prod", "-a", "default")
    for args in (["stack", "describe", "prod"], ["stack", "describe", "prod", "--json"],
                 ["stack", "list"], ["stack", "list", "--json"]):
        assert SECRET not in run(*args).output
