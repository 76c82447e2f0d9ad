"""Stores written by TFX itself: pipelines of tfx_runs/ run in the TFX environment.

The environment is built by ``scripts/tfx-venv.sh`` (the test command runs it
and exports ``ZEN_MLMD_TEST_TFX_PYTHON``; without it the fixture runs the
script, which reuses its cache). A missing environment is an error, never a skip.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
RUNS_DIR = HERE / "tfx_runs"
REPO = HERE.parents[2]
#: A guard against a hung subprocess, not a measurement.
TIMEOUT = 600


@dataclass
class TfxStore:
    """A store TFX wrote: where it is, and the run ids of each scenario."""

    path: Path
    root: Path
    run_ids: dict


def tfx_python() -> str:
    python = os.environ.get("ZEN_MLMD_TEST_TFX_PYTHON")
    if python:
        return python
    result = subprocess.run(["bash", str(REPO / "scripts" / "tfx-venv.sh")], capture_output=True,
                            text=True, timeout=TIMEOUT)
    if result.returncode != 0:
        raise RuntimeError(f"scripts/tfx-venv.sh failed:\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


def run_scenarios(target: list[str], root: Path, *scenarios: str) -> dict:
    """Run `scenarios` with TFX's own code against `target` (``--sqlite PATH`` / ``--grpc HOST:PORT``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [tfx_python(), str(RUNS_DIR / "run_scenarios.py"), *target, "--root", str(root), *scenarios],
        capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=RUNS_DIR)
    if result.returncode != 0:
        raise RuntimeError(f"the TFX pipelines failed ({result.returncode}):\n{result.stderr[-6000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def tfx_store(tmp_path_factory) -> TfxStore:
    """One SQLite store holding every scenario, written once per test session."""
    base = tmp_path_factory.mktemp("real-tfx")
    path, root = base / "tfx.db", base / "root"
    run_ids = run_scenarios(["--sqlite", str(path)], root, "cached_rerun", "failing",
                            "execution_result", "async", "subpipeline")
    return TfxStore(path, root, run_ids)
