"""`zen-mlmd metadata-store ...`: register, inspect, check, upgrade and serve stores.

Only click is imported at module level; the stack, the flavors and MLMD are
imported inside the commands that use them.
"""
from __future__ import annotations

from typing import Any, Callable

import click

from zen_mlmd.cli import output

#: Value flags shared by the built-in flavors: flag -> (option key, metavar, help).
#: Values are passed as text; the flavor converts and validates them.
VALUE_FLAGS: dict[str, tuple[str, str, str]] = {
    "--path": ("path", "FILE", "sqlite: the database file (stored absolute)."),
    "--connection-mode": ("connection_mode", "MODE",
                          "sqlite: readonly, readwrite or readwrite_opencreate."),
    "--journal-mode": ("journal_mode", "MODE", "sqlite: wal (default) or delete (the rollback "
                       "journal; keep it on network file systems, where WAL is unsafe)."),
    "--host": ("host", "HOST", "mysql, postgresql, kubeflow: server host name or IP."),
    "--hostaddr": ("hostaddr", "IP", "postgresql: server IP address (skips name lookup)."),
    "--socket": ("socket", "FILE", "mysql: Unix socket of the server (instead of --host)."),
    "--port": ("port", "PORT", "mysql, postgresql, kubeflow: server port."),
    "--database": ("database", "NAME", "mysql: database name."),
    "--dbname": ("dbname", "NAME", "postgresql: database name."),
    "--user": ("user", "USER", "mysql, postgresql: user name."),
    "--password": ("password", "SECRET",
                   "mysql, postgresql: password: - to type it (or pipe it on stdin), or a "
                   "${ENV_VAR} / file:/path reference."),
    "--passfile": ("passfile", "FILE", "postgresql: a .pgpass file."),
    "--ssl-ca": ("ssl_ca", "FILE", "mysql: CA certificate to verify the server."),
    "--ssl-cert": ("ssl_cert", "FILE", "mysql: client certificate."),
    "--ssl-key": ("ssl_key", "FILE", "mysql: client private key."),
    "--ssl-capath": ("ssl_capath", "DIR", "mysql: directory of CA certificates."),
    "--ssl-cipher": ("ssl_cipher", "LIST", "mysql: allowed TLS ciphers."),
    "--sslmode": ("sslmode", "MODE", "postgresql: disable, allow or prefer (the PostgreSQL "
                  "client in ml-metadata 1.17 has no TLS: every mode is plain text)."),
    "--sslcert": ("sslcert", "FILE", "postgresql: refused until ml-metadata ships TLS."),
    "--sslkey": ("sslkey", "FILE", "postgresql: refused until ml-metadata ships TLS."),
    "--sslpassword": ("sslpassword", "SECRET", "postgresql: refused until ml-metadata ships TLS."),
    "--sslrootcert": ("sslrootcert", "FILE", "postgresql: refused until ml-metadata ships TLS."),
    "--custom-ca": ("custom_ca", "FILE", "kubeflow: CA certificate of the gRPC server."),
    "--client-key": ("client_key", "FILE", "kubeflow: client private key for mutual TLS."),
    "--server-cert": ("server_cert", "FILE", "kubeflow: client certificate for mutual TLS."),
    "--client-timeout-sec": ("client_timeout_sec", "SECONDS",
                             "kubeflow: deadline of each call (default 30)."),
    "--token": ("token", "REF", "kubeflow: bearer token of a `serve --token` server, as a "
                "${ENV_VAR} or file:/path reference."),
    "--max-message-size-mb": ("max_message_size_mb", "MB", "kubeflow: gRPC message size limit."),
    "--kubernetes-context": ("kubernetes_context", "NAME",
                             "kubeflow: kubectl context to reach the service through."),
}
#: On/off flags: flag pair -> (option key, help).
BOOL_FLAGS: dict[str, tuple[str, str]] = {
    "--verify-server-cert/--no-verify-server-cert": (
        "verify_server_cert", "mysql: verify the server certificate against --ssl-ca."),
    "--verify-server-identity/--no-verify-server-identity": (
        "verify_server_identity", "mysql: also check the server's host name in its certificate."),
    "--skip-db-creation/--no-skip-db-creation": (
        "skip_db_creation", "mysql, postgresql: never create the database."),
}
_FIELD_KEYS = [key for key, _, _ in VALUE_FLAGS.values()] + [key for key, _ in BOOL_FLAGS.values()]


def config_flags(func: Callable) -> Callable:
    """Add every config flag plus `-o/--option KEY=VALUE` to a command."""
    for flag, (key, help_text) in reversed(BOOL_FLAGS.items()):
        func = click.option(flag, key, default=None, help=help_text)(func)
    for flag, (key, metavar, help_text) in reversed(VALUE_FLAGS.items()):
        func = click.option(flag, key, metavar=metavar, default=None, help=help_text)(func)
    return click.option(
        "-o", "--option", "extra_options", multiple=True, metavar="KEY=VALUE",
        help="Any other option of the flavor (for plugin flavors); repeatable.",
    )(func)


def collect_options(extra_options: tuple[str, ...], fields: dict[str, Any]) -> dict[str, Any]:
    """The options the user gave: flags first, then `-o key=value` (dashes in keys allowed)."""
    options = {key: fields[key] for key in _FIELD_KEYS if fields.get(key) is not None}
    for item in extra_options:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {key!r}", param_hint="-o/--option")
        if key in options and options[key] != value:
            raise click.BadParameter(f"{key} is given twice", param_hint="-o/--option")
        options[key] = value
    return options


def _registry():
    from zen_mlmd.stack import StackRegistry

    return StackRegistry()


def _component(registry, name: str | None):
    """The named store, or the active stack's one."""
    if name:
        return registry.get_metadata_store(name)
    return registry.get_active_stack().metadata_store


def _usage(registry) -> tuple[str, dict[str, list[str]]]:
    """The active stack's store name, and which stacks use each store."""
    users: dict[str, list[str]] = {}
    for stack in registry.list_stacks():
        users.setdefault(stack.metadata_store.name, []).append(stack.name)
    return registry.get_active_stack().metadata_store.name, users


def _literal_secrets(component, options: dict[str, Any]) -> list[str]:
    from zen_mlmd.secrets import is_reference

    secret_fields = component.flavor.config_class.SECRET_FIELDS
    return sorted(k for k, v in options.items() if k in secret_fields and not is_reference(v))


def _secret_note(registry, keys: list[str]) -> None:
    if not keys:
        return
    output.note(
        f"Note: the literal {' and '.join(keys)} is stored in {registry.config_path} "
        "(readable by you only). "
        "A reference is also accepted and keeps the secret out of the file: "
        "--password '${ENV_VAR}' or --password file:/path/to/secret."
    )


@click.group("metadata-store")
def metadata_store() -> None:
    """Register, check, upgrade and serve metadata stores.

    A metadata store is where MLMD keeps the records of runs.
    """


@metadata_store.command("register")
@click.argument("name")
@click.option("-f", "--flavor", required=True, help="The store's flavor: see `flavor list`.")
@config_flags
def register(name: str, flavor: str, extra_options: tuple[str, ...], **fields: Any) -> None:
    """Register a metadata store.

    Registers store NAME of flavor -f. Only the options given are stored; the
    flavor's defaults apply to the others. Example:

    \b
      zen-mlmd metadata-store register prod -f mysql --host 127.0.0.1 \\
          --database mlmd --user mlmd --password '${MLMD_PASSWORD}'
    """
    registry = _registry()
    from zen_mlmd.cli.secret_input import read_prompted_secrets

    read_prompted_secrets(fields)
    options = collect_options(extra_options, fields)
    component = registry.register_metadata_store(name, flavor, options)
    output.success(f"Registered metadata store {name!r} (flavor {flavor}, {component.target()}).")
    _secret_note(registry, _literal_secrets(component, options))


@metadata_store.command("update")
@click.argument("name")
@config_flags
@click.option("--unset", multiple=True, metavar="KEY",
              help="Remove an option so the flavor's default applies; repeatable.")
def update(name: str, extra_options: tuple[str, ...], unset: tuple[str, ...], **fields: Any) -> None:
    """Change some options of a store.

    Options not given keep their value; --unset KEY goes back to the flavor's default.
    """
    from zen_mlmd.cli.secret_input import read_prompted_secrets

    read_prompted_secrets(fields)
    options = collect_options(extra_options, fields)
    if not options and not unset:
        raise click.UsageError("nothing to update: give option flags, -o KEY=VALUE or --unset KEY")
    registry = _registry()
    unset_keys = [key.replace("-", "_") for key in unset]
    component = registry.update_metadata_store(name, options, unset=unset_keys)
    output.success(f"Updated metadata store {name!r} ({component.target()}).")
    _secret_note(registry, _literal_secrets(component, options))


@metadata_store.command("list")
@output.json_option
def list_stores(as_json: bool) -> None:
    """List metadata stores; * marks the active stack's one."""
    from zen_mlmd.errors import ZenMLMDError

    registry = _registry()
    active, users = _usage(registry)
    entries = []
    for component in registry.list_metadata_stores():
        entry = {"active": component.name == active, "name": component.name,
                 "flavor": component.flavor_name, "target": component.target(),
                 "stacks": users.get(component.name, [])}
        try:
            entry["config"] = component.config.describe()
        except ZenMLMDError as error:  # e.g. a plugin flavor that is no longer installed
            entry["config"], entry["problem"] = None, str(error)
        entries.append(entry)
    if as_json:
        output.print_json(entries)
        return
    output.print_table(
        ["ACTIVE", "NAME", "FLAVOR", "TARGET", "STACKS"],
        [[output.ACTIVE_MARK if e["active"] else "", e["name"], e["flavor"], e["target"],
          ", ".join(e["stacks"]) or "-"] for e in entries],
        empty="No metadata stores registered.",
    )


@metadata_store.command("describe")
@click.argument("name", required=False)
@output.json_option
def describe(name: str | None, as_json: bool) -> None:
    """Show a store's config, secrets masked.

    NAME defaults to the active stack's metadata store.
    """
    registry = _registry()
    component = _component(registry, name)
    active, users = _usage(registry)
    data = {**component.describe(), "active": component.name == active,
            "target": component.target(), "stacks": users.get(component.name, [])}
    if as_json:
        output.print_json(data)
        return
    marker = " (active)" if data["active"] else ""
    output.heading(f"Metadata store {component.name!r}{marker}")
    output.print_mapping({"flavor": data["flavor"], "target": data["target"],
                          "stacks": data["stacks"], "config": data["config"]}, indent=2)


@metadata_store.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Unregister a store (its database is left untouched)."""
    _registry().delete_metadata_store(name)
    output.success(f"Deleted metadata store {name!r}; its database was not touched.")


@metadata_store.command("check")
@click.argument("name", required=False)
@click.option("--timeout", default=5.0, show_default=True, metavar="SECONDS",
              type=click.FloatRange(min=0, min_open=True),
              help="How long to wait for the store to answer.")
@output.json_option
def check(name: str | None, timeout: float, as_json: bool) -> None:
    """Check that a store can be reached and opened; changes nothing.

    NAME defaults to the active stack's metadata store. Runs the flavor's
    preflight with a real client, then opens the store read-only with MLMD
    and reports its schema version. A store that does not exist yet is
    reported, not created (`init` creates it; so does the first run).
    """
    component = _component(_registry(), name)
    report = component.preflight(timeout=timeout)
    for warning in getattr(report, "warnings", ()):
        output.note(f"Warning: {warning}")
    if not report.ok:
        fix = f" Fix: {report.fix}" if report.fix else ""
        output.fail(f"metadata store {component.name!r} ({report.target}): {report.problem}.{fix}")
    from zen_mlmd.mlmd.store import library_schema_version

    found = report.details.get("schema_version")
    if found == "new":
        # opening would create the database (or file): a mistyped path or
        # name must not be created by a check
        schema_version = (f"none yet (created as version {library_schema_version()} by the first "
                          f"run, or by `zen-mlmd metadata-store init {component.name}`)")
    else:
        with component.open(read_only=True) as store:  # closing stops a port-forward at once
            store.get_context_types()  # one round trip: a gRPC client connects lazily
        if isinstance(found, int):
            schema_version = found
        elif component.flavor.is_database:
            schema_version = library_schema_version()  # it opened without a migration
        else:
            schema_version = "decided by the server"
    result = {"name": component.name, "flavor": component.flavor_name, "ok": True,
              "target": report.target, "schema_version": schema_version,
              "details": {k: v for k, v in dict(report.details).items() if k != "schema_version"}}
    if as_json:
        output.print_json(result)
        return
    output.success(f"Metadata store {component.name!r} is OK.")
    output.print_mapping({"flavor": result["flavor"], "target": result["target"],
                          "schema version": result["schema_version"]}, indent=2)


@metadata_store.command("init")
@click.argument("name", required=False)
def init(name: str | None) -> None:
    """Create a new store's MLMD tables; leave an existing store as it is.

    NAME defaults to the active stack's store. The first run would create
    them too: do it first when several writers start at once.
    """
    from zen_mlmd.mlmd.store import library_schema_version

    component = _component(_registry(), name)
    report = component.preflight()
    if not report.ok:
        output.fail(f"metadata store {component.name!r} ({report.target}): {report.problem}."
                    + (f" Fix: {report.fix}" if report.fix else ""))
    found = report.details.get("schema_version")
    if found not in (None, "new"):
        output.success(f"Metadata store {component.name!r} ({report.target}) exists already "
                       f"(schema version {found}); nothing was changed.")
        return
    with component.open() as store:  # MLMD creates the schema (or the server has)
        store.get_context_types()  # one round trip: a gRPC client connects lazily
    created = (f"schema version {library_schema_version()}" if component.flavor.is_database
               else "its server keeps the schema")
    output.success(f"Metadata store {component.name!r} ({report.target}) is ready ({created}).")


@metadata_store.command("upgrade")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def upgrade(name: str, yes: bool) -> None:
    """Migrate a store's MLMD schema to this library's version.

    Back the database up first: older ml-metadata versions cannot read an
    upgraded store. Opening a store never migrates it; only this command does.
    """
    from zen_mlmd.mlmd.store import library_schema_version

    component = _registry().get_metadata_store(name)
    if not component.flavor.is_database:
        output.fail(f"metadata store {name!r} ({component.flavor_name}) is a gRPC endpoint: its "
                    "server decides about schema migration. Fix: upgrade the store the server "
                    "uses", code=2)
    report = component.preflight()
    if not report.ok:
        output.fail(f"metadata store {name!r} ({report.target}): {report.problem}. Fix: {report.fix}")
    current = report.details.get("schema_version", "unknown")
    target = library_schema_version()
    if current == target:
        output.success(f"Metadata store {name!r} is already at schema version {target}.")
        return
    if not yes:
        click.confirm(f"Migrate the MLMD schema of {name!r} ({report.target}) from version "
                      f"{current} to {target}? Back up the database first.", abort=True)
    with component.open(allow_upgrade=True):
        pass
    output.success(f"Metadata store {name!r} is at schema version {target}.")


@metadata_store.group("flavor")
def flavor() -> None:
    """List the kinds of store zen-mlmd can use."""


@flavor.command("list")
@output.json_option
def list_flavors(as_json: bool) -> None:
    """List the installed flavors (built-in and plugins)."""
    from zen_mlmd.flavors.registry import list_flavors as installed_flavors

    rows = [{"flavor": f.name, "integration": f.integration,
             "kind": "database" if f.is_database else "gRPC endpoint", "notes": f.notes}
            for f in installed_flavors()]
    if as_json:
        output.print_json(rows)
        return
    output.print_table(["FLAVOR", "INTEGRATION", "KIND", "NOTES"],
                       [list(row.values()) for row in rows])


def _attach_subcommands() -> None:
    # in modules of their own (zen_mlmd/cli/store_copy.py, store_serve.py): only click is imported there
    from zen_mlmd.cli.store_copy import copy_command
    from zen_mlmd.cli.store_serve import serve_command

    metadata_store.add_command(copy_command)
    metadata_store.add_command(serve_command)


_attach_subcommands()
