"""Cache keys: equal parts give equal keys, each part matters, misses are explained.

`explain_miss` is also checked on parts as they come back from MLMD (the
`cache_key_parts` execution property), since that is where a reader gets them.
"""
from __future__ import annotations

import hashlib

import pytest

from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.mlmd.store import MetadataStore, in_memory_connection_config
from zen_mlmd.tracking.caching import KEY_PARTS, KEY_VERSION, canonical_json, compute_cache_key, explain_miss
from zen_mlmd.tracking.recorder import Recorder

BASE = dict(
    code="sha256:" + "a" * 64,
    parameters={"lr": 0.1, "layers": [64, 32], "opts": {"b": 1, "a": 2}},
    inputs={"train": ["k1:train"], "test": ["k1:test"]},
    outputs={"model": "auto"},
    artifact_store="/data/artifacts",
)


def key(**changes):
    return compute_cache_key(**{**BASE, **changes})


def test_the_key_is_the_sha256_of_the_canonical_parts():
    k = key()
    assert k.value == hashlib.sha256(canonical_json(dict(k.parts)).encode()).hexdigest()
    assert set(k.parts) == {"version", *KEY_PARTS}
    assert len(k.value) == 64


def test_a_key_from_an_older_key_version_is_explained_as_such():
    current = key().parts
    older = {**current, "version": 0, "code": "sha256:other"}
    [reason] = explain_miss(current, older)
    assert "cache keys differently" in reason and f"0 -> {KEY_VERSION}" in reason


def test_equal_parts_give_equal_keys_whatever_the_order():
    reordered = dict(
        code=BASE["code"],
        parameters={"opts": {"a": 2, "b": 1}, "layers": [64, 32], "lr": 0.1},
        inputs={"test": ["k1:test"], "train": ["k1:train"]},
        outputs={"model": "auto"},
        artifact_store="/data/artifacts",
    )
    assert compute_cache_key(**reordered).value == key().value


@pytest.mark.parametrize("changes", [
    {"code": "sha256:" + "b" * 64},
    {"parameters": {**BASE["parameters"], "lr": 0.2}},
    {"parameters": {**BASE["parameters"], "lr": 1}},          # 1 vs 0.1
    {"parameters": {**BASE["parameters"], "layers": [32, 64]}},  # list order matters
    {"parameters": {**BASE["parameters"], "extra": None}},
    {"inputs": {**BASE["inputs"], "train": ["k2:train"]}},
    {"inputs": {"train": ["k1:train"]}},
    {"outputs": {"model": "pickle"}},
    {"outputs": {"model": "auto", "report": "auto"}},
    {"artifact_store": "s3://bucket/artifacts"},
])
def test_every_part_changes_the_key(changes):
    assert key(**changes).value != key().value


def test_int_and_float_parameters_are_different_keys():
    assert key(parameters={"n": 1}).value != key(parameters={"n": 1.0}).value
    assert key(parameters={"n": 1}).value != key(parameters={"n": True}).value


def test_explain_miss_names_the_changed_parameter():
    reasons = explain_miss(key(parameters={**BASE["parameters"], "lr": 0.5}).parts, key().parts)
    assert len(reasons) == 1
    assert "parameters changed" in reasons[0]
    assert "lr: 0.1 -> 0.5" in reasons[0]
    assert "layers" not in reasons[0] and "opts" not in reasons[0]


def test_explain_miss_names_added_and_removed_parameters():
    params = dict(BASE["parameters"])
    del params["layers"]
    [reason] = explain_miss(key(parameters={**params, "seed": 7}).parts, key().parts)
    assert "layers: [64, 32] -> None" in reason
    assert "seed: None -> 7" in reason


def test_explain_miss_names_the_code():
    reasons = explain_miss(key(code="sha256:" + "c" * 64).parts, key().parts)
    assert reasons == ["the step's code changed"]


def test_explain_miss_names_the_changed_inputs():
    [reason] = explain_miss(key(inputs={**BASE["inputs"], "test": ["k9:test"]}).parts, key().parts)
    assert "inputs changed" in reason
    assert "test" in reason and "train" not in reason


def test_explain_miss_lists_every_changed_part():
    current = key(code="sha256:" + "d" * 64, parameters={"lr": 0.3},
                  outputs={"model": "pickle"}, artifact_store="/elsewhere").parts
    reasons = explain_miss(current, key().parts)
    assert len(reasons) == 4
    text = " | ".join(reasons)
    assert "code" in text and "lr" in text and "materializers" in text and "/elsewhere" in text


def test_explain_miss_without_history_or_change():
    assert explain_miss(key().parts, None) == ["no earlier execution of this step was recorded"]
    [same] = explain_miss(key().parts, key().parts)
    assert "unchanged" in same


def test_explain_miss_on_parts_read_back_from_mlmd():
    store = MetadataStore(in_memory_connection_config(), store_name="cache-key")
    recorder = Recorder(store)
    recorded = {}
    for run_name, lr in (("ck-1", 0.1), ("ck-2", 0.25)):
        k = key(parameters={**BASE["parameters"], "lr": lr})
        with recorder.start_run("ck", run_name) as run:
            step = run.start_step("fit", "tests.fit", parameters={"lr": lr},
                                  code_fingerprint=BASE["code"], cache_key=k.value,
                                  cache_key_parts=k.parts)
            step.publish({})
        [record] = StoreReader(store).steps_by_id([step.execution_id]).values()
        assert record.cache_key == k.value
        recorded[run_name] = record.properties["cache_key_parts"]
    assert recorded["ck-1"] == dict(key().parts)
    [reason] = explain_miss(recorded["ck-2"], recorded["ck-1"])
    assert "lr: 0.1 -> 0.25" in reason
