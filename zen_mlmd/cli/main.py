"""The `zen-mlmd` command: a root group whose nouns are imported on use.

Each noun lives in its own module and is imported only when it is run or
listed in `--help`. Those modules import nothing heavy at module level
(ml_metadata, grpc, kfp, fsspec, pymysql, pydantic load inside the commands
that need them), so `zen-mlmd --help` answers at once.
"""
from __future__ import annotations

import importlib
import warnings

import click

from zen_mlmd import __version__
from zen_mlmd.cli.output import render_error, show_warning
from zen_mlmd.errors import ZenMLMDError

#: noun -> "module:attribute" of its click command or group. Add a noun here.
COMMANDS: dict[str, str] = {
    "metadata-store": "zen_mlmd.cli.metadata_store:metadata_store",
    "artifact-store": "zen_mlmd.cli.artifact_store:artifact_store",
    "orchestrator": "zen_mlmd.cli.orchestrator:orchestrator",
    "stack": "zen_mlmd.cli.stack:stack",
    "cache": "zen_mlmd.cli.cache:cache",
    "pipeline": "zen_mlmd.cli.pipeline:pipeline",
    "run": "zen_mlmd.cli.run:run",
    "artifact": "zen_mlmd.cli.artifact:artifact",
    "ui": "zen_mlmd.cli.ui:ui",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is needed.

    It also turns every zen_mlmd error raised by a subcommand into one red
    `Error: ...` line and exit code 2 (bad input) or 1 (failure): user errors
    never show a traceback. Python warnings (a broken flavor plugin, ...)
    become one yellow `Warning: ...` line instead of a source excerpt.
    """

    def __init__(self, *args, lazy_commands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands if lazy_commands is not None else {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in self.lazy_commands:
            return command
        module_name, _, attribute = self.lazy_commands[cmd_name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        self.add_command(command, cmd_name)  # import once per process
        return command

    def invoke(self, ctx: click.Context):
        # `--json` callers parse stdout: they get an error as JSON too (read
        # now: invoking the subcommand consumes ctx.args)
        wants_json = "--json" in ctx.args
        with warnings.catch_warnings():  # restores showwarning afterwards
            warnings.showwarning = show_warning
            try:
                return super().invoke(ctx)
            except ZenMLMDError as error:
                ctx.exit(render_error(error, as_json=wants_json))


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="zen-mlmd")
def cli() -> None:
    """Record ML pipeline runs in ML Metadata (MLMD) and read them back.

    Start with `zen-mlmd stack describe`: a default stack (a SQLite metadata
    store and a local artifact store) exists on first use.
    """


if __name__ == "__main__":
    cli(prog_name="zen-mlmd")
