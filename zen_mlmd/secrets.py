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

Values that are not configs (parameters, the globals a step reads, properties
other tools wrote) are masked by name: `is_secret_key` says whether a name
looks like it holds a secret, `masked` replaces such values in nested data.
"""
from __future__ import annotations

import os
import re
from typing import Any, Mapping

from zen_mlmd.errors import ConfigError

SECRET_MASK = "********"
#: Words of a key (split at `_`, `-`, `.` and camelCase) whose values are never shown.
_SECRET_WORDS = frozenset({"password", "passwd", "pwd", "passphrase", "secret", "token", "apikey",
                           "credential", "credentials", "authorization"})
_SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"),
                           ("client", "secret"), ("auth", "token")})
#: A last word saying the key only names where a secret lives (KFP's `secretName`).
_NAMING_WORDS = frozenset({"name", "ref", "reference", "env", "file", "path"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@",
                           re.I)


def is_secret_key(key: object) -> bool:
    """Whether a value stored under `key` is masked (`db_password`, `apiKey`, `HF_TOKEN`, ...)."""
    words = [w.lower() for w in _WORD.findall(str(key))]
    if not words or words[-1] in _NAMING_WORDS:
        return False
    return bool(_SECRET_WORDS.intersection(words)) or any(pair in _SECRET_PAIRS for pair in zip(words, words[1:]))


def masked_text(text: str, mask: Any = SECRET_MASK) -> str:
    """`text` with the passwords of URLs in it (``scheme://user:password@host``) masked.

    Args:
        mask: the replacement, or a callable making it from the password.
    """
    return _URL_PASSWORD.sub(
        lambda m: f"{m['scheme']}{m['user']}:{mask(m['password']) if callable(mask) else mask}@", text)


def masked(value: Any, key: object = "", mask: Any = SECRET_MASK) -> Any:
    """`value` (JSON-like data) with values under secret-looking keys and URL passwords masked.

    Args:
        key: the name `value` is stored under: a secret-looking one masks it whole.
        mask: what replaces a secret, or a callable making it from the secret
            (to record *that* a secret changed without recording it).
    """
    if key and is_secret_key(key) and value not in (None, "", {}, []):
        return mask(value) if callable(mask) else mask
    if isinstance(value, str):
        return masked_text(value, mask)
    if isinstance(value, Mapping):
        return {k: masked(v, k, mask) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v, "", mask) for v in value]
    return value

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
