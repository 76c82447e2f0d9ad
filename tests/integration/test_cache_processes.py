"""The two regression cases as a user meets them: a script edited and run again.

Each run is a new Python process (with its own string-hash seed) on the
default stack (SQLite metadata store, local artifact store, created on first
use in the test's ``ZEN_MLMD_CONFIG_DIR``). Unchanged code is a hit in a new
process; editing the module dict's threshold or the factory's factor is a
miss for the steps that read them, and only those; going back to the first
values reuses the first run's outputs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = '''
import json
import sys

from zen_mlmd import pipeline, step

CONFIG = {{"threshold": {threshold}, "columns": ["a", "b"]}}
FACTOR = {factor}


@step
def numbers(n: int = 4) -> list:
    return [i / n for i in range(n)] + [1.0]


@step
def keep_above(values: list) -> list:
    return [v for v in values if v > CONFIG["threshold"]]


def make_scaler(factor):
    @step(name="scale")
    def scale(values: list) -> list:
        return [v * factor for v in values]
    return scale


scale = make_scaler(FACTOR)


@pipeline
def edited():
    scale(keep_above(numbers()))


if __name__ == "__main__":
    run = edited.run(run_name=sys.argv[1], quiet=True)
    print(json.dumps({{"cached": sorted(s.name for s in run.steps if s.is_cached),
                       "output": run.steps["scale"].outputs["output"].read()}}))
'''


def run_script(directory: Path, run_name: str, seed: str, **values) -> dict:
    script = directory / "edited_pipeline.py"
    script.write_text(textwrap.dedent(SCRIPT.format(**values)))
    done = subprocess.run(
        [sys.executable, str(script), run_name], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONHASHSEED": seed}, cwd=directory)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_edits_to_a_script_are_misses_and_only_edits(tmp_path, config_dir):
    base = dict(threshold=0.5, factor=1)
    first = run_script(tmp_path, "edit-1", "1", **base)
    assert first == {"cached": [], "output": [0.75, 1.0]}

    assert run_script(tmp_path, "edit-2", "2", **base) == \
        {"cached": ["keep_above", "numbers", "scale"], "output": [0.75, 1.0]}

    threshold = run_script(tmp_path, "edit-3", "3", threshold=0.7, factor=1)
    assert threshold == {"cached": ["numbers"], "output": [0.75, 1.0]}

    factor = run_script(tmp_path, "edit-4", "4", threshold=0.5, factor=1000)
    assert factor == {"cached": ["keep_above", "numbers"], "output": [750.0, 1000.0]}

    assert run_script(tmp_path, "edit-5", "5", **base) == \
        {"cached": ["keep_above", "numbers", "scale"], "output": [0.75, 1.0]}
