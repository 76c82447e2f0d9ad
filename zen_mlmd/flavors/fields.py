"""Field types and checks shared by the flavor configs.

Each check raises ``ValueError("<problem>. Fix: <fix>")``, the form that
`config_error_from_validation` splits into a ConfigError. Paths are stored
absolute with ``~`` expanded, so that a saved config means the same thing
from any working directory.
"""
from __future__ import annotations

import os
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from zen_mlmd.secrets import reference_problem


def config_problem(field: str, message: str) -> PydanticCustomError:
    """An error for a model-level validator that names the field it is about.

    `message` must not contain braces: pydantic formats it as a template.
    """
    return PydanticCustomError("zen_mlmd_config", message, {"field": field})


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError("must be between 1 and 65535. Fix: use the TCP port the server listens on")
    return value


def _host(value: str) -> str:
    if not value:
        raise ValueError("is empty. Fix: give a host name or IP address, or leave the option out")
    if any(char.isspace() for char in value) or "," in value:
        raise ValueError("must be a single host name or IP address. "
                         "Fix: remove spaces and commas; give exactly one host")
    return value


def _text(value: str) -> str:
    if not value:
        raise ValueError("is empty. Fix: give a value, or leave the option out")
    return value


def _absolute(value: str) -> str:
    if not value:
        raise ValueError("is empty. Fix: give a path, or leave the option out")
    return os.path.abspath(os.path.expanduser(value))


def _existing_file(value: str) -> str:
    path = _absolute(value)
    if not os.path.exists(path):
        raise ValueError(f"no such file: {path}. Fix: give the path of an existing file")
    if not os.path.isfile(path):
        raise ValueError(f"{path} is not a file. Fix: give the path of a file, not a directory")
    return path


def _existing_dir(value: str) -> str:
    path = _absolute(value)
    if not os.path.isdir(path):
        raise ValueError(f"no such directory: {path}. Fix: give the path of an existing directory")
    return path


def _secret(value: str) -> str:
    problem = reference_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Port = Annotated[int, AfterValidator(_port)]
Host = Annotated[str, AfterValidator(_host)]
Text = Annotated[str, AfterValidator(_text)]
#: A path stored absolute; it need not exist yet.
AbsolutePath = Annotated[str, AfterValidator(_absolute)]
ExistingFile = Annotated[str, AfterValidator(_existing_file)]
ExistingDir = Annotated[str, AfterValidator(_existing_dir)]
#: A literal secret or a ``${NAME}`` / ``file:`` reference (see zen_mlmd.secrets).
Secret = Annotated[str, AfterValidator(_secret)]

