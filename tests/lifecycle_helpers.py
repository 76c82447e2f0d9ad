"""Checks shared by the lifecycle tests: the whole store read with plain ml_metadata.

`assert_store_consistent` reads every record through ml_metadata itself (not
zen_mlmd) and checks that no event, attribution, association or parent link
names a record that is gone; on a database store it also counts property
and event-path rows whose owner is gone (through `SchemaDatabase`, whose
SQLite runs in a child process), and checks a SQLite file's integrity.
`openlineage_validators` checks exported events against OpenLineage's schemas.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from ml_metadata.metadata_store import metadata_store as mlmd

from backends import connection_config


def plain_store(backend) -> mlmd.MetadataStore:
    """ml_metadata's own client on the backend's store."""
    return mlmd.MetadataStore(connection_config(backend))


def assert_store_consistent(backend) -> None:
    raw = plain_store(backend)
    artifacts = {a.id for a in raw.get_artifacts()}
    executions = {e.id for e in raw.get_executions()}
    contexts = {c.id for c in raw.get_contexts()}
    if executions:
        for event in raw.get_events_by_execution_ids(sorted(executions)):
            assert event.artifact_id in artifacts, f"event to a missing artifact: {event}"
    if artifacts:
        for event in raw.get_events_by_artifact_ids(sorted(artifacts)):
            assert event.execution_id in executions, f"event from a missing execution: {event}"
    for context_id in sorted(contexts):
        assert {a.id for a in raw.get_artifacts_by_context(context_id)} <= artifacts
        assert {e.id for e in raw.get_executions_by_context(context_id)} <= executions
        assert {c.id for c in raw.get_parent_contexts_by_context(context_id)} <= contexts
        assert {c.id for c in raw.get_children_contexts_by_context(context_id)} <= contexts
    if backend.flavor != "kubeflow":
        _assert_no_orphan_rows(backend)
    if backend.flavor == "sqlite":
        assert integrity(backend.options["path"]) == "ok"


_ORPHAN_ROWS = {
    "artifact properties": "SELECT COUNT(*) FROM ArtifactProperty WHERE artifact_id NOT IN (SELECT id FROM Artifact)",
    "execution properties": "SELECT COUNT(*) FROM ExecutionProperty WHERE execution_id NOT IN (SELECT id FROM Execution)",
    "context properties": "SELECT COUNT(*) FROM ContextProperty WHERE context_id NOT IN (SELECT id FROM Context)",
    "event paths": "SELECT COUNT(*) FROM EventPath WHERE event_id NOT IN (SELECT id FROM Event)",
    "events": "SELECT COUNT(*) FROM Event WHERE artifact_id NOT IN (SELECT id FROM Artifact) "
              "OR execution_id NOT IN (SELECT id FROM Execution)",
    "attributions": "SELECT COUNT(*) FROM Attribution WHERE artifact_id NOT IN (SELECT id FROM Artifact) "
                    "OR context_id NOT IN (SELECT id FROM Context)",
    "associations": "SELECT COUNT(*) FROM Association WHERE execution_id NOT IN (SELECT id FROM Execution) "
                    "OR context_id NOT IN (SELECT id FROM Context)",
    "parent links": "SELECT COUNT(*) FROM ParentContext WHERE context_id NOT IN (SELECT id FROM Context) "
                    "OR parent_context_id NOT IN (SELECT id FROM Context)",
}


def _assert_no_orphan_rows(backend) -> None:
    from zen_mlmd.mlmd.database import SchemaDatabase

    with SchemaDatabase(connection_config(backend)) as db:
        for what, text in _ORPHAN_ROWS.items():
            cursor = db._conn.cursor()
            cursor.execute(text)
            (count,) = cursor.fetchone()
            cursor.close()
            assert count == 0, f"{count} {what} name a record that is gone"


def integrity(path: str | os.PathLike) -> str:
    """SQLite's `PRAGMA integrity_check` of a file ("ok" when sound), asked in another process.

    Never from this one: Python's SQLite closing a handle on a file MLMD has
    open here would release MLMD's locks on it (see `zen_mlmd.mlmd.journal`).
    """
    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "print('; '.join(r[0] for r in c.execute('PRAGMA integrity_check')))")
    done = subprocess.run([sys.executable, "-c", code, os.fspath(path)], capture_output=True,
                          text=True, check=True, timeout=120)
    return done.stdout.strip()


def tree_digest(root: str | os.PathLike) -> dict[str, str]:
    """sha256 of every file under `root`, by relative path."""
    root = Path(root)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def lineage_shape(graph) -> tuple:
    """A lineage graph as artifact ids, step names and named edges (no execution ids)."""
    nodes = {n.key: n for n in graph.nodes}

    def label(key: str) -> str:
        node = nodes[key]
        return f"artifact:{node.id}" if node.kind == "artifact" else f"step:{node.name}"

    return (sorted(label(k) for k in nodes),
            sorted((label(e.source), label(e.target), e.name) for e in graph.edges))


SCHEMAS = Path(__file__).resolve().parent / "fixtures" / "openlineage"


def openlineage_validators():
    """(RunEvent validator, ParentRunFacet validator) from the OpenLineage JSON schemas.

    The schemas are the specification's files of the versions openlineage-python
    names (tests/fixtures/openlineage).
    """
    import jsonschema
    from referencing import Registry, Resource

    registry = Registry()
    schemas = {}
    for name in ("OpenLineage.json", "ParentRunFacet.json"):
        schema = json.loads((SCHEMAS / name).read_text())
        schemas[name] = schema
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    event = jsonschema.Draft202012Validator(
        {"$ref": schemas["OpenLineage.json"]["$id"] + "#/$defs/RunEvent"}, registry=registry,
        format_checker=jsonschema.FormatChecker())
    parent = jsonschema.Draft202012Validator(
        {"$ref": schemas["ParentRunFacet.json"]["$id"] + "#/$defs/ParentRunFacet"}, registry=registry,
        format_checker=jsonschema.FormatChecker())
    return event, parent
