"""Checking what is registered: names, artifact-store paths, and options in their stored form.

`zen_mlmd.stack.stack.StackRegistry` calls these before it writes an entry to
the registry, so what `config.yaml` holds was valid when it was written: a
name users can type, an absolute directory or an fsspec URL without
credentials, and options validated by their flavor (each stored in its
validated form when that is a plain scalar). The component records built
from those entries are in `zen_mlmd.stack.components`.
"""
from __future__ import annotations

import os
import re
from typing import Any, Mapping

from zen_mlmd.errors import ConfigError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # use with fullmatch

_STORED_SCALARS = (str, int, float, bool)


def validate_name(kind: str, name: str) -> str:
    """Check a component or stack name.

    Raises:
        ConfigError: the name does not match `NAME_PATTERN`.
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"{kind} name", name,
            "must start with a letter or digit and contain only letters, digits, '_', '.', '-' "
            "(at most 63 characters)",
            "choose a name like 'local-mysql' or 'prod_store'",
        )
    return name


def normalize_artifact_path(path: str) -> str:
    """A local directory made absolute; any fsspec URL (`scheme://...`) kept as is."""
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(
            "path", path, "is empty", "give a local directory or a URL such as s3://bucket/prefix"
        )
    path = path.strip()
    if "://" in path:
        _check_artifact_url(path)
        return path
    local = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(local) and not os.path.isdir(local):
        raise ConfigError("path", path, "is a file, not a directory",
                          "give a directory (it is created on first use)")
    return local


def _check_artifact_url(url: str) -> None:
    """A URL's protocol must be one fsspec knows; credentials do not go in it.

    The root is recorded in every run's config, artifact URIs and cache keys:
    a password in it would be everywhere.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password or (parts.username and "@" in parts.netloc):
        raise ConfigError("path", f"{parts.scheme}://***@{parts.hostname or ''}{parts.path}",
                          "credentials in the URL would be recorded with every run",
                          "give credentials through the backend's usual environment or config "
                          "files (e.g. AWS_PROFILE for s3)")
    import fsspec

    protocol = url.split("://", 1)[0].split("::")[0]
    if protocol not in fsspec.available_protocols():
        raise ConfigError("path", url, f"unknown protocol {protocol!r}",
                          "use a local directory or an fsspec URL (s3://, gs://, abfs://, memory://, ...)")
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        # it may be registered here and used elsewhere (a pod with the backend);
        # a run checks that it can write there before its first step
        import warnings

        warnings.warn(f"the {protocol!r} backend is not installed here ({exc}): runs on this "
                      f"machine will fail until it is (e.g. `pip install s3fs` for s3://)",
                      stacklevel=2)


def validated_store_options(flavor: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Options validated by `flavor`, in the form they are stored.

    Each given option is stored in its validated form when that is a plain
    scalar (so `port: "3306"` from the command line is stored as 3306), else
    as given; secrets are always stored exactly as given, since a
    `${ENV_VAR}` or `file:` reference must stay a reference.

    Raises:
        UnknownNameError: no such flavor.
        ConfigError: an option is invalid (secrets masked in the message).
    """
    from zen_mlmd.flavors.registry import get_flavor

    flavor_obj = get_flavor(flavor)
    options = {k: v for k, v in options.items() if v is not None}
    return _stored_form(options, flavor_obj.parse_config(options))


def _stored_form(options: Mapping[str, Any], config: Any) -> dict[str, Any]:
    """Each option in its validated form when that is a plain scalar, else as given."""
    secrets = getattr(config, "SECRET_FIELDS", ())
    stored = {}
    for key, raw in options.items():
        value = getattr(config, key, raw)
        # exact types: a str-based Enum would not serialize as plain YAML
        keep_raw = key in secrets or type(value) not in _STORED_SCALARS
        stored[key] = raw if keep_raw else value
    return stored


def validated_orchestrator_options(flavor: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Options validated by orchestrator `flavor`, in the form they are stored.

    As for metadata stores, a given option is stored in its validated form
    when that is a plain scalar (`local: "true"` from the command line is
    stored as true), else as given.

    Raises:
        UnknownNameError: no such orchestrator flavor.
        ConfigError: an option is invalid.
    """
    from zen_mlmd.pipelines.orchestrators import get_orchestrator_flavor

    options = {k: v for k, v in options.items() if v is not None}
    return _stored_form(options, get_orchestrator_flavor(flavor).parse_config(options))
