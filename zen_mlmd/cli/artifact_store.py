"""`zen-mlmd artifact-store ...`: where artifact contents are written."""
from __future__ import annotations

import click

from zen_mlmd.cli import output


def _registry():
    from zen_mlmd.stack import StackRegistry

    return StackRegistry()


def _usage(registry) -> tuple[str, dict[str, list[str]]]:
    """The active stack's artifact store name, and which stacks use each store."""
    users: dict[str, list[str]] = {}
    for stack in registry.list_stacks():
        users.setdefault(stack.artifact_store.name, []).append(stack.name)
    return registry.get_active_stack().artifact_store.name, users


@click.group("artifact-store")
def artifact_store() -> None:
    """Register artifact stores (where artifacts live).

    An artifact store holds the contents of artifacts; MLMD records their URIs.
    """


@artifact_store.command("register")
@click.argument("name")
@click.option("--path", required=True, metavar="DIR_OR_URL",
              help="A local directory (stored absolute) or an fsspec URL such as s3://bucket/prefix.")
@click.option("--trusted", is_flag=True,
              help="Trust everyone who can write there: pickle artifacts are read from it "
                   "without --trust.")
def register(name: str, path: str, trusted: bool) -> None:
    """Register artifact store NAME.

    Artifacts are only ever read from registered artifact stores.
    """
    component = _registry().register_artifact_store(name, path, trusted=trusted)
    marked = " (trusted)" if component.trusted else ""
    output.success(f"Registered artifact store {name!r} at {component.path}{marked}.")


@artifact_store.command("update")
@click.argument("name")
@click.option("--trusted/--untrusted", "trusted", required=True,
              help="Trust everyone who can write there (pickle artifacts are then read without "
                   "--trust), or stop trusting them.")
def update(name: str, trusted: bool) -> None:
    """Mark artifact store NAME trusted or untrusted."""
    _registry().set_artifact_store_trust(name, trusted)
    output.success(f"Artifact store {name!r} is {'trusted' if trusted else 'not trusted'}.")


@artifact_store.command("list")
@output.json_option
def list_stores(as_json: bool) -> None:
    """List artifact stores; * marks the active stack's one."""
    registry = _registry()
    active, users = _usage(registry)
    entries = [{"active": c.name == active, **c.describe(), "stacks": users.get(c.name, [])}
               for c in registry.list_artifact_stores()]
    if as_json:
        output.print_json(entries)
        return
    output.print_table(
        ["ACTIVE", "NAME", "PATH", "TRUSTED", "STACKS"],
        [[output.ACTIVE_MARK if e["active"] else "", e["name"], e["path"],
          "yes" if e["trusted"] else "no", ", ".join(e["stacks"]) or "-"] for e in entries],
        empty="No artifact stores registered.",
    )


@artifact_store.command("describe")
@click.argument("name", required=False)
@output.json_option
def describe(name: str | None, as_json: bool) -> None:
    """Show an artifact store.

    NAME defaults to the active stack's artifact store.
    """
    registry = _registry()
    component = registry.get_artifact_store(name) if name \
        else registry.get_active_stack().artifact_store
    active, users = _usage(registry)
    data = {**component.describe(), "active": component.name == active,
            "stacks": users.get(component.name, [])}
    if as_json:
        output.print_json(data)
        return
    output.heading(f"Artifact store {component.name!r}{' (active)' if data['active'] else ''}")
    output.print_mapping({"path": data["path"], "trusted": data["trusted"], "stacks": data["stacks"]},
                         indent=2)


@artifact_store.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Unregister an artifact store (its contents stay)."""
    _registry().delete_artifact_store(name)
    output.success(f"Deleted artifact store {name!r}; its contents were not touched.")
