"""Parameter values <-> MLMD Value protos: exact round trips, types kept.

Checked twice: through `to_value`/`from_value` alone, and through a real MLMD
store (the value written as an execution custom property and read back), since
MLMD stores top-level scalars in SQL columns and nested values as serialized
structs, and each path can lose information in its own way.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ml_metadata.proto import metadata_store_pb2 as pb

from tracking_helpers import sqlite_store
from zen_mlmd.errors import ConfigError
from zen_mlmd.mlmd.store import MetadataStore, in_memory_connection_config
from zen_mlmd.mlmd.values import TAG, from_value, to_value
from zen_mlmd.tracking.recorder import Recorder

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- strategies ------------------------------------------------------------------------
big_ints = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=2**63, max_value=2**200),
    st.integers(min_value=-(2**200), max_value=-(2**63) - 1),
    st.sampled_from([0, 1, -1, 2**53, 2**53 + 1, -(2**53) - 1, 2**63 - 1, -(2**63), 2**63, 2**64]),
)
finite_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**60), max_value=2**60).map(float),  # integral floats
    st.sampled_from([0.0, 1.0, -1.0, 0.1, 1e300, 2.0**53, 2.0**53 + 2, 0.30000000000000004]),
)
any_floats = st.one_of(finite_floats, st.sampled_from([math.nan, math.inf, -math.inf]))
texts = st.text(max_size=30)  # unicode, surrogates excluded by hypothesis
keys = st.text(max_size=12).filter(lambda k: k != TAG)
scalars = st.one_of(st.none(), st.booleans(), big_ints, any_floats, texts)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=20,
)


def same(expected, actual) -> bool:
    """Equal with types kept (1 is not 1.0 is not True); nan equals nan; tuples read as lists."""
    if isinstance(expected, tuple):
        expected = list(expected)
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, float):
        if math.isnan(expected):
            return math.isnan(actual)
        return expected == actual
    if isinstance(expected, list):
        return len(expected) == len(actual) and all(same(e, a) for e, a in zip(expected, actual))
    if isinstance(expected, dict):
        return expected.keys() == actual.keys() and all(same(expected[k], actual[k]) for k in expected)
    return expected == actual


# -- a real store, one per module (hypothesis calls the test many times) ---------------
_STORE: dict[str, tuple[MetadataStore, int]] = {}


def _memory_store() -> tuple[MetadataStore, int]:
    if "memory" not in _STORE:
        store = MetadataStore(in_memory_connection_config(), store_name="values")
        type_id = store.put_execution_type(pb.ExecutionType(name="values.Check"))
        _STORE["memory"] = (store, type_id)
    return _STORE["memory"]


def through_mlmd(value, store_and_type=None):
    store, type_id = store_and_type or _memory_store()
    execution = pb.Execution(type_id=type_id)
    execution.custom_properties["param.v"].CopyFrom(to_value(value, name="v"))
    [execution_id] = store.put_executions([execution])
    [stored] = store.get_executions_by_id([execution_id])
    return from_value(stored.custom_properties["param.v"])


# -- to_value / from_value -------------------------------------------------------------
@SETTINGS
@given(values)
def test_round_trip_keeps_values_and_types(value):
    back = from_value(to_value(value))
    assert same(value, back), (value, back)


@pytest.mark.parametrize("value, kind", [
    (1, "int_value"), (-(2**31), "int_value"), (2**31 - 1, "int_value"),
    (1.0, "double_value"), (0.5, "double_value"), (0.25, "double_value"), (1e6, "double_value"),
    (True, "bool_value"), ("x", "string_value"), ("naïve ✓", "string_value"),
    ({"a": 1}, "struct_value"), ([1, 2], "struct_value"), (None, "struct_value"),
    # MLMD's int column is 32-bit on MySQL and PostgreSQL: larger ints are tagged.
    (2**31, "struct_value"), (-(2**31) - 1, "struct_value"), (2**63, "struct_value"),
    # NaN and infinity are not valid in MLMD's SQL text: tagged.
    (math.nan, "struct_value"), (math.inf, "struct_value"),
])
def test_top_level_scalars_are_native_typed_values(value, kind):
    # Native typed values are what MLMD filter queries can compare.
    assert to_value(value).WhichOneof("value") == kind


def test_types_are_kept_exactly():
    assert type(from_value(to_value(1))) is int
    assert type(from_value(to_value(1.0))) is float
    assert from_value(to_value(True)) is True
    nested = from_value(to_value({"i": 1, "f": 1.0, "b": True, "n": None, "l": [1, 1.0, False]}))
    assert [type(nested[k]) for k in ("i", "f", "b")] == [int, float, bool]
    assert nested["n"] is None
    assert [type(x) for x in nested["l"]] == [int, float, bool]


def test_big_ints_and_special_floats_nested():
    value = {"big": 2**100, "neg": -(2**64) - 7, "edge": 2**53 + 1, "inf": math.inf,
             "ninf": -math.inf, "nan": math.nan, "integral": 3e20}
    back = from_value(to_value(value))
    assert same(value, back)
    assert math.isnan(back["nan"])


def test_tuples_come_back_as_lists():
    assert from_value(to_value((1, "a", (2.5, None)))) == [1, "a", [2.5, None]]
    assert from_value(to_value({"t": (1, 2)})) == {"t": [1, 2]}


# -- bad values ------------------------------------------------------------------------
class _Thing:
    pass


@pytest.mark.parametrize("value, field", [
    (b"raw", "lr"),
    ({1, 2}, "lr"),
    (_Thing(), "lr"),
    ({1: "a"}, "lr"),
    ({"inner": b"x"}, "lr.inner"),
    ({"inner": {"deep": {3}}}, "lr.inner.deep"),
    ([1, b"x"], "lr[1]"),
    ({"xs": [0, [1, _Thing()]]}, "lr.xs[1][1]"),
    ({"inner": {(1, 2): 3}}, "lr.inner"),
    ({TAG: "list"}, "lr"),
])
def test_bad_values_raise_config_error_naming_the_field(value, field):
    with pytest.raises(ConfigError) as info:
        to_value(value, name="lr")
    assert info.value.field == field
    assert field in str(info.value)
    assert "Fix:" in str(info.value)


# -- through a real MLMD store ---------------------------------------------------------
nested_values = st.one_of(
    st.lists(values, max_size=4),
    st.dictionaries(keys, values, max_size=4),
)


@SETTINGS
@given(nested_values)
def test_nested_values_round_trip_through_mlmd(value):
    back = through_mlmd(value)
    assert same(value, back), (value, back)


@SETTINGS
@given(st.one_of(st.none(), st.booleans(), big_ints))
def test_top_level_ints_bools_none_round_trip_through_mlmd(value):
    back = through_mlmd(value)
    assert same(value, back), (value, back)


@SETTINGS
@given(texts)
@example("\x00")
@example("a\x00b")
def test_top_level_strings_round_trip_through_mlmd(value):
    back = through_mlmd(value)
    assert same(value, back), (value, back)


@SETTINGS
@given(finite_floats)
@example(0.123456789)
@example(1.2345678901234567)
@example(1e-7)
@example(1000000000000001.0)  # 16 significant digits: SQLite reads back 15
@example(2.0**53 + 2)
def test_top_level_finite_floats_round_trip_through_mlmd(value):
    back = through_mlmd(value)
    assert same(value, back), (value, back)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_top_level_non_finite_floats_round_trip_through_mlmd(value):
    back = through_mlmd(value)
    assert same(value, back), (value, back)


def test_values_round_trip_through_a_sqlite_file(tmp_path):
    store = sqlite_store(tmp_path / "values.sqlite")
    type_id = store.put_execution_type(pb.ExecutionType(name="values.Check"))
    examples = [0, 2**63 - 1, 2**70, 0.5, 1.0, True, False, "naïve ✓ 日本", "",
                {"a": [1, 1.0, None, {"b": 2**64}], "c": (1, 2)}, [], {}, None]
    for value in examples:
        assert same(value, through_mlmd(value, (store, type_id))), value


def test_a_parameter_lr_with_full_precision_survives_a_sqlite_file(tmp_path):
    store = sqlite_store(tmp_path / "precision.sqlite")
    type_id = store.put_execution_type(pb.ExecutionType(name="values.Check"))
    for value in (0.123456789, 1 / 3, 3e-7, 2.5e-300, 1000000000000001.0, 123456789.123456):
        assert through_mlmd(value, (store, type_id)) == value


# -- recorded parameters ---------------------------------------------------------------
def test_recorded_step_parameters_read_back_unchanged(tmp_path):
    from zen_mlmd.mlmd.reader import StoreReader

    store = MetadataStore(in_memory_connection_config(), store_name="values")
    parameters = {"n": 3, "lr": 0.5, "flag": True, "name": "ünï", "big": 2**80,
                  "cfg": {"layers": [64, 32], "dropout": 0.25, "w": 1.0}, "seq": (1, 2)}
    with Recorder(store).start_run("values_pipe", "values_run") as run:
        step = run.start_step("fit", "tests.fit", parameters=parameters)
        step.publish({})
    [recorded] = StoreReader(store).steps_by_id([step.execution_id]).values()
    assert same(parameters, dict(recorded.parameters)), recorded.parameters


def test_a_none_parameter_is_recorded(tmp_path):
    # A parameter the step function received as None is part of its call; it
    # must be recorded like any other value, not dropped.
    from zen_mlmd.mlmd.reader import StoreReader

    store = MetadataStore(in_memory_connection_config(), store_name="values")
    with Recorder(store).start_run("values_pipe", "none_run") as run:
        step = run.start_step("fit", "tests.fit", parameters={"seed": None, "n": 1})
        step.publish({})
    [recorded] = StoreReader(store).steps_by_id([step.execution_id]).values()
    assert dict(recorded.parameters) == {"seed": None, "n": 1}


def test_a_bad_parameter_is_refused_before_the_step_is_written():
    store = MetadataStore(in_memory_connection_config(), store_name="values")
    run = Recorder(store).start_run("values_pipe", "bad_run")
    with pytest.raises(ConfigError) as info:
        run.start_step("fit", "tests.fit", parameters={"data": {"blob": b"\x00"}})
    assert info.value.field == "param.data.blob"
    assert store.calls["PutExecution"] == 0


@pytest.mark.parametrize("payload", [
    {TAG: "int", "value": "x"}, {TAG: "int", "value": "1" * 5000}, {TAG: "int"}, {TAG: "int", "value": " 12_3 "},
    {TAG: "int", "value": "\u0661\u0662"}, {TAG: "int", "value": 5.0}, {TAG: "float", "value": "abc"},
    {TAG: "str", "value": 5.0}, {TAG: "list", "items": "x"}, {TAG: "list"}, {TAG: "str"},
])
def test_a_forged_tag_reads_as_the_plain_map_it_is(payload):
    """Anyone who can write the store can write any struct: a tag `to_value` never wrote is data."""
    value = pb.Value()
    value.struct_value.update(payload)
    nested = pb.Value()
    nested.struct_value.update({"params": payload})
    expected = {k: (int(v) if isinstance(v, float) else v) for k, v in payload.items()}  # 5.0 reads as 5
    assert from_value(value) == expected
    assert from_value(nested)["params"] == expected


def test_tags_written_by_to_value_still_read_back():
    for original in (2**70, -(2**70), 1.0, "a\\b", [1, [2]], None, {"x": (1, 2)}):
        assert same(from_value(to_value(original)), original if not isinstance(original, dict) else {"x": [1, 2]})


@pytest.mark.parametrize("type_name", ["google.protobuf.ListValue", "google.protobuf.Struct"])
def test_a_proto_value_whose_bytes_are_not_its_type_reads_as_opaque(type_name):
    value = pb.Value()
    value.proto_value.type_url = f"type.googleapis.com/{type_name}"
    value.proto_value.value = b"\x0a\xff\xff\xff"  # a length past the end
    assert from_value(value) == {"@type": f"type.googleapis.com/{type_name}"}
