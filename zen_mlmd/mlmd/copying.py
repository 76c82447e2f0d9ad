"""Writing records into a store's database with their ids and times: copies and imports.

MLMD's API stamps every record it writes with the current time, so a copy
made through it would show every run as started today. `DatabaseSink`
writes nodes, properties, events, attributions, associations and parent
links with SQL (`zen_mlmd.mlmd.sql`) exactly as MLMD stores them, one
transaction per page. Types go through MLMD's API (by name: a new store
already holds MLMD's simple types, so type ids are remapped).

Node ids are kept: conventions store ids in properties (a cached step's
original execution, a KFP task's parent DAG), and they stay true only with
the same ids. The destination must therefore hold no nodes, except those of
an unfinished copy of the same source: a marker table (`zen_mlmd_copy`)
names the source while a copy is under way; a copy started again skips the
pages already written and completes; the marker is dropped once the counts
are verified.
"""
from __future__ import annotations

import base64
import time
from typing import Callable, Iterable, Mapping

from zen_mlmd.errors import ConfigError, StoreError
from zen_mlmd.mlmd import sql
from zen_mlmd.mlmd.database import SchemaDatabase
from zen_mlmd.mlmd.store import MetadataStore
from zen_mlmd.mlmd.store_reading import Batch, StoreSource

STRUCT_PREFIX = "mlmd-struct::"  # ml_metadata/util/struct_utils.cc
COUNTED = ("context", "parent_context", "artifact", "execution", "event", "attribution", "association")


class DatabaseSink:
    """Writes batches into the database of `store` (sqlite, mysql or postgresql).

    Args:
        store: the destination, open (MLMD has created its schema).
        source_name: names the source in the resume marker.

    Raises:
        StoreError: the destination is a gRPC endpoint.
        ConfigError: it holds records that are not an unfinished copy of this source.
    """

    def __init__(self, store: MetadataStore, source_name: str):
        if not store.has_database:
            raise StoreError(
                f"{store.store_name}: records can only be written with their ids and times into a "
                "database. Fix: write into the database behind the gRPC service (a sqlite, mysql or "
                "postgresql store)")
        self.store = store
        self.source_name = source_name[:255]
        self.db: SchemaDatabase = store.database()
        self.type_ids: dict[tuple[str, str], int] = {}
        self.resumed = False
        self._start()

    def close(self) -> None:
        self.db.close()

    # -- the marker ---------------------------------------------------------------------
    def _start(self) -> None:
        db = self.db
        marker = db.query("read_copy_marker") if db.table_exists("zen_mlmd_copy") else []
        if marker:
            source = marker[0][0]
            if source != self.source_name:
                raise ConfigError(
                    "destination", self.store.store_name,
                    f"holds an unfinished copy of another source ({source})",
                    "finish that copy by running it again, or copy into an empty database")
            self.resumed = True
            return
        nodes = db.query("count_nodes")[0]
        if any(nodes):
            raise ConfigError(
                "destination", self.store.store_name,
                f"already holds records ({nodes[0]} artifacts, {nodes[1]} executions, {nodes[2]} "
                "contexts); records keep their ids, so they are written only into an empty store",
                "give a new SQLite file or an empty MySQL/PostgreSQL database")
        with db.transaction():
            db.execute("create_copy_marker")
            db.execute("write_copy_marker", (self.source_name, "", int(time.time() * 1000)))

    # -- batches ------------------------------------------------------------------------
    def write(self, batch: Batch) -> None:
        getattr(self, f"_write_{batch.what}")(batch)

    def _write_types(self, batch: Batch) -> None:
        put = getattr(self.store.raw, f"put_{batch.kind}_type")
        for type_proto in batch.nodes:
            copy = type(type_proto)()
            copy.CopyFrom(type_proto)
            copy.ClearField("id")
            self.type_ids[(batch.kind, copy.name)] = put(copy, can_add_fields=True, can_omit_fields=True)
        if self.db.dialect.name == "postgresql":  # no unique index on names: ask MLMD which id won
            getter = getattr(self.store.raw, f"get_{batch.kind}_type")
            for type_proto in batch.nodes:
                self.type_ids[(batch.kind, type_proto.name)] = getter(type_proto.name).id

    def _new(self, kind: str, nodes: list) -> list:
        if not nodes:
            return []
        existing = {row[0] for row in self.db.query(f"existing_{kind}s", ids=sql.ids(n.id for n in nodes))}
        return [n for n in nodes if n.id not in existing]

    def _type_id(self, kind: str, node) -> int:
        try:
            return self.type_ids[(kind, node.type)]
        except KeyError:
            raise StoreError(f"{kind} {node.id} has the type {node.type!r}, which the source did not "
                             "list among its types. Fix: export or copy the source again (its types "
                             "come first)") from None

    def _write_contexts(self, batch: Batch) -> None:
        new = self._new("context", batch.nodes)
        rows = [(c.id, self._type_id("context", c), c.name, _opt(c, "external_id"),
                 c.create_time_since_epoch, c.last_update_time_since_epoch) for c in new]
        with self.db.transaction():
            self.db.execute_many("insert_context", rows)
            self._properties("ContextProperty", "context_id", new)

    def _write_parents(self, batch: Batch) -> None:
        if not batch.links:
            return
        children = sql.ids(c for c, _ in batch.links)
        existing = set(self.db.query("existing_parent_links", ids=children))
        with self.db.transaction():
            self.db.execute_many("insert_parent_link", [l for l in batch.links if l not in existing])

    def _write_artifacts(self, batch: Batch) -> None:
        new = self._new("artifact", batch.nodes)
        ids = {a.id for a in new}
        rows = [(a.id, self._type_id("artifact", a), _opt(a, "uri"), _opt(a, "state"), _opt(a, "name"),
                 _opt(a, "external_id"), a.create_time_since_epoch, a.last_update_time_since_epoch)
                for a in new]
        with self.db.transaction():
            self.db.execute_many("insert_artifact", rows)
            self._properties("ArtifactProperty", "artifact_id", new)
            self.db.execute_many("insert_attribution", [l for l in batch.attributions if l[1] in ids])

    def _write_executions(self, batch: Batch) -> None:
        new = self._new("execution", batch.nodes)
        ids = {e.id for e in new}
        rows = [(e.id, self._type_id("execution", e), _opt(e, "last_known_state"), _opt(e, "name"),
                 _opt(e, "external_id"), e.create_time_since_epoch, e.last_update_time_since_epoch)
                for e in new]
        events = [e for e in batch.events if e.execution_id in ids]
        with self.db.transaction():
            self.db.execute_many("insert_execution", rows)
            self._properties("ExecutionProperty", "execution_id", new)
            self.db.execute_many("insert_association", [l for l in batch.associations if l[1] in ids])
            self.db.execute_many("insert_event", [
                (e.artifact_id, e.execution_id, e.type,
                 e.milliseconds_since_epoch if e.HasField("milliseconds_since_epoch") else None)
                for e in events])
            if events:
                event_ids = {(a, x, t): i for i, a, x, t in self.db.query("event_ids", ids=sql.ids(ids))}
                paths = []
                for event in events:
                    event_id = event_ids[(event.artifact_id, event.execution_id, event.type)]
                    for step in event.path.steps:
                        if step.HasField("index"):
                            paths.append((event_id, True, step.index, None))
                        else:
                            paths.append((event_id, False, None, step.key))
                self.db.execute_many("insert_event_path", paths)

    def _properties(self, table: str, owner: str, nodes: Iterable) -> None:
        rows = []
        base64_proto = self.db.dialect.proto_bytes_base64
        for node in nodes:
            for custom, values in ((False, node.properties), (True, node.custom_properties)):
                for name, value in values.items():
                    rows.append((node.id, name, custom, *_columns(value, base64_proto)))
        self.db.execute_many("insert_property", rows, table=table, owner=owner)

    # -- the end --------------------------------------------------------------------------
    def finish(self, expected: Mapping[str, int]) -> dict[str, int]:
        """Move PostgreSQL's sequences past the written ids, verify counts, drop the marker.

        Raises:
            StoreError: a count differs (the marker stays: run the copy again).
        """
        if self.db.dialect.has("advance_sequence"):
            for table in sql.ID_TABLES:
                self.db.query("advance_sequence", table=table.lower())
        found = dict(zip(COUNTED, self.db.query("count_all")[0]))
        wrong = {k: (expected.get(k, 0), found[k]) for k in COUNTED if expected.get(k, 0) != found[k]}
        if wrong:
            detail = ", ".join(f"{k}: {want} read, {got} written" for k, (want, got) in wrong.items())
            raise StoreError(f"{self.store.store_name}: the copy does not match its source ({detail}). "
                             "Fix: run it again; it resumes where the counts differ")
        with self.db.transaction():
            self.db.execute("drop_copy_marker")
        return found


def transfer(batches: Iterable[Batch], sink: DatabaseSink,
             progress: Callable[[str, int], None] | None = None) -> None:
    """Write every batch; `progress` gets (what, records in the batch) after each."""
    for batch in batches:
        sink.write(batch)
        if progress is not None:
            progress(batch.what, len(batch.nodes) or len(batch.links))


def copy_store(source: MetadataStore, destination: MetadataStore, selection=None,
               progress: Callable[[str, int], None] | None = None,
               total: Callable[[int | None], None] | None = None) -> dict[str, int]:
    """Copy the records of `selection` (default: all) from `source` into an empty `destination`.

    Args:
        progress: called with (what, records in the batch) after each batch.
        total: called once, before the first batch, with the number of
            contexts, artifacts and executions to copy (None when unknown:
            the whole store).

    Returns:
        The verified counts by record kind.

    Raises:
        ConfigError: the destination is not empty (and holds no unfinished
            copy of this source).
        StoreError: a count differs at the end, or the destination is not a database.
    """
    reader = StoreSource(source, selection)
    sink = DatabaseSink(destination, f"{source.identity} [{reader.selection.label}]")
    try:
        if total is not None:
            total(reader.node_total())
        transfer(reader.batches(), sink, progress)
        return sink.finish(reader.counts)
    finally:
        sink.close()


def _opt(node, name: str):
    return getattr(node, name) if node.HasField(name) else None


def _columns(value, base64_proto: bool) -> tuple:
    """(int, double, string, proto, bool) columns of a Value, as MLMD stores them."""
    kind = value.WhichOneof("value")
    if kind == "int_value":
        return (value.int_value, None, None, None, None)
    if kind == "double_value":
        return (None, value.double_value, None, None, None)
    if kind == "string_value":
        return (None, None, value.string_value, None, None)
    if kind == "struct_value":
        encoded = base64.b64encode(value.struct_value.SerializeToString()).decode("ascii")
        return (None, None, STRUCT_PREFIX + encoded, None, None)
    if kind == "proto_value":
        raw = value.proto_value.SerializeToString()
        return (None, None, None, base64.b64encode(raw) if base64_proto else raw, None)
    if kind == "bool_value":
        return (None, None, None, None, value.bool_value)
    raise StoreError(f"a property value of an unknown kind ({kind}) cannot be copied. Fix: use the "
                     "ml-metadata version that wrote the source")
