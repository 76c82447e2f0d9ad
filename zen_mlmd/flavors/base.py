"""The metadata-store flavor contract.

A flavor is a name, a validated, frozen config class, and a pure
`connection_config()` that turns a config into the exact MLMD proto
(`ConnectionConfig` for a database, `MetadataStoreClientConfig` for a gRPC
endpoint). `preflight()` is the only place a flavor does I/O: it checks that
the store can be reached with a real client so that MLMD's useless or fatal
failures become clear errors before MLMD sees the config.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import pydantic

from zen_mlmd.errors import ConfigError
from zen_mlmd.secrets import SECRET_MASK, shown_secret

__all__ = [
    "SECRET_MASK", "FlavorConfig", "PreflightReport", "MetadataStoreFlavor",
    "config_error_from_validation",
]


class FlavorConfig(pydantic.BaseModel):
    """Base of every flavor config: frozen, unknown options rejected.

    Subclasses list the fields whose values are secrets in `SECRET_FIELDS`;
    those never appear in `describe()`, `repr()` or error messages (a
    `${NAME}` or `file:` reference is shown as written: it is not a secret).
    `hide_input_in_errors` keeps every raw input, a password included, out of
    the text of pydantic's own ValidationError.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset()

    def describe(self) -> dict[str, Any]:
        """The config as plain data for display, secrets masked, unset omitted."""
        shown = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            shown[name] = shown_secret(value) if name in self.SECRET_FIELDS else value
        return shown

    def __repr_args__(self):  # pydantic's repr and str: never show a secret
        for name, value in super().__repr_args__():
            yield name, (shown_secret(value) if name in self.SECRET_FIELDS else value)


@dataclass(frozen=True)
class PreflightReport:
    """What a preflight check found; `ok` False comes with a `problem` and a `fix`.

    `target` names the store without any secret (``mysql://user@host:3306/db``);
    `details` holds what was learnt (server version, schema version); `warnings`
    are things that do not stop the check but will bite later.
    """

    ok: bool
    target: str
    details: Mapping[str, Any] = field(default_factory=dict)
    problem: str = ""
    fix: str = ""
    warnings: tuple[str, ...] = ()


class MetadataStoreFlavor(abc.ABC):
    """A kind of metadata store: SQLite, MySQL, PostgreSQL, a gRPC endpoint."""

    name: ClassVar[str]
    integration: ClassVar[str] = "built-in"
    notes: ClassVar[str] = ""
    config_class: ClassVar[type[FlavorConfig]]
    #: True when the store is a database MLMD opens directly (schema
    #: migration applies); False for a gRPC endpoint (the server decides).
    is_database: ClassVar[bool] = True

    def parse_config(self, raw: Mapping[str, Any]) -> FlavorConfig:
        """Validate raw options into this flavor's config.

        Raises:
            ConfigError: naming the first bad field, its value and the fix.
        """
        try:
            return self.config_class.model_validate(dict(raw))
        except pydantic.ValidationError as exc:
            raise config_error_from_validation(self.name, self.config_class, exc) from None

    @abc.abstractmethod
    def connection_config(self, config: FlavorConfig):
        """The exact MLMD connection proto for `config`. Pure: no I/O."""

    def store_options(self, config: FlavorConfig) -> dict[str, Any]:
        """Keyword arguments for `zen_mlmd.mlmd.store.MetadataStore` that the
        connection proto cannot carry (e.g. SQLite's journal mode); none by default."""
        return {}

    @abc.abstractmethod
    def preflight(self, config: FlavorConfig, timeout: float = 5.0) -> PreflightReport:
        """Check with a real client that the store can be used."""

    def call_metadata(self, config: FlavorConfig) -> tuple[tuple[str, str], ...]:
        """gRPC metadata sent with every MLMD call (a gRPC endpoint's credentials).

        Resolves secret references, so call it where the store is opened,
        never to display a config. Database flavors send none.
        """
        return ()

    def read_only_config(self, config: FlavorConfig) -> FlavorConfig:
        """`config` for reading only, where the flavor has such a mode (SQLite's READONLY).

        Other flavors return `config` unchanged: for them, `MetadataStoreComponent.open`
        checks with the preflight that the store exists before MLMD sees it, and the
        opened store refuses every write call.
        """
        return config

    def options_for_new_store(self, store_name: str, config_dir: str,
                              options: Mapping[str, Any]) -> dict[str, Any]:
        """The options to register a store with, given those the user gave.

        A flavor whose default would make every store share one database (SQLite's
        default path) gives each store its own here; the default returns `options`.
        """
        return dict(options)

    def preflight_required(self, config: FlavorConfig) -> bool:
        """True when opening the store is only safe after a passing preflight.

        A flavor says so when the preflight performs a check that MLMD itself
        cannot (MySQL server-certificate verification).
        """
        return False


def config_error_from_validation(
    flavor: str, config_class: type[FlavorConfig], exc: pydantic.ValidationError
) -> ConfigError:
    """Turn pydantic's error into a ConfigError naming the field, value and fix.

    Validators write their message as "<problem>. Fix: <fix>"; a model-level
    validator names its field in the error context (``{"field": "host"}``).
    Errors raised by pydantic itself get a fix from their type.
    """
    error = exc.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in error.get("loc", ())) or "config"
    value = error.get("input")
    context = error.get("ctx") or {}
    if loc == "config" and context.get("field"):
        loc = context["field"]
        value = value.get(loc) if isinstance(value, dict) else None
    kind = error.get("type")
    if kind == "missing":
        value = None
    elif loc in config_class.SECRET_FIELDS:
        value = SECRET_MASK
    if kind == "extra_forbidden":
        valid = ", ".join(sorted(config_class.model_fields))
        if _looks_secret(loc):  # a misspelt "passwrd" still holds a password
            value = SECRET_MASK
        return ConfigError(
            loc, value, f"unknown option for flavor {flavor!r}",
            f"use one of: {valid}",
        )
    if isinstance(value, dict):  # model-level validator: show the fields only
        value = {k: (SECRET_MASK if k in config_class.SECRET_FIELDS or _looks_secret(k) else v)
                 for k, v in value.items()}
    message = error.get("msg", "invalid value")
    message = message.removeprefix("Value error, ")
    problem, _, fix = message.partition(" Fix: ")
    if not fix:
        problem, fix = _generic_problem(kind, loc, problem, context)
    return ConfigError(loc, value, problem.rstrip("."), fix)


_SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "cred")


def _looks_secret(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_WORDS)


def _generic_problem(kind: str | None, field_name: str, problem: str, context: Mapping) -> tuple[str, str]:
    """A fix for the errors pydantic raises on its own (types, missing values)."""
    if kind == "missing":
        return "is required", f"set {field_name}"
    if kind == "literal_error":
        expected = str(context.get("expected", "")).replace("'", "")
        return "is not a valid choice", f"use one of: {expected}"
    for prefix, fix in (("int", "give a whole number"), ("float", "give a number"),
                        ("bool", "use true or false"), ("string", "give a text value")):
        if kind and kind.startswith(prefix):
            return problem, fix
    return problem, ""
