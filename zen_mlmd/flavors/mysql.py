"""The `mysql` flavor: a MySQL or MariaDB server; recommended for production.

Three facts about MLMD's bundled MySQL client shape this module:

- it aborts the whole Python process (SIGABRT) when both or neither of
  `host` and `socket` are set, or `database` is empty: the config refuses
  those before MLMD sees them;
- for ``host="localhost"`` it ignores the port and tries its compiled-in
  socket ``/tmp/mysql.sock``: the built proto says ``127.0.0.1`` instead,
  which is what a user who wrote localhost and a port means;
- its ``verify_server_cert`` never succeeds, and without it any CA is
  accepted. The proto therefore never sets it; with `verify_server_cert` on,
  the preflight verifies the server certificate with PyMySQL and
  `preflight_required` says the store must not be opened without it.

Every connection error of that client reads ``mysql_real_connect failed:
errno: , error:``; `preflight` gives the real cause.
"""
from __future__ import annotations

import re

import pydantic

from zen_mlmd.flavors.base import FlavorConfig, MetadataStoreFlavor, PreflightReport
from zen_mlmd.flavors.fields import (
    AbsolutePath, ExistingDir, ExistingFile, Host, Port, Secret, Text, config_problem,
)
from zen_mlmd.secrets import resolve_secret

_IDENTIFIER = re.compile(r"[A-Za-z0-9_$]{1,64}")
_NUMBER_LIKE = re.compile(r"[0-9]+([eE][0-9]*)?")
#: With skip_db_creation MLMD only connects to the database, so any name a
#: DBA created will do; only characters that can never be a name are refused.
_EXISTING_NAME = re.compile(r"[^`\x00/\\.]{1,64}")


class MySQLConfig(FlavorConfig):
    """Options of the `mysql` flavor.

    Attributes:
        host: TCP host name or address (exactly one of `host` and `socket`).
        socket: Unix socket path of a local server.
        port: TCP port (with `host`).
        database: the database MLMD uses; created by MLMD unless
            `skip_db_creation`. Letters, digits, ``_`` and ``$``, at most 64,
            not digits only.
        user, password: the login; `password` may be ``${NAME}`` or ``file:``.
        ssl_ca, ssl_cert, ssl_key, ssl_capath, ssl_cipher: TLS; the files
            must exist. `ssl_cert` and `ssl_key` go together.
        verify_server_cert: verify the server certificate against `ssl_ca`
            (done by the preflight: see the module doc).
        verify_server_identity: also check that the certificate names `host`
            (preflight only; off by default because servers often present
            certificates issued for another name than the one clients use).
        skip_db_creation: the database must already exist.
    """

    SECRET_FIELDS = frozenset({"password"})

    host: Host | None = None
    socket: AbsolutePath | None = None
    port: Port = 3306
    database: str
    user: Text | None = None
    password: Secret | None = None
    ssl_ca: ExistingFile | None = None
    ssl_cert: ExistingFile | None = None
    ssl_key: ExistingFile | None = None
    ssl_capath: ExistingDir | None = None
    ssl_cipher: Text | None = None
    verify_server_cert: bool = False
    verify_server_identity: bool = False
    skip_db_creation: bool = False

    @pydantic.field_validator("database", mode="before")
    @classmethod
    def _database_given(cls, value):
        if value is None or value == "":
            raise ValueError("is required and must not be empty. Fix: give the database name, e.g. mlmd")
        return value

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> "MySQLConfig":
        if (self.host is None) == (self.socket is None):
            raise config_problem("host", "exactly one of host or socket is required. "
                                 "Fix: set --host for TCP or --socket for a Unix socket")
        if self.skip_db_creation:
            if not _EXISTING_NAME.fullmatch(self.database):
                raise config_problem("database", "is not a usable MySQL database name. "
                                     "Fix: give the name of the existing database (at most 64 characters)")
        elif not _IDENTIFIER.fullmatch(self.database) or _NUMBER_LIKE.fullmatch(self.database):
            raise config_problem("database", "is not a valid MySQL database name. Fix: use 1-64 letters, "
                                 "digits, _ or $, not only digits (e.g. mlmd)")
        if (self.ssl_cert is None) != (self.ssl_key is None):
            field = "ssl_key" if self.ssl_cert else "ssl_cert"
            raise config_problem(field, "ssl_cert and ssl_key go together. "
                                 "Fix: give both the client certificate and its key, or neither")
        if self.verify_server_cert and not (self.ssl_ca or self.ssl_capath):
            raise config_problem("verify_server_cert", "needs the CA that signed the server certificate. "
                                 "Fix: set ssl_ca (or ssl_capath)")
        if self.verify_server_identity and not self.verify_server_cert:
            raise config_problem("verify_server_identity", "only applies with verify_server_cert. "
                                 "Fix: turn verify_server_cert on as well")
        return self

    @property
    def tcp_host(self) -> str | None:
        """The host MLMD is given: ``localhost`` becomes ``127.0.0.1`` (module doc)."""
        return "127.0.0.1" if self.host == "localhost" else self.host

    @property
    def uses_tls(self) -> bool:
        return any((self.ssl_ca, self.ssl_cert, self.ssl_key, self.ssl_capath, self.ssl_cipher))


class MySQLFlavor(MetadataStoreFlavor):
    """A MySQL or MariaDB server, through MLMD's bundled MySQL client."""

    name = "mysql"
    notes = "A MySQL or MariaDB server; recommended for production."
    config_class = MySQLConfig

    def connection_config(self, config: MySQLConfig):
        """``ConnectionConfig.mysql{...}``; optional fields are set only when given.

        Resolves the password reference (the environment or a file is read).

        Raises:
            ConfigError: the password reference cannot be resolved.
        """
        from ml_metadata.proto import metadata_store_pb2

        proto = metadata_store_pb2.ConnectionConfig()
        mysql = proto.mysql
        if config.host is not None:
            mysql.host = config.tcp_host
            mysql.port = config.port
        else:
            mysql.socket = config.socket
        mysql.database = config.database
        if config.user is not None:
            mysql.user = config.user
        password = resolve_secret(config.password, "password")
        if password is not None:
            mysql.password = password
        for proto_field, value in (("ca", config.ssl_ca), ("cert", config.ssl_cert), ("key", config.ssl_key),
                                   ("capath", config.ssl_capath), ("cipher", config.ssl_cipher)):
            if value is not None:
                setattr(mysql.ssl_options, proto_field, value)
        if config.skip_db_creation:
            mysql.skip_db_creation = True
        return proto

    def preflight_required(self, config: MySQLConfig) -> bool:
        return config.verify_server_cert

    def preflight(self, config: MySQLConfig, timeout: float = 5.0) -> PreflightReport:
        """Log in with PyMySQL: clear causes for what MLMD reports as ``errno: , error:``."""
        from zen_mlmd.flavors.mysql_preflight import run_preflight

        return run_preflight(config, timeout)


def target_of(config: MySQLConfig) -> str:
    """The store's address for messages: ``mysql://user@host:port/database``, no secret."""
    user = f"{config.user}@" if config.user else ""
    if config.host is not None:
        return f"mysql://{user}{config.tcp_host}:{config.port}/{config.database}"
    return f"mysql://{user}localhost/{config.database}?socket={config.socket}"

