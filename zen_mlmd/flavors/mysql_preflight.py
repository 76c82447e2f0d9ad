"""Preflight of the `mysql` flavor: a real login with PyMySQL, errors mapped to causes.

MLMD reports every MySQL connection failure as ``mysql_real_connect failed:
errno: , error:``; this check names the cause (wrong password, server down,
unknown database, TLS) and the fix, and verifies the server certificate,
which MLMD's client cannot do (see zen_mlmd.flavors.mysql).
"""
from __future__ import annotations

from zen_mlmd.errors import ConfigError
from zen_mlmd.flavors.base import PreflightReport
from zen_mlmd.flavors.mysql import MySQLConfig, target_of
from zen_mlmd.flavors.probes import schema_warnings
from zen_mlmd.secrets import resolve_secret

# MySQL error codes (client codes are 2xxx).
DB_ACCESS_DENIED = 1044
ACCESS_DENIED = 1045
UNKNOWN_DATABASE = 1049
NO_SUCH_TABLE = 1146
PARSE_ERROR = 1064
CANNOT_CONNECT = 2003
LOST_CONNECTION = 2013
INSECURE_TRANSPORT = 3159

_TLS_MARKERS = ("SSL", "CERTIFICATE", "certificate", "TLS")


def run_preflight(config: MySQLConfig, timeout: float) -> PreflightReport:
    import pymysql

    target = target_of(config)
    try:
        password = resolve_secret(config.password, "password")
    except ConfigError as exc:
        return PreflightReport(False, target, {}, f"password: {exc.problem}", exc.fix)
    details: dict = {}
    warnings: list[str] = []
    database_exists = True
    try:
        try:
            connection = _connect(config, password, timeout, config.database)
        except pymysql.err.OperationalError as exc:
            if exc.args[0] != UNKNOWN_DATABASE:
                raise
            if config.skip_db_creation:
                return PreflightReport(
                    False, target, details,
                    f"the database {config.database!r} does not exist and skip_db_creation is on",
                    "create it, correct the name, or turn skip_db_creation off so that MLMD creates it")
            database_exists = False
            connection = _connect(config, password, timeout, None)
    except (pymysql.err.MySQLError, OSError, RuntimeError) as exc:
        problem, fix = explain_error(config, exc)
        return PreflightReport(False, target, details, problem, fix)

    try:
        with connection:
            problem = _inspect(connection, config, database_exists, details, warnings)
    except pymysql.err.MySQLError as exc:
        problem = (f"logged in, but a query failed: {exc}", "check the user's privileges and the server log")
    if problem:
        return PreflightReport(False, target, details, *problem)
    return PreflightReport(True, target, details, warnings=tuple(warnings))


def _inspect(connection, config: MySQLConfig, database_exists: bool, details: dict,
             warnings: list[str]) -> tuple[str, str] | None:
    """Fill `details` and `warnings` from a logged-in connection; (problem, fix) if MLMD would fail."""
    details["server_version"] = _scalar(connection, "SELECT VERSION()")
    if config.uses_tls:
        details["tls_cipher"] = _session_status(connection, "Ssl_cipher") or "none"
    if config.verify_server_cert:
        details["server_certificate"] = "verified against ssl_ca"
    elif config.uses_tls:
        warnings.append("the server certificate is not verified, and MLMD accepts any certificate: "
                        "turn verify_server_cert on")
    if database_exists:
        version = _schema_version(connection)
        details["schema_version"] = "new" if version is None else version
        warnings += schema_warnings(version)
    else:
        details["schema_version"] = "new"
        details["database"] = (f"{config.database!r} does not exist yet: MLMD will create it "
                               "(the user needs the CREATE privilege)")
        if _is_reserved_word(connection, config.database):
            return (f"the database name {config.database!r} is a reserved word: MLMD's "
                    f"CREATE DATABASE {config.database} would fail", "choose another database name")
    plugin_warning = _auth_plugin_warning(connection, config.user)
    if plugin_warning:
        warnings.append(plugin_warning)
    return None


def _connect(config: MySQLConfig, password: str | None, timeout: float, database: str | None):
    import pymysql

    options: dict = dict(user=config.user, password=password or "", database=database,
                         connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout)
    if config.host is not None:
        options.update(host=config.tcp_host, port=config.port)
    else:
        options.update(unix_socket=config.socket)
    if config.uses_tls:
        tls = {"ca": config.ssl_ca, "capath": config.ssl_capath, "cert": config.ssl_cert,
               "key": config.ssl_key, "cipher": config.ssl_cipher}
        tls = {key: value for key, value in tls.items() if value is not None}
        # Mirror MLMD: without verify_server_cert any certificate is accepted.
        tls["verify_mode"] = config.verify_server_cert
        tls["check_hostname"] = config.verify_server_identity
        options["ssl"] = tls
    return pymysql.connect(**options)


def explain_error(config: MySQLConfig, exc: BaseException) -> tuple[str, str]:
    """(problem, fix) for a PyMySQL connection error. Never contains the password."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    where = f"{config.tcp_host}:{config.port}" if config.host is not None else f"the socket {config.socket}"
    if code == ACCESS_DENIED:
        if "using password: NO" in message:
            return (f"access denied for user {config.user!r}: no password was given",
                    "set password (a literal, ${NAME} or file:/path)")
        return (f"access denied for user {config.user!r}: wrong user name or password "
                "(or the user may not log in from this host)",
                "check user and password; for a ${NAME} or file: reference, check the value it holds")
    if code == DB_ACCESS_DENIED:
        return (f"user {config.user!r} may not use the database {config.database!r}",
                f"GRANT ALL ON {config.database}.* TO the user, or use a database the user may use")
    if code == CANNOT_CONNECT and any(marker in message for marker in _TLS_MARKERS):
        if "mismatch" in message or "hostname" in message.lower():
            return (f"the server certificate does not name {config.host!r}: {message}",
                    "connect by a name the certificate holds, or turn verify_server_identity off")
        return (f"the server certificate could not be verified with ssl_ca ({config.ssl_ca}): {message}",
                "set ssl_ca to the CA that signed the server's certificate")
    if code == CANNOT_CONNECT:
        fix = ("start the server, or correct the socket path" if config.host is None
               else "start the server, or correct host and port")
        return f"cannot connect to the MySQL server at {where}: {message}", fix
    if code == LOST_CONNECTION:
        return (f"the server at {where} closed the connection during login: {message}",
                "check the TLS options: the server may require TLS (set ssl_ca) or a client certificate")
    if code == INSECURE_TRANSPORT:
        return f"the server at {where} requires TLS", "set ssl_ca (and ssl_cert/ssl_key if it asks for one)"
    if code is not None:
        return f"MySQL error {code} from {where}: {message}", "see the MySQL documentation for this code"
    return f"cannot log in to {where}: {type(exc).__name__}: {message}", "check the connection options"


def _scalar(connection, query: str, *args):
    with connection.cursor() as cursor:
        cursor.execute(query, args or None)
        row = cursor.fetchone()
    return row[0] if row else None


def _session_status(connection, name: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE %s", (name,))
        row = cursor.fetchone()
    return row[1] if row and row[1] else None


def _schema_version(connection) -> int | None:
    import pymysql

    try:
        return _scalar(connection, "SELECT schema_version FROM MLMDEnv")
    except pymysql.err.ProgrammingError as exc:
        if exc.args and exc.args[0] == NO_SUCH_TABLE:
            return None
        raise


def _is_reserved_word(connection, name: str) -> bool:
    """True when the server's parser refuses `name` as an unquoted database name.

    Asks the grammar itself (a reserved word is a syntax error where a
    database name goes): MariaDB's KEYWORDS table does not say which words
    are reserved. `name` is a validated identifier, so it is safe to inline.
    """
    import pymysql

    try:
        _scalar(connection, f"SHOW TABLES FROM {name}")
    except pymysql.err.ProgrammingError as exc:
        return bool(exc.args) and exc.args[0] == PARSE_ERROR
    except pymysql.err.MySQLError:  # unknown database, no privilege: not a keyword
        return False
    return False


def _auth_plugin_warning(connection, user: str | None) -> str | None:
    """A warning when the user logs in with caching_sha2_password, which MLMD cannot."""
    import pymysql

    try:
        plugin = _scalar(connection, "SELECT plugin FROM mysql.user "
                                     "WHERE CONCAT(user, '@', host) = CURRENT_USER()")
    except pymysql.err.MySQLError:  # no privilege to read mysql.user
        plugin = None
    fix = (f"ALTER USER '{user}'@'<host>' IDENTIFIED WITH mysql_native_password BY '<password>'")
    if plugin == "caching_sha2_password":
        return (f"user {user!r} authenticates with caching_sha2_password, which MLMD's MySQL client "
                f"does not support: {fix}")
    if plugin is None and getattr(connection, "_auth_plugin_name", "") == "caching_sha2_password":
        return ("the server's default authentication plugin is caching_sha2_password, which MLMD's "
                f"MySQL client does not support; if user {user!r} uses it: {fix}")
    return None
