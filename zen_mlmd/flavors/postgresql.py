"""The `postgresql` flavor: a PostgreSQL server (MLMD's libpq client).

What the config refuses, and why:

- an empty `dbname`, or neither `host` nor `hostaddr`: MLMD aborts the whole
  Python process (SIGABRT) on those;
- a `dbname` MLMD would create badly: it runs ``CREATE DATABASE <name>``
  unquoted, so PostgreSQL folds ``MyStore`` to ``mystore`` and MLMD then
  fails to connect to ``MyStore``. Names MLMD creates must be lowercase
  identifiers; with `skip_db_creation` any existing name is accepted.

- any TLS option: the libpq inside the ml-metadata 1.17.1 wheel is built
  without SSL support (measured: ``sslmode value "require" invalid when SSL
  support is not compiled in``; ``invalid connection option "sslpassword"``;
  with ``prefer`` it silently connects in plain text and ignores the
  certificates). The fields stay, refused, so that configs keep their shape
  when a later ml-metadata gains TLS.

MLMD's connection errors read ``connection pointer is NULL`` (the cause only
goes to stderr); `preflight` names it.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Literal

import pydantic

from zen_mlmd.flavors.base import FlavorConfig, MetadataStoreFlavor, PreflightReport
from zen_mlmd.flavors.fields import ExistingFile, Host, Port, Secret, Text, config_problem
from zen_mlmd.secrets import resolve_secret

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

_CREATABLE_NAME = re.compile(r"[a-z_][a-z0-9_$]{0,62}")
_TLS_MODES = ("require", "verify-ca", "verify-full")


class PostgreSQLConfig(FlavorConfig):
    """Options of the `postgresql` flavor (libpq's names).

    Attributes:
        host: host name, or a Unix-socket directory (starting with ``/``).
        hostaddr: numeric IP address to connect to (skips name lookup; `host`
            is then used for certificate checks). At least one of the two.
        port: server port; the proto carries it as a string.
        dbname: the database; created by MLMD unless `skip_db_creation`.
        user, password, passfile: the login; `password` may be ``${NAME}``
            or ``file:``; `passfile` is a libpq password file.
        sslmode, sslcert, sslkey, sslpassword, sslrootcert: TLS, as libpq;
            refused (MLMD's client has no TLS: see the module doc), except
            sslmode ``disable``, ``allow`` and ``prefer``, which all mean plain text.
    """

    SECRET_FIELDS = frozenset({"password", "sslpassword"})

    host: Host | None = None
    hostaddr: str | None = None
    port: Port = 5432
    dbname: str
    user: Text | None = None
    password: Secret | None = None
    passfile: ExistingFile | None = None
    skip_db_creation: bool = False
    sslmode: SslMode | None = None
    sslcert: ExistingFile | None = None
    sslkey: ExistingFile | None = None
    sslpassword: Secret | None = None
    sslrootcert: ExistingFile | None = None

    @pydantic.field_validator("dbname", mode="before")
    @classmethod
    def _dbname_given(cls, value):
        if value is None or value == "":
            raise ValueError("is required and must not be empty. Fix: give the database name, e.g. mlmd")
        return value

    @pydantic.field_validator("hostaddr")
    @classmethod
    def _numeric_address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError("is not a numeric IP address. Fix: give an address such as 10.0.0.5, "
                             "or put a host name in host instead") from None
        return value

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> "PostgreSQLConfig":
        if self.host is None and self.hostaddr is None:
            raise config_problem("host", "at least one of host or hostaddr is required. "
                                 "Fix: set --host to the server's name (or --hostaddr to its IP address)")
        if self.skip_db_creation:
            if len(self.dbname.encode()) > 63 or "\x00" in self.dbname:
                raise config_problem("dbname", "is not a usable PostgreSQL database name. "
                                     "Fix: give the name of the existing database (at most 63 bytes)")
        elif not _CREATABLE_NAME.fullmatch(self.dbname):
            raise config_problem("dbname", "is not a valid name for a database MLMD creates. Fix: use 1-63 "
                                 "lowercase letters, digits, _ or $, starting with a letter or _ "
                                 "(e.g. mlmd), or create the database yourself and set skip_db_creation")
        tls_options = [name for name in ("sslcert", "sslkey", "sslpassword", "sslrootcert")
                       if getattr(self, name) is not None]
        if self.sslmode in _TLS_MODES:
            tls_options.insert(0, "sslmode")
        if tls_options:
            raise config_problem(tls_options[0], "cannot work: the PostgreSQL client inside ml-metadata "
                                 "1.17.1 is built without TLS support. Fix: leave the ssl options out (or "
                                 "use sslmode disable or prefer, which then mean plain text) and protect "
                                 "the connection another way (a private network, a TLS tunnel), or use "
                                 "the mysql flavor, whose client does TLS")
        return self

    @property
    def socket_directory(self) -> str | None:
        """The Unix-socket directory when `host` names one (and no hostaddr overrides it)."""
        if self.hostaddr is None and self.host is not None and self.host.startswith("/"):
            return self.host
        return None


class PostgreSQLFlavor(MetadataStoreFlavor):
    """A PostgreSQL server, through MLMD's libpq client."""

    name = "postgresql"
    notes = "A PostgreSQL server."
    config_class = PostgreSQLConfig

    def connection_config(self, config: PostgreSQLConfig):
        """``ConnectionConfig.postgresql{..., ssloption{...}}``; optional fields set only when given.

        Resolves the password references (the environment or a file is read).

        Raises:
            ConfigError: a password reference cannot be resolved.
        """
        from ml_metadata.proto import metadata_store_pb2

        proto = metadata_store_pb2.ConnectionConfig()
        postgresql = proto.postgresql
        for proto_field, value in (("host", config.host), ("hostaddr", config.hostaddr),
                                   ("port", str(config.port)), ("dbname", config.dbname),
                                   ("user", config.user), ("password", resolve_secret(config.password, "password")),
                                   ("passfile", config.passfile)):
            if value is not None:
                setattr(postgresql, proto_field, value)
        if config.skip_db_creation:
            postgresql.skip_db_creation = True
        for proto_field, value in (("sslmode", config.sslmode), ("sslcert", config.sslcert),
                                   ("sslkey", config.sslkey),
                                   ("sslpassword", resolve_secret(config.sslpassword, "sslpassword")),
                                   ("sslrootcert", config.sslrootcert)):
            if value is not None:
                setattr(postgresql.ssloption, proto_field, value)
        return proto

    def preflight(self, config: PostgreSQLConfig, timeout: float = 5.0) -> PreflightReport:
        """Reach the server, then log in with pg8000 (when installed) and read the schema version."""
        from zen_mlmd.flavors.postgresql_preflight import run_preflight

        return run_preflight(config, timeout)


def target_of(config: PostgreSQLConfig) -> str:
    """The store's address for messages: ``postgresql://user@host:port/dbname``, no secret."""
    user = f"{config.user}@" if config.user else ""
    host = config.hostaddr or config.host
    if config.socket_directory:
        return f"postgresql://{user}/{config.dbname}?host={config.socket_directory}&port={config.port}"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"postgresql://{user}{host}:{config.port}/{config.dbname}"
