"""Every SQL statement zen_mlmd runs on MLMD's own tables, one set per dialect.

MLMD's service has no delete RPC and no way to write a record with its
original times, so deletion and copying speak MLMD's database schema
directly. The schema is ml-metadata's (schema version 10: see
``ml_metadata/util/metadata_source_query_config.cc`` upstream, which holds
the DDL per dialect). Table and column names are written unquoted: MySQL and
SQLite match them as created (``Artifact``), PostgreSQL folds them to the
lower case MLMD created them in (MLMD's PostgreSQL DDL is unquoted too).

Statements take their id lists inlined (`ids`): ids are integers we read
ourselves, never user text, and an inlined list keeps one statement per step
of the work however many rows it touches. Values are bound as parameters
(`?` for SQLite, `%s` for MySQL and PostgreSQL).

Where the dialects differ (transactions and locks, how bytes are stored,
keeping sequences past copied ids), each has its own statement.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

#: The MLMD schema version these statements were written for.
SCHEMA_VERSION = 10

#: MLMD's Event.Type numbers that mean "output" (metadata_store.proto:
#: DECLARED_OUTPUT 1, OUTPUT 4, INTERNAL_OUTPUT 6, PENDING_OUTPUT 7).
OUTPUT_EVENT_TYPES = (1, 4, 6, 7)
#: Execution.State numbers of an execution that ended (metadata_store.proto:
#: COMPLETE 3, FAILED 4, CANCELED 6).
ENDED_EXECUTION_STATES = (3, 4, 6)


def ids(values: Iterable[int]) -> str:
    """An inlined id list for ``IN (...)``; ``NULL`` for none (matches no row)."""
    text = ", ".join(str(int(v)) for v in sorted(set(values)))
    return text or "NULL"


# -- statements shared by every dialect -------------------------------------------------
_COMMON: dict[str, str] = {
    "schema_version": "SELECT schema_version FROM MLMDEnv",
    # -- what belongs to a run ---------------------------------------------------------
    "executions_of_contexts": "SELECT DISTINCT execution_id FROM Association WHERE context_id IN ({contexts})",
    # run contexts (other than those going) that hold some of the executions, and
    # whether they hold others too: those that do not are parts of the runs
    # going (TFX's sub-pipeline run contexts), the others are kept runs
    "run_contexts_sharing": (
        "SELECT c.id, EXISTS (SELECT 1 FROM Association o WHERE o.context_id = c.id "
        "AND o.execution_id NOT IN ({executions})) FROM Context c WHERE c.type_id IN ({run_types}) "
        "AND c.id NOT IN ({contexts}) AND c.id IN (SELECT a.context_id FROM Association a "
        "WHERE a.execution_id IN ({executions}))"),
    "executions_in_other_runs": (
        "SELECT DISTINCT a.execution_id FROM Association a JOIN Context c ON c.id = a.context_id "
        "WHERE a.execution_id IN ({executions}) AND c.type_id IN ({run_types}) "
        "AND a.context_id NOT IN ({contexts})"),
    "output_artifacts": (
        "SELECT DISTINCT artifact_id FROM Event WHERE execution_id IN ({executions}) "
        "AND type IN ({output_types})"),
    "artifacts_of_contexts": "SELECT DISTINCT artifact_id FROM Attribution WHERE context_id IN ({contexts})",
    # ended executions of a type whose property names one of the contexts (TFX's orchestrator records)
    "ended_executions_naming": (
        "SELECT e.id FROM Execution e JOIN ExecutionProperty p ON p.execution_id = e.id "
        "WHERE e.type_id IN ({types}) AND e.last_known_state IN ({states}) AND p.name = {p} "
        "AND p.string_value IN (SELECT name FROM Context WHERE id IN ({contexts}))"),
    "artifacts_used_elsewhere": (
        "SELECT DISTINCT artifact_id FROM Event WHERE artifact_id IN ({artifacts}) "
        "AND execution_id NOT IN ({executions})"),
    "artifacts_in_other_runs": (
        "SELECT DISTINCT t.artifact_id FROM Attribution t JOIN Context c ON c.id = t.context_id "
        "WHERE t.artifact_id IN ({artifacts}) AND c.type_id IN ({run_types}) "
        "AND t.context_id NOT IN ({contexts})"),
    "linked_contexts": (
        "SELECT context_id FROM Association WHERE execution_id IN ({executions}) "
        "UNION SELECT context_id FROM Attribution WHERE artifact_id IN ({artifacts}) "
        "UNION SELECT parent_context_id FROM ParentContext WHERE context_id IN ({contexts})"),
    "artifact_uris": "SELECT id, uri FROM Artifact WHERE id IN ({artifacts})",
    # contexts left with no execution, artifact or child: they described only what went
    "empty_contexts": (
        "SELECT c.id FROM Context c WHERE c.id IN ({contexts}) "
        "AND NOT EXISTS (SELECT 1 FROM Association a WHERE a.context_id = c.id) "
        "AND NOT EXISTS (SELECT 1 FROM Attribution t WHERE t.context_id = c.id) "
        "AND NOT EXISTS (SELECT 1 FROM ParentContext p WHERE p.parent_context_id = c.id)"),
    # -- deleting, children before parents -----------------------------------------------
    # MLMD's own delete_event_paths scans every path ("NOT IN (SELECT id FROM
    # Event)"); selecting the events first keeps the cost to the run's rows.
    "delete_event_paths": (
        "DELETE FROM EventPath WHERE event_id IN (SELECT id FROM Event "
        "WHERE execution_id IN ({executions}) OR artifact_id IN ({artifacts}))"),
    "delete_events": "DELETE FROM Event WHERE execution_id IN ({executions}) OR artifact_id IN ({artifacts})",
    "delete_associations": "DELETE FROM Association WHERE execution_id IN ({executions})",
    "delete_attributions": "DELETE FROM Attribution WHERE artifact_id IN ({artifacts}) OR context_id IN ({contexts})",
    "delete_run_associations": "DELETE FROM Association WHERE context_id IN ({contexts})",
    "delete_parent_links": (
        "DELETE FROM ParentContext WHERE context_id IN ({contexts}) OR parent_context_id IN ({contexts})"),
    "delete_execution_properties": "DELETE FROM ExecutionProperty WHERE execution_id IN ({executions})",
    "delete_executions": "DELETE FROM Execution WHERE id IN ({executions})",
    "delete_artifact_properties": "DELETE FROM ArtifactProperty WHERE artifact_id IN ({artifacts})",
    "delete_artifacts": "DELETE FROM Artifact WHERE id IN ({artifacts})",
    "delete_context_properties": "DELETE FROM ContextProperty WHERE context_id IN ({contexts})",
    "delete_contexts": "DELETE FROM Context WHERE id IN ({contexts})",
    # -- copying (ids kept: see zen_mlmd.mlmd.copying) ------------------------------------
    "count_nodes": (
        "SELECT (SELECT COUNT(*) FROM Artifact), (SELECT COUNT(*) FROM Execution), "
        "(SELECT COUNT(*) FROM Context)"),
    "count_all": (
        "SELECT (SELECT COUNT(*) FROM Context), (SELECT COUNT(*) FROM ParentContext), "
        "(SELECT COUNT(*) FROM Artifact), (SELECT COUNT(*) FROM Execution), "
        "(SELECT COUNT(*) FROM Event), (SELECT COUNT(*) FROM Attribution), "
        "(SELECT COUNT(*) FROM Association)"),
    "existing_artifacts": "SELECT id FROM Artifact WHERE id IN ({ids})",
    "existing_executions": "SELECT id FROM Execution WHERE id IN ({ids})",
    "existing_contexts": "SELECT id FROM Context WHERE id IN ({ids})",
    "existing_parent_links": "SELECT context_id, parent_context_id FROM ParentContext WHERE context_id IN ({ids})",
    "insert_context": (
        "INSERT INTO Context (id, type_id, name, external_id, create_time_since_epoch, "
        "last_update_time_since_epoch) VALUES ({p}, {p}, {p}, {p}, {p}, {p})"),
    "insert_artifact": (
        "INSERT INTO Artifact (id, type_id, uri, state, name, external_id, create_time_since_epoch, "
        "last_update_time_since_epoch) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"),
    "insert_execution": (
        "INSERT INTO Execution (id, type_id, last_known_state, name, external_id, "
        "create_time_since_epoch, last_update_time_since_epoch) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})"),
    "insert_property": (
        "INSERT INTO {table} ({owner}, name, is_custom_property, int_value, double_value, "
        "string_value, proto_value, bool_value) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"),
    "insert_parent_link": "INSERT INTO ParentContext (context_id, parent_context_id) VALUES ({p}, {p})",
    "insert_event": (
        "INSERT INTO Event (artifact_id, execution_id, type, milliseconds_since_epoch) "
        "VALUES ({p}, {p}, {p}, {p})"),
    "event_ids": (
        "SELECT id, artifact_id, execution_id, type FROM Event WHERE execution_id IN ({ids})"),
    "insert_event_path": (
        "INSERT INTO EventPath (event_id, is_index_step, step_index, step_key) VALUES ({p}, {p}, {p}, {p})"),
    "insert_association": "INSERT INTO Association (context_id, execution_id) VALUES ({p}, {p})",
    "insert_attribution": "INSERT INTO Attribution (context_id, artifact_id) VALUES ({p}, {p})",
    # the resume marker of an unfinished copy: one row, dropped when the copy is verified
    "create_copy_marker": (
        "CREATE TABLE IF NOT EXISTS zen_mlmd_copy (source VARCHAR(255) NOT NULL, "
        "selection VARCHAR(255) NOT NULL, started_ms BIGINT NOT NULL)"),
    "read_copy_marker": "SELECT source, selection, started_ms FROM zen_mlmd_copy",
    "write_copy_marker": "INSERT INTO zen_mlmd_copy (source, selection, started_ms) VALUES ({p}, {p}, {p})",
    "drop_copy_marker": "DROP TABLE zen_mlmd_copy",
}


@dataclass(frozen=True)
class Dialect:
    """One database's statements: the shared ones with this dialect's own on top.

    Attributes:
        name: "sqlite", "mysql" or "postgresql".
        placeholder: the driver's parameter marker.
        proto_bytes_base64: MLMD keeps `proto_value` as base64 text on SQLite and
            MySQL (`SqliteEncodeBytes`), as raw bytes in PostgreSQL's BYTEA.
    """

    name: str
    placeholder: str
    proto_bytes_base64: bool
    own: Mapping[str, str] = field(default_factory=dict)

    def statement(self, key: str, **parts: str) -> str:
        """The text of statement `key`, its `{...}` parts filled in."""
        text = self.own.get(key) or _COMMON[key]
        return text.format(p=self.placeholder, **parts)

    def has(self, key: str) -> bool:
        return key in self.own or key in _COMMON


SQLITE = Dialect("sqlite", "?", True, {
    # IMMEDIATE takes the write lock at once: no writer can add an event to an
    # artifact between the plan and the delete.
    "begin_delete": "BEGIN IMMEDIATE",
    "begin": "BEGIN IMMEDIATE",
    "table_exists": "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = {p}",
})

MYSQL = Dialect("mysql", "%s", True, {
    # SERIALIZABLE turns the plan's reads into locking reads (next-key locks on
    # the Event and Attribution index ranges read): a concurrent writer cannot
    # add a consumer to an artifact about to go until this transaction ends.
    "isolation_delete": "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    "begin_delete": "START TRANSACTION",
    "begin": "START TRANSACTION",
    "table_exists": (
        "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = {p}"),
})

POSTGRESQL = Dialect("postgresql", "%s", False, {
    "begin_delete": "BEGIN",
    # SHARE mode lets readers in and keeps writers (MLMD's inserts) out of the
    # tables that decide what is still used, for the few statements of a delete.
    "lock_delete": "LOCK TABLE Event, Attribution, Association IN SHARE MODE",
    "begin": "BEGIN",
    "table_exists": "SELECT 1 FROM information_schema.tables WHERE table_name = {p}",
    # explicit ids do not move a SERIAL's sequence: move it past them
    "advance_sequence": (
        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
        "GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"),
})

DIALECTS = {d.name: d for d in (SQLITE, MYSQL, POSTGRESQL)}

#: Tables whose ids a copy writes itself (PostgreSQL's sequences follow them).
ID_TABLES = ("Artifact", "Execution", "Context")
