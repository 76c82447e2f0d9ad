"""The rules of artifact URIs: protocols, the parts of an output's URI, and
whether a local path stays under the store's root (symbolic links included).

`zen_mlmd.artifacts.store.ArtifactStore` applies them to every access.
"""
from __future__ import annotations

import os
import re
import stat
from typing import Optional

from zen_mlmd.errors import ConfigError

_PROTOCOL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*(?:::[A-Za-z][A-Za-z0-9+.\-]*)*)://")
LOCAL_PROTOCOLS = ("file", "local")
_CONTROL = re.compile(r"[\x00-\x1f]")


def split_protocol(url: str) -> tuple[Optional[str], str]:
    """``("s3", "bucket/x")`` for ``s3://bucket/x``; ``(None, url)`` for a plain path."""
    match = _PROTOCOL.match(url)
    if not match:
        return None, url
    return match.group(1), url[match.end():]


def within(path: str, root: str) -> bool:
    """Whether the normalised `path` is `root` or lies under it."""
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root if root.endswith("/") else root + "/")


def walk_below(root: str, path: str) -> tuple[bool, Optional[str]]:
    """Whether a directory or file on the way from `root` down to `path` is a symbolic
    link, and the first of them that does not exist (None if all do).

    `path` is normalised and lies under `root`. Only the parts below the root
    are looked at (a few `lstat`s, cheaper than resolving the whole path on
    every write); the walk stops where the path does not exist yet.
    """
    current = root.rstrip("/")
    for part in path[len(current) + 1:].split("/") if path != current else ():
        current = f"{current}/{part}"
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return True, None
        except FileNotFoundError:  # nothing further down exists to follow
            return False, current
        except OSError:  # unreadable: nothing further down can be looked at
            return False, None
    return False, None


def check_part(field: str, value: object) -> None:
    """Refuse a pipeline, run, step or output name that would escape or alias a place.

    Raises:
        ConfigError: naming the field, the value and the fix.
    """
    problem = ""
    if not isinstance(value, str) or not value:
        problem = "must be a non-empty string"
    elif "/" in value or "\\" in value:
        problem = "must not contain '/' or '\\'"
    elif ".." in value or value == ".":
        problem = "must not be '.' or contain '..'"
    elif _CONTROL.search(value):
        problem = "must not contain control characters"
    if problem:
        raise ConfigError(
            field, value, problem,
            "use a plain name such as 'train' or 'run-2024-01-01'",
        )
