"""An output's facts read alike from every layout, and a forged value is only data.

Schema 5 writes them as a `google.protobuf.ListValue` in `proto_value`,
schema 4 as a JSON object in `string_value`, schemas 1 to 3 as properties
of their own (docs/CONVENTIONS.md). Anyone who can write to the store can
write any of these: a fact of the wrong type is left out, never trusted.
"""
from __future__ import annotations

import json

import pytest
from google.protobuf import any_pb2, struct_pb2
from ml_metadata.proto import metadata_store_pb2 as pb

from zen_mlmd.mlmd import records
from zen_mlmd.mlmd.native import OUTPUT_FACTS, NativeConvention, output_facts

FACTS = {"materializer": "builtins.json", "data_type": "builtins.dict",
         "content_hash": "sha256:" + "ab" * 32, "size_bytes": 83, "producer_execution_id": 20}


def _written(**changes) -> pb.Artifact:
    output = records.OutputArtifact(uri="/store/p/r/s/out", kind="data", **{
        "materializer": FACTS["materializer"], "data_type": FACTS["data_type"],
        "content_hash": FACTS["content_hash"], "size_bytes": FACTS["size_bytes"], **changes})
    return NativeConvention().output_artifact(7, "r", "s", "out", 0, output, FACTS["producer_execution_id"])


def _with_list(values) -> pb.Artifact:
    artifact = pb.Artifact(name="r.s.out")
    listed = struct_pb2.ListValue()
    listed.extend(values)
    artifact.custom_properties["zen_mlmd_output"].proto_value.Pack(listed)
    return artifact


def test_schema_5_writes_a_list_in_proto_value_that_protobuf_alone_reads():
    value = _written().custom_properties["zen_mlmd_output"]
    assert value.WhichOneof("value") == "proto_value"
    listed = struct_pb2.ListValue()
    assert value.proto_value.Unpack(listed)
    assert list(listed) == [FACTS[k] for k in OUTPUT_FACTS]
    assert output_facts(_written()) == FACTS


def test_every_layout_reads_the_same_facts():
    schema4 = pb.Artifact(name="r.s.out")
    schema4.custom_properties["zen_mlmd_output"].string_value = json.dumps(FACTS)
    schema3 = pb.Artifact(name="r.s.out")
    for key in ("materializer", "data_type", "content_hash"):
        schema3.properties[key].string_value = FACTS[key]
    for key in ("size_bytes", "producer_execution_id"):
        schema3.custom_properties[key].int_value = FACTS[key]
    for artifact in (_written(), schema4, schema3):
        assert output_facts(artifact) == FACTS
        decoded = NativeConvention().decode_artifact(artifact, None)
        assert (decoded.materializer, decoded.data_type, decoded.content_hash) == (
            FACTS["materializer"], FACTS["data_type"], FACTS["content_hash"])
        assert {k: decoded.properties[k] for k in ("size_bytes", "producer_execution_id")} == {
            "size_bytes": 83, "producer_execution_id": 20}
        assert "zen_mlmd_output" not in decoded.properties


def test_facts_not_known_are_null_and_left_out():
    artifact = _written(content_hash="", size_bytes=None)
    listed = struct_pb2.ListValue()
    artifact.custom_properties["zen_mlmd_output"].proto_value.Unpack(listed)
    assert list(listed)[2:4] == [None, None]
    assert output_facts(artifact) == {k: v for k, v in FACTS.items() if k not in ("content_hash", "size_bytes")}


@pytest.mark.parametrize("values, kept", [
    ([1, "builtins.dict", True, "83", 2.5], {"data_type": "builtins.dict"}),  # wrong types
    ([{"m": "x"}, ["y"], None, None, None], {}),
    (["builtins.json"], {"materializer": "builtins.json"}),  # too short
    (["a", "b", "sha256:c", 1, 2, "extra", 3], {"materializer": "a", "data_type": "b",
                                                 "content_hash": "sha256:c", "size_bytes": 1,
                                                 "producer_execution_id": 2}),  # too long
    ([], {}),
    (["m", "t", "sha256:c", 1e300, 2.0**63], {"materializer": "m", "data_type": "t", "content_hash": "sha256:c"}),
    (["m", "t", "sha256:c", -1, float("nan")], {"materializer": "m", "data_type": "t", "content_hash": "sha256:c"}),
    ([None, None, None, 2.0**53 - 1, 0], {"size_bytes": 2**53 - 1, "producer_execution_id": 0}),
])
def test_a_forged_list_is_read_as_data_with_each_fact_checked_for_its_type(values, kept):
    """Ids and sizes must fit MLMD's int64 and a double exactly: a huge forged id broke later reads."""
    assert output_facts(_with_list(values)) == kept


def test_a_forged_schema_4_id_out_of_range_is_left_out():
    artifact = pb.Artifact(name="r.s.out")
    artifact.custom_properties["zen_mlmd_output"].string_value = json.dumps(
        {"materializer": "m", "size_bytes": 10**300, "producer_execution_id": -3})
    assert output_facts(artifact) == {"materializer": "m"}


@pytest.mark.parametrize("value", [
    pb.Value(string_value="[1, 2"), pb.Value(string_value="[\"builtins.json\"]"),
    pb.Value(string_value="[" * 100_000),  # schema 4's JSON nested past Python's recursion limit
    pb.Value(int_value=3), pb.Value(proto_value=any_pb2.Any(type_url="type.googleapis.com/x.Y", value=b"\x01")),
])
def test_a_facts_value_of_another_kind_gives_no_facts(value):
    artifact = pb.Artifact(name="r.s.out")
    artifact.custom_properties["zen_mlmd_output"].CopyFrom(value)
    assert output_facts(artifact) == {}
    assert NativeConvention().decode_artifact(artifact, None).materializer == ""


def test_a_run_of_a_newer_schema_warns_once_that_this_version_may_miss_what_it_recorded():
    import warnings

    from zen_mlmd.mlmd.native import SCHEMA_VERSION, NewerRecordsWarning

    def run_context(version: int) -> pb.Context:
        context = pb.Context(id=version, name=f"run-{version}")
        context.custom_properties["schema_version"].int_value = version
        return context

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            NativeConvention().decode_run(run_context(SCHEMA_VERSION), "p")
        assert caught == []
        for _ in range(3):
            NativeConvention().decode_run(run_context(SCHEMA_VERSION + 1), "p")
    [warning] = caught
    assert issubclass(warning.category, NewerRecordsWarning)
    assert f"schema {SCHEMA_VERSION + 1}" in str(warning.message) and "upgrade zen_mlmd" in str(warning.message)
