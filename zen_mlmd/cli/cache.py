"""`zen-mlmd cache`: why a step was or was not served from the cache."""
from __future__ import annotations

import click

from zen_mlmd.cli.output import heading, json_option, print_json, print_table
from zen_mlmd.cli.run import read_session, store_option


@click.group()
def cache() -> None:
    """Inspect step caching: hits, misses and their reasons."""


@cache.command("explain")
@click.argument("run_name")
@click.argument("step_name", required=False)
@store_option
@json_option
def explain(run_name: str, step_name: str | None, store_name: str | None, as_json: bool) -> None:
    """Say for each step of RUN (or only STEP) whether it was a cache hit, and why not.

    A miss names what changed since the latest earlier execution of the same
    step: the code of a function it reaches, a closure variable, default,
    global or class attribute it reads (with old and new values), a package
    version, a parameter, an input produced by an upstream step, its outputs
    or materializers, or the artifact store; or which recorded output was
    missing or changed so it could not be reused. An uncacheable step names
    the value it reads that cannot be fingerprinted.
    """
    from zen_mlmd.tracking.explain import explain_run

    with read_session(store_name).store as store:  # read-only: explaining never writes
        explanations = explain_run(store, run_name, step_name)
    if as_json:
        print_json([e.to_dict() for e in explanations])
        return
    hits = sum(1 for e in explanations if e.status == "hit")
    heading(f"Run {run_name!r}: {hits} of {len(explanations)} steps served from the cache")
    print_table(
        ["STEP", "CACHE", "WHY", "COMPARED WITH"],
        [[e.step, e.status, "; ".join(e.reasons), e.compared_with or "-"] for e in explanations],
    )
