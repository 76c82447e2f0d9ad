"""`zen-mlmd orchestrator ...`: register the orchestrators stacks run pipelines with.

Only click is imported at module level; the stack and the orchestrator
flavors (with pydantic, and the plugins' modules) load inside the commands.
"""
from __future__ import annotations

from typing import Any

import click

from zen_mlmd.cli import output
from zen_mlmd.cli.metadata_store import collect_options


def parse_options(items: tuple[str, ...]) -> dict[str, Any]:
    """`-o key=value` items as a mapping, parsed as for metadata stores (values stay text)."""
    return collect_options(items, {})


def _registry():
    from zen_mlmd.stack import StackRegistry

    return StackRegistry()


def _usage(registry) -> tuple[str, dict[str, list[str]]]:
    """The active stack's orchestrator name, and which stacks use each orchestrator."""
    users: dict[str, list[str]] = {}
    for stack in registry.list_stacks():
        users.setdefault(stack.orchestrator.name, []).append(stack.name)
    return registry.get_active_stack().orchestrator.name, users


def _effective_config(component) -> tuple[dict[str, Any] | None, str | None]:
    """The options with the flavor's defaults filled in, or the problem with them."""
    from zen_mlmd.errors import ZenMLMDError
    from zen_mlmd.pipelines.orchestrators import get_orchestrator_flavor

    try:
        config = get_orchestrator_flavor(component.flavor).parse_config(dict(component.options))
    except ZenMLMDError as error:  # an uninstalled plugin, options no longer valid
        return None, str(error)
    shown = config.describe() if hasattr(config, "describe") else config.model_dump()
    return {k: v for k, v in shown.items() if v is not None}, None


_OPTION_HELP = "An option of the flavor, e.g. convention=kfp or local=true; repeatable."


@click.group("orchestrator")
def orchestrator() -> None:
    """Register orchestrators (how a stack runs pipelines).

    The built-in `local` flavor runs steps in this process; plugins add more
    (zen-mlmd-kfp adds `kubeflow`). See `zen-mlmd orchestrator flavor list`.
    """


@orchestrator.command("register")
@click.argument("name")
@click.option("-f", "--flavor", default="local", show_default=True,
              help="The orchestrator's flavor: see `flavor list`.")
@click.option("-o", "--option", "items", multiple=True, metavar="KEY=VALUE", help=_OPTION_HELP)
def register(name: str, flavor: str, items: tuple[str, ...]) -> None:
    """Register orchestrator NAME of flavor -f.

    Only the options given are stored; the flavor's defaults apply to the
    others. Example:

    \b
      zen-mlmd orchestrator register kfp-local -f kubeflow -o local=true -o convention=kfp
    """
    component = _registry().register_orchestrator(name, flavor, parse_options(items))
    shown = _one_line(component.options)
    output.success(f"Registered orchestrator {name!r} (flavor {flavor}"
                   f"{', ' + shown if component.options else ''}).")


@orchestrator.command("update")
@click.argument("name")
@click.option("-o", "--option", "items", multiple=True, metavar="KEY=VALUE", help=_OPTION_HELP)
@click.option("--unset", multiple=True, metavar="KEY",
              help="Remove an option so the flavor's default applies; repeatable.")
def update(name: str, items: tuple[str, ...], unset: tuple[str, ...]) -> None:
    """Change some options of orchestrator NAME (the others are kept)."""
    if not items and not unset:
        raise click.UsageError("nothing to update: give -o KEY=VALUE or --unset KEY")
    _registry().update_orchestrator(name, parse_options(items),
                                    unset=[key.replace("-", "_") for key in unset])
    output.success(f"Updated orchestrator {name!r}.")


@orchestrator.command("list")
@output.json_option
def list_orchestrators(as_json: bool) -> None:
    """List orchestrators; * marks the active stack's one."""
    registry = _registry()
    active, users = _usage(registry)
    entries = [{"active": c.name == active, **c.describe(), "stacks": users.get(c.name, [])}
               for c in registry.list_orchestrators()]
    if as_json:
        output.print_json(entries)
        return
    output.print_table(
        ["ACTIVE", "NAME", "FLAVOR", "OPTIONS", "STACKS"],
        [[output.ACTIVE_MARK if e["active"] else "", e["name"], e["flavor"],
          _one_line(e["options"]),
          ", ".join(e["stacks"]) or "-"] for e in entries],
        empty="No orchestrators registered.",
    )


@orchestrator.command("describe")
@click.argument("name", required=False)
@output.json_option
def describe(name: str | None, as_json: bool) -> None:
    """Show an orchestrator: its options and the flavor's defaults.

    NAME defaults to the active stack's orchestrator.
    """
    registry = _registry()
    component = registry.get_orchestrator(name) if name \
        else registry.get_active_stack().orchestrator
    active, users = _usage(registry)
    config, problem = _effective_config(component)
    data = {**component.describe(), "active": component.name == active,
            "stacks": users.get(component.name, []), "config": config}
    if problem:
        data["problem"] = problem
    if as_json:
        output.print_json(data)
        return
    output.heading(f"Orchestrator {component.name!r}{' (active)' if data['active'] else ''}")
    shown = {"flavor": data["flavor"], "stacks": data["stacks"], "options": data["options"]}
    shown["config"] = config if config is not None else {}
    output.print_mapping(shown, indent=2)
    if problem:
        output.note(f"Warning: {problem}")


@orchestrator.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Unregister orchestrator NAME (refused while a stack uses it)."""
    _registry().delete_orchestrator(name)
    output.success(f"Deleted orchestrator {name!r}.")


@orchestrator.group("flavor")
def flavor() -> None:
    """List the kinds of orchestrator zen-mlmd can use."""


@flavor.command("list")
@output.json_option
def list_flavors(as_json: bool) -> None:
    """List the installed orchestrator flavors (built-in and plugins)."""
    from zen_mlmd.pipelines.orchestrators import list_orchestrator_flavors

    rows = [{"flavor": f.name, "integration": getattr(f, "integration", "-"),
             "options": list(getattr(f.config_class, "model_fields", {})),
             "notes": getattr(f, "notes", "") or _first_line(type(f).__doc__)}
            for f in list_orchestrator_flavors()]
    if as_json:
        output.print_json(rows)
        return
    output.print_table(["FLAVOR", "INTEGRATION", "OPTIONS", "NOTES"],
                       [[r["flavor"], r["integration"], ", ".join(r["options"]) or "-", r["notes"]]
                        for r in rows])


def _one_line(options) -> str:
    """`key=value, ...` as a user would type the values (`local=true`), or `-`."""
    import json

    return ", ".join(f"{key}={value if isinstance(value, str) else json.dumps(value)}"
                     for key, value in options.items()) or "-"


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""
