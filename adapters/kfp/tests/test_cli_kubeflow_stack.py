"""`zen-mlmd pipeline run FILE:PIPELINE` on a stack whose orchestrator is `kubeflow`, `local=true`.

The real command in a subprocess, the real kfp.local (a subprocess per task):
it exits 0 and prints the run's name; a failing step exits 1 naming the step,
and `run describe` shows every step; a module the task processes cannot
import is refused before anything is recorded, saying how to fix it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

PIPELINE = '''
from zen_mlmd import pipeline, step


@step
def load(n: int = 3) -> list:
    return list(range(n))


@step
def total(data: list) -> int:
    return sum(data)


@step
def check(data: list, fail: bool = False) -> int:
    if fail:
        raise ValueError("asked to fail")
    return len(data)


@step
def report(count: int) -> str:
    return f"{count} rows"


@pipeline
def demo(n: int = 3, fail: bool = False):
    data = load(n=n)
    total(data)
    report(check(data, fail=fail))
'''


def zen(*args: str, cwd) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "zen_mlmd.cli.main", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def project(tmp_path, monkeypatch, config_dir):
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "demo_pipeline.py").write_text(textwrap.dedent(PIPELINE))
    # the tasks import the module from the working directory, as a user's would
    monkeypatch.delenv("PYTHONPATH", raising=False)
    for args in (["orchestrator", "register", "kfp-local", "-f", "kubeflow", "-o", "local=true"],
                 ["stack", "register", "kfp", "-m", "default", "-a", "default", "-o", "kfp-local",
                  "--set"]):
        assert zen(*args, cwd=directory).returncode == 0
    return directory


def test_a_successful_run_exits_0_and_prints_its_name(project):
    result = zen("pipeline", "run", "demo_pipeline.py:demo", "-p", "n=4", "--name", "kfp-ok",
                 cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "Run 'kfp-ok' finished: completed."
    assert "Traceback" not in result.stderr

    described = zen("run", "describe", "kfp-ok", cwd=project)
    steps = [line.split()[:2] for line in described.stdout.splitlines() if line.startswith("  ")
             and "[" in line and not line.startswith("    ")]
    assert sorted(steps) == [["check", "[completed]"], ["load", "[completed]"],
                             ["report", "[completed]"], ["total", "[completed]"]]


def test_a_failing_step_exits_1_naming_it_and_every_step_is_recorded(project):
    result = zen("pipeline", "run", "demo_pipeline.py:demo", "-p", "fail=true", "--name", "kfp-bad",
                 cwd=project)
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == ["Error: step 'check' of run 'kfp-bad' failed: ValueError: asked to fail. "
                      "Fix: read the recorded traceback with `zen-mlmd run describe kfp-bad`"]

    described = zen("run", "describe", "kfp-bad", "--json", cwd=project)
    import json

    run = json.loads(described.stdout)
    assert run["status"] == "failed"
    statuses = {step["name"]: step["status"] for step in run["steps"]}
    assert statuses["load"] == "completed" and statuses["check"] == "failed"
    assert statuses["report"] == "canceled"
    # kfp.local may or may not have reached `total` before `check` failed
    assert statuses["total"] in ("completed", "canceled")
    assert len(statuses) == 4
    by_name = {step["name"]: step for step in run["steps"]}
    assert by_name["check"]["error"] == "ValueError: asked to fail"
    assert "raise ValueError" in by_name["check"]["traceback"]


def test_a_module_the_tasks_cannot_import_is_refused_before_anything_is_recorded(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = zen("pipeline", "run", f"{project}/demo_pipeline.py:demo", "--name", "kfp-away",
                 cwd=elsewhere)
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == [
        "Error: pipeline module='demo_pipeline': kfp.local runs each step in a new Python process, "
        "which cannot import it (ModuleNotFoundError: No module named 'demo_pipeline'). Fix: run "
        f"from the directory that contains it (cd {project}), or export PYTHONPATH={project}; "
        "see adapters/kfp/README.md"]
    assert not os.path.exists(os.path.join(os.environ["ZEN_MLMD_CONFIG_DIR"], "local_stores",
                                           "default", "metadata.db"))

    with_path = subprocess.run(
        [sys.executable, "-m", "zen_mlmd.cli.main", "pipeline", "run",
         f"{project}/demo_pipeline.py:demo", "--name", "kfp-away"],
        cwd=elsewhere, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(project)})
    assert with_path.returncode == 0, with_path.stderr[-3000:]
    assert with_path.stdout.splitlines()[-1] == "Run 'kfp-away' finished: completed."
