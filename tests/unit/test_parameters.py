"""Parameters are converted to their annotated types before a run starts, or refused.

A refused value names the parameter, the value and the type expected, and
nothing is recorded: the store's file is not even created.
"""
from __future__ import annotations

import textwrap
from typing import Optional

import pytest
from click.testing import CliRunner

from cli_helpers import error_of
from zen_mlmd import pipeline, step
from zen_mlmd.cli.main import cli
from zen_mlmd.errors import ConfigError, UnknownNameError
from zen_mlmd.pipelines.parameters import convert, from_text
from zen_mlmd.stack import StackRegistry


@step
def make_rows(rows: int, scale: float = 1, labels: list[str] | None = None, shuffle: bool = False) -> list:
    return [rows * scale] * rows


@pipeline
def table(rows: int = 3, scale: float = 1.0, labels: Optional[list[str]] = None, shuffle: bool = False):
    make_rows(rows=rows, scale=scale, labels=labels, shuffle=shuffle)


@pytest.mark.parametrize("annotation, value, expected", [
    (int, "3", 3), (int, 3.0, 3), (int, " 7 ", 7),
    (float, 1, 1.0), (float, "0.5", 0.5),
    (bool, "true", True), (bool, "no", False), (bool, 1, True),
    (str, "x", "x"),
    (list[int], (1, "2"), [1, 2]), (list, (1, "a"), [1, "a"]),
    (Optional[int], None, None), (int | None, "4", 4),
    (dict, {"a": 1}, {"a": 1}),  # not a checked annotation: passed on as it is
])
def test_values_are_converted_to_the_annotated_type(annotation, value, expected):
    converted = convert("p", "x", value, annotation)
    assert converted == expected and type(converted) is type(expected)


@pytest.mark.parametrize("annotation, value, expected", [
    (int, "abc", "expected int (a whole number, e.g. 100): input should be a valid integer"),
    (int, 2.5, "fractional part"),
    (int, True, "true/false is not a number"),
    (float, False, "true/false is not a number"),
    (bool, "maybe", "expected bool (true or false)"),
    (str, 5, "expected str (text)"),
    (list[int], [1, "x"], "expected list[int]"),
])
def test_values_that_do_not_convert_are_refused_naming_parameter_value_and_type(annotation, value, expected):
    with pytest.raises(ConfigError) as caught:
        convert("training", "rows", value, annotation)
    message = str(caught.value)
    assert message.startswith(f"training.rows={value!r}: ")
    assert expected in message and "Fix: give rows a value of type" in message


def test_command_line_text_is_read_as_the_annotation_asks():
    assert from_text("p", "name", "007", str) == "007"      # not the number 7
    assert from_text("p", "tag", "1e3", str) == "1e3"
    assert from_text("p", "rows", "12", int) == 12
    assert from_text("p", "lr", "1", float) == 1.0
    assert from_text("p", "ids", "[1, 2]", list[int]) == [1, 2]
    assert from_text("p", "n", "null", Optional[int]) is None
    assert from_text("p", "free", "[1, 2]", None) == [1, 2]   # unannotated: JSON when it parses
    assert from_text("p", "free", "a b", None) == "a b"
    with pytest.raises(ConfigError, match=r"p.ids='1,2': expected list\[int\].*Fix: give a JSON list"):
        from_text("p", "ids", "1,2", list[int])


def test_pipeline_and_step_parameters_are_converted_when_the_run_is_built():
    graph = table.build(rows="4", scale=2, labels=("a", "b"))
    assert graph.parameters == {"rows": 4, "scale": 2.0, "labels": ["a", "b"], "shuffle": False}
    assert graph.invocations["make_rows"].parameters == {
        "rows": 4, "scale": 2.0, "labels": ["a", "b"], "shuffle": False}


def test_a_step_parameter_is_checked_against_the_steps_own_annotation():
    @pipeline
    def untyped(rows="many"):
        make_rows(rows=rows)

    with pytest.raises(ConfigError, match=r"^make_rows.rows='many': expected int"):
        untyped.build()


def test_an_unknown_parameter_gets_close_names():
    with pytest.raises(UnknownNameError, match=r"unknown parameter 'rowz'; did you mean 'rows'\? "
                                               r"Fix: check the name against the pipeline's signature"):
        table.build(rowz=3)


def test_a_refused_run_records_nothing(config_dir):
    stack = StackRegistry().get_active_stack()
    database = config_dir / "local_stores" / "default" / "metadata.db"
    with pytest.raises(ConfigError, match="table.rows='abc'"):
        table.run(stack=stack, quiet=True, rows="abc")
    assert not database.exists()
    table.run(stack=stack, quiet=True, rows="2")
    assert database.exists()


def test_the_cli_refuses_a_bad_value_before_anything_is_recorded(config_dir, tmp_path, monkeypatch):
    source = tmp_path / "rows_pipeline.py"
    source.write_text(textwrap.dedent('''
        from zen_mlmd import pipeline, step

        @step
        def count(rows: int) -> int:
            return rows

        @pipeline
        def rows_pipeline(rows: int = 10, name: str = "x"):
            count(rows=rows)
    '''))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["pipeline", "run", f"{source}:rows_pipeline", "-p", "rows=abc"])
    assert result.exit_code == 2, result.output
    assert error_of(result) == (
        "Error: rows_pipeline.rows='abc': expected int (a whole number, e.g. 100): input should be "
        "a valid integer, unable to parse string as an integer. Fix: give rows a value of type int")
    assert not (config_dir / "local_stores" / "default" / "metadata.db").exists()

    result = runner.invoke(cli, ["pipeline", "run", f"{source}:rows_pipeline", "-p", "rows=5",
                                 "-p", "name=007", "--name", "r-1"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Run 'r-1' finished: completed.\n"
    described = runner.invoke(cli, ["run", "describe", "r-1"]).stdout
    assert "parameters: rows=5" in described
    import zen_mlmd

    assert zen_mlmd.get_run("r-1").config["parameters"] == {"rows": 5, "name": "007"}
