"""Secrets kept off command lines (`--password -`), and artifact stores marked trusted."""
from __future__ import annotations

import json

import yaml

from cli_helpers import error_of

SECRET = "Piped-Passw0rd-123"
MYSQL = ["-f", "mysql", "--host", "127.0.0.1", "--port", "3306", "--database", "mlmd",
         "--user", "mlmd"]


def stored_password(config_home, name: str) -> str:
    data = yaml.safe_load((config_home / "config.yaml").read_text())
    return data["metadata_stores"][name]["options"]["password"]


def test_password_dash_reads_the_secret_from_stdin(run, config_home):
    result = run("metadata-store", "register", "prod", *MYSQL, "--password", "-",
                 input=SECRET + "\n")
    assert SECRET not in result.output
    assert "shell history" not in result.output  # nothing literal on the command line
    assert stored_password(config_home, "prod") == SECRET
    run("metadata-store", "update", "prod", "--password", "-", input="Other-Secret\n")
    assert stored_password(config_home, "prod") == "Other-Secret"


def test_password_dash_with_nothing_on_stdin_is_an_error(run, config_home):
    result = run("metadata-store", "register", "prod", *MYSQL, "--password", "-", input="", expect=2)
    assert "--password" in result.output and "empty" in result.output
    names = [s["name"] for s in json.loads(run("metadata-store", "list", "--json").stdout)]
    assert "prod" not in names


def test_a_literal_password_warns_about_shell_history(run):
    result = run("metadata-store", "register", "prod", *MYSQL, "--password", SECRET)
    assert "Warning: the literal --password may be kept in your shell history" in result.output
    assert "--password -" in result.output and SECRET not in result.output
    quiet = run("metadata-store", "register", "ref", *MYSQL[:-4], "--database", "other",
                "--user", "mlmd", "--password", "${MLMD_PW}")
    assert "shell history" not in quiet.output


def test_artifact_stores_are_registered_untrusted_unless_asked(run, tmp_path):
    run("artifact-store", "register", "shared", "--path", str(tmp_path / "shared"))
    run("artifact-store", "register", "mine", "--path", str(tmp_path / "mine"), "--trusted")
    listed = {e["name"]: e["trusted"] for e in json.loads(run("artifact-store", "list", "--json").stdout)}
    assert listed == {"default": True, "shared": False, "mine": True}
    assert "is trusted" in run("artifact-store", "update", "shared", "--trusted").output
    assert json.loads(run("artifact-store", "describe", "shared", "--json").stdout)["trusted"] is True
    run("artifact-store", "update", "shared", "--untrusted")
    assert json.loads(run("artifact-store", "describe", "shared", "--json").stdout)["trusted"] is False
    assert "TRUSTED" in run("artifact-store", "list").output
    result = run("artifact-store", "update", "nope", "--trusted", expect=2)
    assert error_of(result).startswith("Error: unknown artifact store 'nope'")
