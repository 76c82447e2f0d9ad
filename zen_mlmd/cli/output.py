"""How every zen-mlmd command prints: tables, key/value blocks, JSON, errors.

Shared by all CLI modules so that every noun looks and fails the same way.
Only click and the standard library are imported here: this module is loaded
to build `--help`.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Mapping, Sequence

import click

from zen_mlmd.errors import ZenMLMDError

from zen_mlmd.errors import ConfigError, UnknownNameError

ACTIVE_MARK = "*"

#: Bad input the user can correct by changing the command line get click's
#: usage exit code (2). Everything else (unreachable store, conflicts) exits 1.
_USAGE_ERRORS = (ConfigError, UnknownNameError)


def json_option(func: Callable) -> Callable:
    """Add `--json` (parameter `as_json`) to a list/describe command."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text."
    )(func)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "") -> None:
    """A plain, aligned table; `empty` is printed when there are no rows."""
    rows = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if not rows:
        if empty:
            click.echo(empty)
        return
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    click.echo(_table_line(headers, widths, bold=True))
    for row in rows:
        click.echo(_table_line(row, widths))


def _table_line(cells: Sequence[str], widths: Sequence[int], bold: bool = False) -> str:
    line = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
    return click.style(line, bold=True) if bold else line


def print_mapping(data: Mapping[str, Any], indent: int = 0) -> None:
    """`key: value` lines, nested mappings indented below their key."""
    if not data:
        click.echo(" " * indent + "(none)")
        return
    width = max(len(str(k)) for k in data)
    for key, value in data.items():
        prefix = " " * indent + f"{key}:".ljust(width + 2)
        if isinstance(value, Mapping):
            click.echo(prefix.rstrip())
            print_mapping(value, indent + 2)
        elif isinstance(value, (list, tuple)):
            click.echo(prefix + (", ".join(str(v) for v in value) or "-"))
        else:
            click.echo(prefix + ("-" if value is None else str(value)))


def heading(text: str) -> None:
    click.secho(text, bold=True)


def success(text: str) -> None:
    click.secho(text, fg="green")


def note(text: str) -> None:
    """A hint for the user, on stderr so that stdout stays parseable."""
    click.secho(text, fg="yellow", err=True)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A `warnings.showwarning` replacement: one `Warning: ...` line on stderr."""
    note(f"Warning: {message}")


def error_line(text: str) -> None:
    """Print one red `Error: ...` line on stderr."""
    click.secho(f"Error: {text}", fg="red", err=True)


class CommandFailed(ZenMLMDError):
    """A failure a command found itself (see `fail`), with its exit code."""

    def __init__(self, text: str, code: int = 1):
        super().__init__(text)
        self.exit_code = code


def exit_code_for(error: BaseException) -> int:
    """2 for input the user can correct on the command line, 1 for failures."""
    if isinstance(error, CommandFailed):
        return error.exit_code
    return 2 if isinstance(error, _USAGE_ERRORS) else 1


def render_error(error: BaseException, as_json: bool = False) -> int:
    """Print a zen_mlmd error as one line (and as JSON on stdout for `--json`);
    return the exit code to use."""
    error_line(str(error))
    if as_json:
        print_json({"ok": False, "error": type(error).__name__, "message": str(error)})
    return exit_code_for(error)


def fail(text: str, code: int = 1) -> None:
    """Fail the command with `Error: text` and exit `code` (JSON too under `--json`)."""
    raise CommandFailed(text, code)
