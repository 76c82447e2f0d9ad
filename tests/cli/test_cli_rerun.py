"""`zen-mlmd run rerun`: it names the file it imports and imports nothing outside the project.

The pipeline lives in a real project directory; importing its module
appends a line to a marker file, so each test sees whether (and how often)
the file's code ran.
"""
from __future__ import annotations

import textwrap
import uuid

import pytest

from cli_helpers import error_of

PIPELINE = textwrap.dedent('''
    import os

    from zen_mlmd import pipeline, step

    with open(os.environ["IMPORT_MARKER"], "a") as marker:
        marker.write(__file__ + "\\n")


    @step
    def double(x: int = 2) -> int:
        return 2 * x


    @pipeline
    def doubling(x: int = 2):
        double(x=x)
''')


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project directory holding a pipeline module (a fresh module name per test)."""
    directory = tmp_path / "project"
    directory.mkdir()
    module = f"doubling_{uuid.uuid4().hex[:8]}"
    (directory / f"{module}.py").write_text(PIPELINE)
    marker = tmp_path / "imported"
    monkeypatch.setenv("IMPORT_MARKER", str(marker))
    monkeypatch.chdir(directory)
    return directory, module, marker


def imports(marker) -> list[str]:
    return marker.read_text().splitlines() if marker.exists() else []


def record(run, module: str) -> str:
    run("pipeline", "run", f"{module}.py:doubling", "--name", "first", "-p", "x=3")
    return "first"


def test_rerun_in_the_project_names_the_file_then_runs(run, project):
    directory, module, marker = project
    record(run, module)
    result = run("run", "rerun", "first", "--name", "again", "--no-cache")
    path = directory / f"{module}.py"
    assert f"Importing pipeline 'doubling' from {path} (recorded source: {module}:doubling@{path})" \
        in result.stderr
    assert "Run 'again' finished: completed." in result.stdout
    from zen_mlmd.post_execution import get_run

    assert get_run("again").steps["double"].outputs["output"].read() == 6


def test_rerun_outside_the_project_is_refused_unless_the_file_is_given(run, project, tmp_path,
                                                                         monkeypatch):
    directory, module, marker = project
    record(run, module)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    before = imports(marker)
    result = run("run", "rerun", "first", expect=2)
    path = directory / f"{module}.py"
    message = error_of(result)
    assert f"the pipeline would be imported from {path}, outside the current project ({elsewhere})" \
        in message
    assert f"--source {path}:doubling" in message
    assert imports(marker) == before  # nothing of the file ran

    result = run("run", "rerun", "first", "--name", "explicit", "--source", f"{path}:doubling")
    assert "given explicitly" in result.stderr
    assert "Run 'explicit' finished: cached." in result.stdout  # same code, same cache key


def test_a_forged_source_outside_the_project_runs_nothing(run, project, tmp_path):
    directory, module, marker = project
    record(run, module)
    evil = tmp_path / "evil" / "evil_pipeline.py"
    evil.parent.mkdir()
    evil.write_text("import os\nopen(os.environ['IMPORT_MARKER'] + '.evil', 'w').write('ran')\n")
    from zen_mlmd.stack import get_active_stack

    with get_active_stack().metadata_store.open() as store:  # as a writer of the store could
        [context] = [c for c in store.get_contexts_by_type("pipeline_run") if c.name == "first"]
        config = context.custom_properties["config"].struct_value
        config["source"] = f"evil_pipeline:doubling@{evil}"
        store.put_contexts([context])

    result = run("run", "rerun", "first", expect=2)
    assert f"imported from {evil}, outside the current project" in error_of(result)
    assert not (tmp_path / "imported.evil").exists()
