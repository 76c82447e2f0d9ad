"""`zen-mlmd stack ...`: combine components into stacks and pick the active one."""
from __future__ import annotations

import click

from zen_mlmd.cli import output


def _registry():
    from zen_mlmd.stack import StackRegistry

    return StackRegistry()


def _summary(stack) -> dict:
    """A stack as plain data without secrets, for JSON and text output."""
    store = stack.metadata_store
    return {
        "name": stack.name,
        "metadata_store": {"name": store.name, "flavor": store.flavor_name,
                           "target": store.target()},
        "artifact_store": stack.artifact_store.describe(),
        "orchestrator": stack.orchestrator.describe(),
    }


@click.group("stack")
def stack() -> None:
    """Combine components into stacks; pick one.

    A stack is a metadata store, an artifact store and an orchestrator used
    together; pipelines run on the active stack.
    """


@stack.command("register")
@click.argument("name")
@click.option("-m", "--metadata-store", required=True, help="A registered metadata store.")
@click.option("-a", "--artifact-store", required=True, help="A registered artifact store.")
@click.option("-o", "--orchestrator", default="default", show_default=True,
              help="A registered orchestrator.")
@click.option("--set", "activate", is_flag=True, help="Make it the active stack.")
def register(name: str, metadata_store: str, artifact_store: str, orchestrator: str,
             activate: bool) -> None:
    """Register stack NAME from registered components."""
    registry = _registry()
    registry.register_stack(name, metadata_store, artifact_store, orchestrator)
    output.success(f"Registered stack {name!r}.")
    if activate:
        registry.set_active_stack(name)
        output.success(f"Active stack: {name!r}.")


@stack.command("update")
@click.argument("name")
@click.option("-m", "--metadata-store", help="Use another metadata store.")
@click.option("-a", "--artifact-store", help="Use another artifact store.")
@click.option("-o", "--orchestrator", help="Use another orchestrator.")
def update(name: str, metadata_store: str | None, artifact_store: str | None,
           orchestrator: str | None) -> None:
    """Point stack NAME at other components."""
    if not (metadata_store or artifact_store or orchestrator):
        raise click.UsageError("nothing to update: give -m, -a or -o")
    _registry().update_stack(name, metadata_store, artifact_store, orchestrator)
    output.success(f"Updated stack {name!r}.")


@stack.command("list")
@output.json_option
def list_stacks(as_json: bool) -> None:
    """List stacks; * marks the active one."""
    registry = _registry()
    active = registry.active_stack_name
    entries = [{"active": s.name == active, **_summary(s)} for s in registry.list_stacks()]
    if as_json:
        output.print_json(entries)
        return
    output.print_table(
        ["ACTIVE", "NAME", "METADATA STORE", "ARTIFACT STORE", "ORCHESTRATOR"],
        [[output.ACTIVE_MARK if e["active"] else "", e["name"],
          f"{e['metadata_store']['name']} ({e['metadata_store']['flavor']})",
          e["artifact_store"]["name"], e["orchestrator"]["name"]] for e in entries],
    )


@stack.command("describe")
@click.argument("name", required=False)
@output.json_option
def describe(name: str | None, as_json: bool) -> None:
    """Show a stack and its components.

    NAME defaults to the active stack.
    """
    registry = _registry()
    chosen = registry.get_stack(name) if name else registry.get_active_stack()
    data = {"active": chosen.name == registry.active_stack_name, **_summary(chosen)}
    if as_json:
        # The full description, with the metadata store's config (secrets masked).
        full = chosen.describe()
        full["metadata_store"]["target"] = data["metadata_store"]["target"]
        output.print_json({"active": data["active"], **full})
        return
    output.heading(f"Stack {chosen.name!r}{' (active)' if data['active'] else ''}")
    store, artifacts, orchestrator = (
        data["metadata_store"], data["artifact_store"], data["orchestrator"])
    output.print_table(
        ["COMPONENT", "NAME", "FLAVOR", "LOCATION"],
        [["metadata store", store["name"], store["flavor"], store["target"]],
         ["artifact store", artifacts["name"], "-", artifacts["path"]],
         ["orchestrator", orchestrator["name"], orchestrator["flavor"], "-"]],
    )


@stack.command("set")
@click.argument("name")
def set_active(name: str) -> None:
    """Make stack NAME the active one."""
    _registry().set_active_stack(name)
    output.success(f"Active stack: {name!r}.")


@stack.command("get")
def get_active() -> None:
    """Print the name of the active stack."""
    click.echo(_registry().active_stack_name)


@stack.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Unregister a stack (its components stay)."""
    _registry().delete_stack(name)
    output.success(f"Deleted stack {name!r}.")
