"""`zen-mlmd orchestrator ...` through click's runner, and with stacks."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from cli_helpers import error_of

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEAVY = ("ml_metadata", "grpc", "kfp", "pandas", "numpy", "fsspec", "pymysql")


def test_flavor_list_shows_the_builtin_first(run):
    rows = run("orchestrator", "flavor", "list").stdout.splitlines()
    assert rows[0].split() == ["FLAVOR", "INTEGRATION", "OPTIONS", "NOTES"]
    assert rows[1].split()[:3] == ["local", "built-in", "convention"]
    listed = json.loads(run("orchestrator", "flavor", "list", "--json").stdout)
    assert listed[0] == {"flavor": "local", "integration": "built-in", "options": ["convention"],
                         "notes": "Runs every step in this process, in DAG order."}


def test_orchestrator_lifecycle(run, config_home):
    assert "Registered orchestrator 'in-process' (flavor local, convention=native)." in run(
        "orchestrator", "register", "in-process", "-f", "local", "-o", "convention=native").stdout
    rows = run("orchestrator", "list").stdout.splitlines()
    assert [row.split() for row in rows] == [
        ["ACTIVE", "NAME", "FLAVOR", "OPTIONS", "STACKS"],
        ["*", "default", "local", "-", "default"],
        ["in-process", "local", "convention=native", "-"],
    ]
    listed = json.loads(run("orchestrator", "list", "--json").stdout)
    assert listed[1] == {"active": False, "name": "in-process", "flavor": "local",
                         "options": {"convention": "native"}, "stacks": []}

    described = run("orchestrator", "describe", "in-process").stdout
    assert described.splitlines()[0] == "Orchestrator 'in-process'"
    assert "convention: native" in described
    default = json.loads(run("orchestrator", "describe", "--json").stdout)
    assert default == {"name": "default", "flavor": "local", "options": {}, "active": True,
                       "stacks": ["default"], "config": {"convention": "native"}}

    run("orchestrator", "update", "in-process", "--unset", "convention")
    assert json.loads(run("orchestrator", "describe", "in-process", "--json").stdout)["options"] == {}
    assert "Deleted orchestrator 'in-process'." in run("orchestrator", "delete", "in-process").stdout
    assert "in-process" not in yaml.safe_load((config_home / "config.yaml").read_text())["orchestrators"]


@pytest.mark.parametrize("args, message", [
    (["-f", "kubernetes"], "Error: unknown orchestrator flavor 'kubernetes'"),
    (["-o", "threads=4"], "Error: threads='4': unknown option for flavor 'local'. Fix: use one of: convention"),
    (["-o", "convention=mlflow"], "Error: convention='mlflow': is not a convention zen_mlmd can record in"),
])
def test_bad_registrations_exit_2_and_write_nothing(run, config_home, args, message):
    run("stack", "get")  # creates the config file with the default stack
    before = (config_home / "config.yaml").read_bytes()
    result = run("orchestrator", "register", "bad", *args, expect=2)
    assert error_of(result).startswith(message)
    assert (config_home / "config.yaml").read_bytes() == before


def test_an_option_without_a_value_is_a_usage_error(run):
    result = run("orchestrator", "register", "bad", "-o", "convention", expect=2)
    assert "expected KEY=VALUE" in result.stderr


def test_a_stack_uses_a_new_orchestrator_which_then_cannot_be_deleted(run, tmp_path):
    run("metadata-store", "register", "db", "-f", "sqlite", "--path", str(tmp_path / "m.db"))
    run("artifact-store", "register", "art", "--path", str(tmp_path / "art"))
    run("orchestrator", "register", "orch", "-o", "convention=native")
    run("stack", "register", "dev", "-m", "db", "-a", "art", "-o", "orch", "--set")
    described = json.loads(run("stack", "describe", "--json").stdout)
    assert described["orchestrator"] == {"name": "orch", "flavor": "local",
                                         "options": {"convention": "native"}}
    assert run("stack", "describe").stdout.splitlines()[-1].split() == [
        "orchestrator", "orch", "local", "-"]
    assert json.loads(run("orchestrator", "describe", "--json").stdout)["name"] == "orch"

    refused = run("orchestrator", "delete", "orch", expect=1)
    assert error_of(refused) == (
        "Error: orchestrator 'orch' is used by stack(s) 'dev'. Fix: delete those stacks, "
        "or point them elsewhere with `zen-mlmd stack update STACK -o OTHER`")
    run("stack", "update", "dev", "-o", "default")
    run("orchestrator", "delete", "orch")


def test_unknown_orchestrator_names_get_suggestions(run):
    result = run("orchestrator", "describe", "defualt", expect=2)
    assert error_of(result) == ("Error: unknown orchestrator 'defualt'; did you mean 'default'? "
                                "Fix: list the valid names with `zen-mlmd orchestrator list`")


@pytest.mark.parametrize("args", [
    ["orchestrator", "--help"],
    ["orchestrator", "register", "--help"],
    ["orchestrator", "list"],
    ["orchestrator", "flavor", "list"],
])
def test_orchestrator_commands_import_nothing_heavy(args, tmp_path):
    probe = (
        "import json, sys\n"
        "import zen_mlmd.cli.main as main\n"
        "try:\n"
        f"    main.cli({args!r}, standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r}]))\n")
    env = {**os.environ, "PYTHONPATH": REPO, "ZEN_MLMD_CONFIG_DIR": str(tmp_path / "cfg")}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env=env, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
