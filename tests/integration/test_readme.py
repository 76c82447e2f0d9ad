"""The README runs as written: every shell and Python block, in order, each on its own.

Each block runs in its own process (bash or python), from a fresh working
directory in a fresh config directory, so that no block leans on a variable
another one set; blocks do see what earlier blocks recorded, as a reader
following the README would. What a reader puts in place of the README's
placeholders is put in here:

- ``RUN``, ``RUN1``, ``RUN2``, ``ID`` (the README says what they stand for):
  the newest run names and an artifact id, read from the store;
- the production MySQL server (``db.internal``, database and user ``mlmd``,
  ``$MLMD_PASSWORD``, ``ca.pem``): the test MariaDB over TLS, with its CA.

Two blocks are not run, each for the reason in `NOT_RUN`; and the install half
of the quickstart command is checked as done (the test command installed it).
"""
from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backends import server_from_env, unique_database_name

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
FENCE = re.compile(r"^```(bash|python)\n(.*?)^```\n", re.M | re.S)
SAVE_AS = re.compile(r"Save this as `([\w.]+)`[^\n]*\n*$")

#: Blocks not run, by their text, and why.
NOT_RUN = {
    "bash scripts/test.sh": "the test command itself: it runs this test",
    "bash scripts/benchmark.sh sqlite        # or: memory, mysql, postgresql, grpc":
        "minutes of benchmarking and an MLflow install into its own venv; not part of the tests "
        "(the README says so)",
}
QUICKSTART_INSTALL = "pip install -e '.[ml]' && "
RUN_AGAIN = "Run `python training.py` again and every step is served from the cache"


def readme_blocks() -> list[tuple[str, str, str]]:
    """(language, code, file name to save a Python block as, or "") in README order."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        saved = SAVE_AS.search(text[:match.start()][-300:])
        blocks.append((match.group(1), match.group(2), saved.group(1) if saved else ""))
    return blocks


def ml_extra_is_installed() -> None:
    """The `pip install -e '.[ml]'` half of the quickstart command: already done."""
    requirements = importlib.metadata.requires("zen-mlmd") or []
    extra = [r.split(";")[0].strip() for r in requirements if 'extra == "ml"' in r]
    assert extra, requirements
    for requirement in extra:
        name = re.split(r"[<>=!~\[ ]", requirement)[0]
        assert importlib.metadata.version(name), requirement


class Reader:
    """Runs blocks the way a reader would, and fills in the placeholders."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        self.workdir = workdir
        self.env = env
        self.outputs: list[str] = []

    def run(self, language: str, code: str, save_as: str = "") -> subprocess.CompletedProcess:
        if language == "python":
            path = self.workdir / (save_as or f"readme_block_{len(self.outputs)}.py")
            path.write_text(code, encoding="utf-8")
            command = [sys.executable, path.name]
        else:
            command = ["bash", "-euo", "pipefail", "-c", self.filled(code)]
        result = subprocess.run(command, cwd=self.workdir, env=self.env, capture_output=True,
                                text=True, timeout=600, check=False)
        self.outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, f"{code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def filled(self, code: str) -> str:
        if not re.search(r"\b(RUN\d?|ID)\b", code):
            return code
        import zen_mlmd

        runs = list(zen_mlmd.get_runs())
        assert len(runs) >= 2, [r.name for r in runs]
        last_step = runs[0].steps[len(runs[0].steps) - 1]
        artifact = next(iter(last_step.outputs.values()))
        values = {"RUN1": runs[1].name, "RUN2": runs[0].name, "RUN": runs[0].name,
                  "ID": str(artifact.id)}
        return re.sub(r"\b(RUN\d?|ID)\b", lambda m: values[m.group(1)], code)


def production_server(code: str, workdir: Path, env: dict[str, str], janitor) -> str:
    """The README's production MySQL block, pointed at the test MariaDB over TLS."""
    server = server_from_env({
        "host": "ZEN_MLMD_TEST_MYSQL_HOST", "port": "ZEN_MLMD_TEST_MYSQL_PORT",
        "user": "ZEN_MLMD_TEST_MYSQL_TLS_USER", "password": "ZEN_MLMD_TEST_MYSQL_TLS_PASSWORD",
        "ca": "ZEN_MLMD_TEST_MYSQL_SSL_CA"})
    database = unique_database_name()
    janitor.mysql.append(database)
    shutil.copy(server.ca, workdir / "ca.pem")  # "a file on your machine"
    env["MLMD_PASSWORD"] = server.password
    replaced = (code.replace("--host db.internal", f"--host {server.host} --port {server.port}")
                .replace("--database mlmd", f"--database {database}")
                .replace("--user mlmd", f"--user {server.user}"))
    assert replaced.count(database) == 1 and replaced.count(server.user) == 1, replaced
    return replaced


def web_view(code: str, workdir: Path, env: dict[str, str], run_name: str) -> None:
    """Run the README's `zen-mlmd ui` (on a free port: another may be taken), open /runs, stop it with Ctrl-C."""
    import signal
    import time
    import urllib.request

    command = code.split("#")[0].strip()
    assert command == "zen-mlmd ui", code
    process = subprocess.Popen(["bash", "-c", f"exec {command} --port 0"], cwd=workdir, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline()  # "Serving ... at http://127.0.0.1:PORT/ (Ctrl-C stops)"
        url = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert url, line + (process.stdout.read() if process.poll() is not None else "")
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url.group(1) + "runs") as response:
                    page = response.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "the web view did not answer"
                time.sleep(0.1)
        assert f'data-run="{run_name}"' in page
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def test_the_readme_runs_as_written(tmp_path, config_dir, database_janitor, monkeypatch):
    workdir = tmp_path / "reader"
    workdir.mkdir()
    (workdir / "examples").symlink_to(REPO / "examples")  # commands run from a clone's root
    env = {**os.environ, "ZEN_MLMD_CONFIG_DIR": str(config_dir),
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    env.pop("PYTHONPATH", None)
    reader = Reader(workdir, env)
    blocks = readme_blocks()
    assert RUN_AGAIN in README.read_text(encoding="utf-8")

    not_run = [code.strip() for _, code, _ in blocks if code.strip() in NOT_RUN]
    assert sorted(not_run) == sorted(NOT_RUN)  # each exception still matches a block
    run_blocks = [(lang, code, name) for lang, code, name in blocks if code.strip() not in NOT_RUN]
    assert len(run_blocks) == 8, [code[:40] for _, code, _ in run_blocks]

    # 1. Set-up: the quickstart
    _, quickstart, _ = run_blocks[0]
    assert quickstart.startswith(QUICKSTART_INSTALL)
    ml_extra_is_installed()
    output = reader.run("bash", quickstart.removeprefix(QUICKSTART_INSTALL)).stdout
    assert "of pipeline 'iris_training': completed" in output

    # 2. Record a pipeline, saved as the README says, run twice as it says
    language, code, save_as = run_blocks[1]
    assert (language, save_as) == ("python", "training.py")
    first = reader.run(language, code, save_as).stdout.split()
    second = reader.run(language, code, save_as).stdout.split()
    assert (first[1], second[1]) == ("completed", "cached")

    # 3. Read it back (Python), on its own: no variable from the block before
    output = reader.run(*run_blocks[2]).stdout
    assert output.startswith(f"{second[0]} cached [('load', 'cached')")
    assert "<- split [completed" in output

    # 4. Read it back (CLI)
    reader.run(*run_blocks[3])
    assert (workdir / "lineage.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert f"Run '{second[0]}' of pipeline 'training'" in reader.outputs[-1]

    # 5. The web view: served until stopped, so started here, read once and stopped
    web_view(run_blocks[4][1], workdir, env, second[0])

    # 6. Caching and reproducibility
    output = reader.run(*run_blocks[5]).stdout
    assert "finished: completed." in output

    # 7. Stacks: a second local store, its own file
    output = reader.run(*run_blocks[6]).stdout
    assert "local_stores/scratch/metadata.db" in output and "experiments" in output

    # 8. Production: MySQL over TLS with a verified server certificate
    language, code, _ = run_blocks[7]
    output = reader.run(language, production_server(code, workdir, env, database_janitor)).stdout
    assert "Metadata store 'prod' is OK." in output
    assert "is ready (schema version 10)" in output
    stack = subprocess.run(["zen-mlmd", "stack", "get"], cwd=workdir, env=env, capture_output=True,
                           text=True, check=True).stdout.strip()
    assert stack == "production"
