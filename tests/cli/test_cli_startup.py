"""`zen-mlmd --help` must not import the heavy libraries."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("ml_metadata", "grpc", "kfp", "pandas", "numpy", "fsspec", "pymysql")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROBE = """
import json, sys
import zen_mlmd.cli.main as main
try:
    main.cli({args!r}, standalone_mode=False)
except SystemExit:
    pass
heavy = [m for m in sys.modules if m.split(".")[0] in {heavy!r}]
print(json.dumps(heavy))
"""


def loaded_heavy_modules(args: list[str], tmp_path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": REPO, "ZEN_MLMD_CONFIG_DIR": str(tmp_path / "cfg")}
    code = PROBE.format(args=args, heavy=set(HEAVY))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [
    ["--help"],
    ["metadata-store", "--help"],
    ["metadata-store", "register", "--help"],
    ["artifact-store", "--help"],
    ["stack", "--help"],
])
def test_help_imports_nothing_heavy(args, tmp_path):
    assert loaded_heavy_modules(args, tmp_path) == []


def test_listing_imports_nothing_heavy(tmp_path, monkeypatch):
    # Listing reads YAML and validates configs: no MLMD, no database client, no gRPC.
    monkeypatch.setenv("ZEN_MLMD_CONFIG_DIR", str(tmp_path / "cfg"))
    from click.testing import CliRunner
    from zen_mlmd.cli.main import cli

    runner = CliRunner()
    for args in (["prod", "-f", "mysql", "--host", "127.0.0.1", "--database", "m", "--user", "u"],
                 ["pg", "-f", "postgresql", "--host", "127.0.0.1", "--dbname", "m"],
                 ["kf", "-f", "kubeflow", "--host", "127.0.0.1", "--port", "8080"]):
        assert runner.invoke(cli, ["metadata-store", "register", *args]).exit_code == 0
    for command in (["metadata-store", "list"], ["metadata-store", "describe", "kf"],
                    ["stack", "list"], ["stack", "describe"], ["artifact-store", "list"]):
        assert loaded_heavy_modules(command, tmp_path) == [], command


def test_every_registered_noun_loads():
    import click

    from zen_mlmd.cli.main import COMMANDS, cli

    context = click.Context(cli)
    for noun in COMMANDS:
        assert isinstance(cli.get_command(context, noun), click.Command), noun


def test_module_runs_as_a_script(tmp_path):
    env = {**os.environ, "PYTHONPATH": REPO, "ZEN_MLMD_CONFIG_DIR": str(tmp_path / "cfg")}
    result = subprocess.run([sys.executable, "-m", "zen_mlmd.cli.main", "--version"],
                            capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "zen-mlmd, version 0.1.0"
