"""`zen-mlmd artifact ...`: describe recorded artifacts and draw their lineage."""
from __future__ import annotations

import click

from zen_mlmd.cli import output
from zen_mlmd.cli.run import iso, read_session, store_option

FORMATS = ("text", "json", "dot", "mermaid", "svg")


@click.group("artifact")
def artifact() -> None:
    """Read recorded artifacts and their lineage."""


@artifact.command("describe")
@click.argument("artifact_id", metavar="ID", type=int)
@store_option
@output.json_option
def describe(artifact_id: int, store_name: str | None, as_json: bool) -> None:
    """Describe artifact ID: type, location, how to read it and who produced it."""
    from zen_mlmd.post_execution import get_artifact

    found = get_artifact(artifact_id, read_session(store_name))
    producer = found.producer_step
    data = {
        "id": found.id, "name": found.name, "type": found.type, "kind": found.kind,
        "base_type": found.base_type, "state": found.state, "uri": found.uri,
        "materializer": found.materializer, "data_type": found.data_type,
        "content_hash": found.content_hash, "created": iso(found.created_time),
        "producer": ({"step": producer.name, "execution_id": producer.id, "run": producer.run_name,
                      "status": producer.status} if producer is not None else None),
    }
    if as_json:
        output.print_json(data)
        return
    output.heading(f"Artifact #{found.id} ({found.name})")
    shown = {k: v for k, v in data.items() if k not in ("id", "name", "producer")}
    shown["producer"] = (f"step {producer.name!r} (execution #{producer.id}) of run "
                         f"{producer.run_name!r} [{producer.status}]" if producer is not None else None)
    output.print_mapping(shown, indent=2)


@artifact.command("lineage")
@click.argument("artifact_id", metavar="ID", type=int)
@click.option("--direction", type=click.Choice(["upstream", "downstream", "both"]),
              default="upstream", show_default=True,
              help="What it came from, what came from it, or both.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text: a tree; json, dot (Graphviz), mermaid; svg: a picture (needs `dot`).")
@click.option("--max-hops", type=click.IntRange(0, 100), default=20, show_default=True,
              help="How many artifact/step edges to follow.")
@click.option("--include-cached", is_flag=True,
              help="Show every cached execution as its own node (default: folded into the "
                   "step that produced the reused outputs).")
@click.option("--output", "output_path", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file (svg: default lineage-ID.svg).")
@store_option
def lineage(artifact_id: int, direction: str, fmt: str, max_hops: int, include_cached: bool,
            output_path: str | None, store_name: str | None) -> None:
    """Show the lineage of artifact ID, from one MLMD lineage query."""
    from zen_mlmd.post_execution import export
    from zen_mlmd.post_execution.lineage import artifact_lineage

    graph = artifact_lineage(read_session(store_name), artifact_id, direction, max_hops,
                             include_cached=include_cached)
    if fmt == "svg":
        path = export.to_svg(graph, output_path or f"lineage-{artifact_id}.svg")
        output.success(f"Wrote {path} ({len(graph.nodes)} nodes).")
        return
    render = {"text": export.to_text, "json": export.to_json, "dot": export.to_dot,
              "mermaid": export.to_mermaid}[fmt]
    text = render(graph)
    if not text.endswith("\n"):
        text += "\n"
    if output_path:
        with open(output_path, "w", encoding="utf-8") as handle:
            handle.write(text)
        output.success(f"Wrote {output_path} ({len(graph.nodes)} nodes).")
        return
    click.echo(text, nl=False)
