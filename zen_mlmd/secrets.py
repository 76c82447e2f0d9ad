"""Secret values in configs: a literal, or a reference resolved at use time.

A password or private key in a flavor config may be written as

- a literal (``hunter2``): stored as given, never shown;
- ``${NAME}``: the value of the environment variable ``NAME``;
- ``file:/path/to/file``: the file's content, trailing newlines stripped
  (``~`` is expanded; a relative path is relative to the working directory).

Configs keep references as written, so a stored stack config holds no
secret; `resolve_secret` turns a reference into the value only where the
value is used (building the MLMD connection proto, a preflight check).
A literal that itself starts with ``file:`` or ``${`` cannot be written
inline: put it in a file and use ``file:``.
"""
from __future__ import annotations

import os
import re

from zen_mlmd.errors import ConfigError

SECRET_MASK = "********"

FILE_PREFIX = "file:"
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def is_reference(value: object) -> bool:
    """True when `value` is a well-formed ``${NAME}`` or ``file:`` reference."""
    if not isinstance(value, str):
        return False
    if value.startswith(FILE_PREFIX):
        return len(value) > len(FILE_PREFIX)
    return _ENV_REFERENCE.fullmatch(value) is not None


def reference_problem(value: str) -> str | None:
    """Why `value` looks like a reference but is not a usable one, else None.

    The message never repeats `value`: a malformed reference may be a
    mistyped literal secret.
    """
    if value.startswith("${") and _ENV_REFERENCE.fullmatch(value) is None:
        return (
            "looks like an environment-variable reference but is not of the form ${NAME}. "
            "Fix: write ${NAME} with NAME made of letters, digits and '_', or put the secret in a "
            "file and write file:/path/to/file"
        )
    if value == FILE_PREFIX:
        return "file: reference without a path. Fix: write file:/path/to/secret-file"
    return None


def shown_secret(value: object) -> object:
    """How a secret field is displayed: references as written, literals masked."""
    if value is None or is_reference(value):
        return value
    return SECRET_MASK


def resolve_secret(value: str | None, field: str) -> str | None:
    """The secret that `value` stands for.

    Args:
        value: a literal, ``${NAME}`` or ``file:/path``; None passes through.
        field: the config field, named in errors.

    Raises:
        ConfigError: the environment variable is unset, or the file is missing
            or unreadable. The error names the field and the reference; a
            literal is never repeated.
    """
    if value is None:
        return None
    if value.startswith(FILE_PREFIX):
        reference = value
        path = os.path.expanduser(value[len(FILE_PREFIX):])
        if not path:
            raise ConfigError(field, reference, "file: reference without a path",
                              "write file:/path/to/secret-file")
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().rstrip("\r\n")
        except FileNotFoundError:
            raise ConfigError(field, reference, f"the secret file {path} does not exist",
                              "create it, or point the reference at the right file") from None
        except IsADirectoryError:
            raise ConfigError(field, reference, f"{path} is a directory, not a secret file",
                              "point the reference at a file") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(field, reference, f"cannot read the secret file {path}: {reason}",
                              "make the file readable text for this user") from None
    match = _ENV_REFERENCE.fullmatch(value)
    if match:
        name = match.group(1)
        resolved = os.environ.get(name)
        if resolved is None:
            raise ConfigError(field, value, f"the environment variable {name} is not set",
                              f"export {name}=... before running, or give the secret another way")
        return resolved
    problem = reference_problem(value)
    if problem:
        text, _, fix = problem.partition(" Fix: ")
        raise ConfigError(field, SECRET_MASK, text, fix)
    return value


def resolve_reference(value: str | None, field: str) -> str | None:
    """The secret a ``${NAME}`` or ``file:`` reference stands for; a literal is refused.

    For options given on a command line, where a literal secret would be
    kept in shell history and shown by `ps`.

    Raises:
        ConfigError: `value` is a literal (never repeated), or the reference
            cannot be resolved.
    """
    if value is None:
        return None
    if not is_reference(value):
        raise ConfigError(field, SECRET_MASK,
                          "must be a ${ENV_VAR} or file:/path reference, not the secret itself "
                          "(a literal would be kept in shell history and shown by ps)",
                          "export the secret and pass '${NAME}', or write it to a file readable "
                          "only by you and pass file:/path/to/it")
    return resolve_secret(value, field)
