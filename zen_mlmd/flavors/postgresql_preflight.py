"""Preflight of the `postgresql` flavor: reachability, then a real login with pg8000.

MLMD reports PostgreSQL failures as ``connection pointer is NULL``. This
check connects the way MLMD's libpq would (password, then ``PGPASSWORD``,
then the password file; plain text, since that libpq has no TLS) and names
the cause. pg8000 is pure Python and optional: without it only reachability
is checked.
"""
from __future__ import annotations

import getpass
import importlib.util
import os

from zen_mlmd.errors import ConfigError
from zen_mlmd.flavors.base import PreflightReport
from zen_mlmd.flavors.postgresql import PostgreSQLConfig, target_of
from zen_mlmd.flavors.probes import schema_warnings, tcp_problem, unix_socket_problem
from zen_mlmd.secrets import resolve_secret

# SQLSTATE codes
INVALID_PASSWORD = "28P01"
INVALID_AUTHORIZATION = "28000"
UNKNOWN_DATABASE = "3D000"
UNDEFINED_TABLE = "42P01"
INSUFFICIENT_PRIVILEGE = "42501"
TOO_MANY_CONNECTIONS = "53300"


class _Refused(Exception):
    """A check failed; carries (problem, fix)."""


def run_preflight(config: PostgreSQLConfig, timeout: float) -> PreflightReport:
    target = target_of(config)
    details: dict = {}
    try:
        warnings = _check(config, timeout, details)
    except ConfigError as exc:
        return PreflightReport(False, target, details, f"{exc.field}: {exc.problem}", exc.fix)
    except _Refused as refused:
        problem, fix = refused.args
        return PreflightReport(False, target, details, problem, fix)
    return PreflightReport(True, target, details, warnings=tuple(warnings))


def _check(config: PostgreSQLConfig, timeout: float, details: dict) -> list[str]:
    """Fill `details`; return warnings; raise _Refused (or ConfigError) on a failure."""
    password = resolve_secret(config.password, "password")
    if config.socket_directory:
        problem = unix_socket_problem(os.path.join(config.socket_directory, f".s.PGSQL.{config.port}"), timeout)
    else:
        problem = tcp_problem(config.hostaddr or config.host, config.port, timeout)
    if problem:
        raise _Refused(*problem)
    details["reachable"] = True
    if importlib.util.find_spec("pg8000") is None:
        return ["pg8000 is not installed, so only reachability was checked: "
                "pip install pg8000 for a login check"]
    user = config.user or os.environ.get("PGUSER") or getpass.getuser()
    if password is None:
        password = os.environ.get("PGPASSWORD") or _passfile_password(config, user)
    warnings: list[str] = []
    database_exists = True
    try:
        connection = _connect(config, user, password, config.dbname, timeout)
    except Exception as exc:  # pg8000 raises more than its own errors (AttributeError without a password)
        if _sqlstate(exc) != UNKNOWN_DATABASE:
            raise _Refused(*explain_error(config, user, exc, password is not None)) from None
        if config.skip_db_creation:
            raise _Refused(f"the database {config.dbname!r} does not exist and skip_db_creation is on",
                           "create it, correct the name, or turn skip_db_creation off so that MLMD "
                           "creates it") from None
        database_exists = False
        try:
            connection = _connect(config, user, password, "postgres", timeout)
        except Exception as exc2:
            raise _Refused(*explain_error(config, user, exc2, password is not None)) from None
    try:
        details["server_version"] = connection.run("SHOW server_version")[0][0]
        if database_exists:
            version = _schema_version(connection)
            details["schema_version"] = "new" if version is None else version
            warnings += schema_warnings(version)
        else:
            details["schema_version"] = "new"
            details["database"] = f"{config.dbname!r} does not exist yet: MLMD will create it"
            _check_can_create(connection, config.dbname, user)
    finally:
        connection.close()
    return warnings


def _connect(config: PostgreSQLConfig, user: str, password: str | None, dbname: str, timeout: float):
    import pg8000.native

    options: dict = dict(user=user, password=password, database=dbname, port=config.port, timeout=timeout)
    if config.socket_directory:
        options.update(host=None, unix_sock=os.path.join(config.socket_directory, f".s.PGSQL.{config.port}"))
    else:
        options.update(host=config.hostaddr or config.host)
    return pg8000.native.Connection(**options)


def explain_error(config: PostgreSQLConfig, user: str, exc: BaseException,
                  password_given: bool = True) -> tuple[str, str]:
    """(problem, fix) for a pg8000 connection error. Never contains a password."""
    code = _sqlstate(exc)
    message = exc.args[0].get("M", "") if exc.args and isinstance(exc.args[0], dict) else str(exc)
    where = config.socket_directory or f"{config.hostaddr or config.host}:{config.port}"
    if code == INVALID_PASSWORD:
        return (f"password authentication failed for user {user!r}: wrong user name or password",
                "check user and password; for a ${NAME} or file: reference, check the value it holds")
    if code == INVALID_AUTHORIZATION:
        if "no encryption" in message:
            return (f"the server refused a login without TLS: {message}",
                    "MLMD's PostgreSQL client has no TLS: allow this user, database and client address "
                    "without TLS in the server's pg_hba.conf (host, not hostssl), on a network you trust")
        return (f"the server refused the login: {message}",
                "check the user name; the server's pg_hba.conf must allow this user, database "
                "and client address")
    if code == INSUFFICIENT_PRIVILEGE:
        return (f"user {user!r} may not connect: {message}",
                f"GRANT CONNECT ON DATABASE {config.dbname} TO {user}")
    if code == TOO_MANY_CONNECTIONS:
        return f"the server at {where} has too many connections", "close idle clients or raise max_connections"
    if code:
        return f"PostgreSQL error {code} from {where}: {message}", "see the PostgreSQL documentation for this code"
    if not password_given:
        return (f"the server at {where} asks user {user!r} for a password and none was found",
                "set password (or passfile, or PGPASSWORD)")
    return f"cannot log in to {where}: {type(exc).__name__}: {message}", "check the connection options"


def _sqlstate(exc: BaseException) -> str | None:
    if exc.args and isinstance(exc.args[0], dict):
        return exc.args[0].get("C")
    return None


def _schema_version(connection) -> int | None:
    import pg8000.native

    try:
        rows = connection.run("SELECT schema_version FROM MLMDEnv")
    except pg8000.native.DatabaseError as exc:
        if _sqlstate(exc) == UNDEFINED_TABLE:
            return None
        raise
    return rows[0][0] if rows else None


def _check_can_create(connection, dbname: str, user: str) -> None:
    """Refuse what would make MLMD's CREATE DATABASE fail: no privilege, a reserved word."""
    rows = connection.run("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")
    if not (rows and rows[0][0]):
        raise _Refused(f"the database {dbname!r} does not exist and user {user!r} may not create databases",
                       f"ALTER ROLE {user} CREATEDB, or create the database as an administrator "
                       "and set skip_db_creation")
    # Keyword categories R (reserved) and T (type or function name) cannot name a database unquoted.
    rows = connection.run("SELECT catcode FROM pg_get_keywords() WHERE word = :word", word=dbname)
    if rows and rows[0][0] in ("R", "T"):
        raise _Refused(f"the database name {dbname!r} is a reserved word: MLMD's CREATE DATABASE "
                       f"{dbname} would fail", "choose another database name")


def _passfile_password(config: PostgreSQLConfig, user: str) -> str | None:
    """The password libpq would take from the password file, if any line matches."""
    path = config.passfile or os.environ.get("PGPASSFILE") or os.path.expanduser("~/.pgpass")
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    host = "localhost" if config.socket_directory else (config.host or config.hostaddr)
    wanted = (host, str(config.port), config.dbname, user)
    for line in lines:
        if not line or line.startswith("#"):
            continue
        fields = _split_passfile_line(line)
        if len(fields) == 5 and all(got in ("*", want) for got, want in zip(fields, wanted)):
            return fields[4]
    return None


def _split_passfile_line(line: str) -> list[str]:
    fields, current, escaped = [], [], False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":" and len(fields) < 4:
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields
