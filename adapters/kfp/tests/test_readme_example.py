"""adapters/kfp/README.md's kfp.local example runs as written, from a clone's root.

The block runs in bash from a fresh working directory (holding a link to the
repository's `examples/`) in a fresh config directory; the install command
before it is checked as done (the test command installs both packages).
"""
from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
README = REPO / "adapters" / "kfp" / "README.md"
SECTION = "## Run a pipeline locally through kfp.local"


def example_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(SECTION):]
    return re.search(r"^```bash\n(.*?)^```", section, re.M | re.S).group(1)


def test_the_kfp_local_example_runs_as_written(tmp_path, config_dir):
    assert "pip install -e '.[ml]' -e adapters/kfp" in README.read_text(encoding="utf-8")
    assert importlib.metadata.version("zen-mlmd-kfp") and importlib.metadata.version("scikit-learn")
    workdir = tmp_path / "clone"
    workdir.mkdir()
    (workdir / "examples").symlink_to(REPO / "examples")
    env = {**os.environ, "ZEN_MLMD_CONFIG_DIR": str(config_dir),
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    env.pop("PYTHONPATH", None)  # the README's way: the working directory, nothing else

    result = subprocess.run(["bash", "-euo", "pipefail", "-c", example_block()], cwd=workdir,
                            env=env, capture_output=True, text=True, timeout=600, check=False)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Run 'iris-kfp-local' finished: completed." in result.stdout.splitlines()
    assert "Run 'iris-kfp-local' of pipeline 'iris_training'" in result.stdout
    steps = re.findall(r"^  (\w+) \[(\w+)\]", result.stdout, re.M)
    assert steps == [("load_iris", "completed"), ("split", "completed"), ("train", "completed"),
                     ("evaluate", "completed")]
    assert "Active stack: 'default'." in result.stdout
