"""Secrets typed or piped instead of written on the command line (`--password -`)."""
from __future__ import annotations

from typing import Any

import click

from zen_mlmd.cli import output

#: Secret flags that accept `-`: the value is typed at a prompt or read from stdin.
PROMPTED_SECRETS = {"password": "--password", "sslpassword": "--sslpassword"}


def read_prompted_secrets(fields: dict[str, Any]) -> set[str]:
    """Replace `-` in secret flags by the secret typed (hidden) or piped on stdin.

    A literal secret on the command line is kept in shell history and shown
    by `ps`; a warning says so. Returns the keys read this way.
    """
    from zen_mlmd.secrets import is_reference

    prompted = set()
    for key, flag in PROMPTED_SECRETS.items():
        value = fields.get(key)
        if value == "-":
            fields[key] = _read_secret(flag)
            prompted.add(key)
        elif value is not None and not is_reference(value):
            output.note(f"Warning: the literal {flag} may be kept in your shell history and is "
                        f"visible to other users in `ps` while the command runs. Next time give "
                        f"{flag} - (typed at a prompt, or piped on stdin), {flag} '${{ENV_VAR}}' "
                        f"or {flag} file:/path/to/secret.")
    return prompted


def _read_secret(flag: str) -> str:
    import sys

    if sys.stdin.isatty():
        value = click.prompt(flag.lstrip("-").capitalize(), hide_input=True, err=True)
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise click.BadParameter("no secret was given on stdin (empty)", param_hint=flag)
    return value
