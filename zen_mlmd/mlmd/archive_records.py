"""Records of a transfer as plain JSON objects, and back (the archive's body lines).

Each node, type and event is MLMD's proto in protobuf's canonical JSON
mapping (`google.protobuf.json_format`, field names as in the .proto), with
two changes: a `record` key says what it is, and nodes name their type
(`type`) instead of a store-specific `type_id`; types carry no id. Links
are small objects of ids. Every line of one page carries the same `page`
number, so a reader rebuilds the pages a writer wrote. The format is
documented in docs/ARCHIVE.md.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.errors import ConfigError, StoreError
from zen_mlmd.mlmd.store_reading import Batch

_TYPES = {"artifact": pb.ArtifactType, "execution": pb.ExecutionType, "context": pb.ContextType}
_NODES = {"contexts": ("context", pb.Context), "artifacts": ("artifact", pb.Artifact),
          "executions": ("execution", pb.Execution)}
_LINKS = {"parent_context": ("child_id", "parent_id"), "attribution": ("context_id", "artifact_id"),
          "association": ("context_id", "execution_id")}


def _dict(message) -> dict:
    try:
        return json_format.MessageToDict(message, preserving_proto_field_name=True)
    except (json_format.Error, DecodeError, ValueError) as error:
        # NaN or infinity in a Struct or ListValue, or packed bytes that are not their
        # type: a value JSON cannot carry (no zen_mlmd writer stores one)
        what = type(message).DESCRIPTOR.name
        name = f" {message.name!r}" if getattr(message, "name", "") else ""
        raise StoreError(
            f"{what} {getattr(message, 'id', '') or ''}{name}: a property holds a value an "
            f"archive's JSON cannot carry ({str(error).rstrip('.')}); no archive was written. Fix: copy the "
            "store instead (`zen-mlmd metadata-store copy`, which keeps every value), or "
            "leave this record out of the selection") from None


def batch_to_records(batch: Batch, page: int) -> Iterator[dict]:
    """The JSON objects of one batch (see the module docstring)."""
    if batch.what == "types":
        for type_proto in batch.nodes:
            record = _dict(type_proto)
            record.pop("id", None)
            yield {"record": f"{batch.kind}_type", "page": page, **record}
        return
    if batch.what == "parents":
        for child, parent in batch.links:
            yield {"record": "parent_context", "page": page, "child_id": child, "parent_id": parent}
        return
    kind, _ = _NODES[batch.what]
    for node in batch.nodes:
        record = _dict(node)
        record.pop("type_id", None)
        yield {"record": kind, "page": page, **record}
    for context_id, artifact_id in batch.attributions:
        yield {"record": "attribution", "page": page, "context_id": context_id, "artifact_id": artifact_id}
    for context_id, execution_id in batch.associations:
        yield {"record": "association", "page": page, "context_id": context_id,
               "execution_id": execution_id}
    for event in batch.events:
        yield {"record": "event", "page": page, **_dict(event)}


def records_to_batches(records: Iterable[tuple[int, dict]]) -> Iterator[Batch]:
    """Pages of records (line number, object) back into batches.

    Raises:
        ConfigError: a record that is not one of the archive's, naming its line.
    """
    batch: Batch | None = None
    current_page = None
    for line_number, record in records:
        page = record.get("page")
        if batch is not None and page != current_page:
            yield batch
            batch = None
        current_page = page
        try:
            batch = _add(batch, record)
        except (json_format.ParseError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"archive line {line_number}", record.get("record"),
                              f"is not a valid archive record ({exc})",
                              "export the archive again with `zen-mlmd export --format jsonl`") from None
    if batch is not None:
        yield batch


def _add(batch: Batch | None, record: dict) -> Batch:
    what = record["record"]
    body = {k: v for k, v in record.items() if k not in ("record", "page")}
    if what.endswith("_type"):
        kind = what[:-len("_type")]
        batch = batch or Batch("types", kind=kind)
        batch.nodes.append(json_format.ParseDict(body, _TYPES[kind]()))
        return batch
    if what in _LINKS:
        first, second = _LINKS[what]
        pair = (int(body[first]), int(body[second]))
        batch = batch or Batch({"parent_context": "parents", "attribution": "artifacts",
                                "association": "executions"}[what])
        {"parent_context": batch.links, "attribution": batch.attributions,
         "association": batch.associations}[what].append(pair)
        return batch
    if what == "event":
        batch = batch or Batch("executions")
        batch.events.append(json_format.ParseDict(body, pb.Event()))
        return batch
    for batch_kind, (kind, proto) in _NODES.items():
        if what == kind:
            batch = batch or Batch(batch_kind)
            batch.nodes.append(json_format.ParseDict(body, proto()))
            return batch
    raise ValueError(f"unknown record kind {what!r}")
