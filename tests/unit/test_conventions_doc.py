"""docs/CONVENTIONS.md says exactly what the writer writes.

The doc's machine-readable block (```yaml after `<!-- conventions-spec -->`)
is parsed; real runs are recorded (a completed run, the same run served from
the cache, a run with a failing step and a canceled dependant, runs with an
uncacheable step and with cached outputs changed on disk, and a
recorder-level run left RUNNING with an indexed output); then every context
type, execution property, artifact type and property found in the store must
be documented, and everything documented must be found where the doc says it
is written. The doc's plain-ml_metadata example is run as well.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
import yaml
from google.protobuf.struct_pb2 import ListValue, Struct
from ml_metadata.metadata_store import metadata_store as plain_mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

from tracking_helpers import LocalTestStack, sqlite_store
from zen_mlmd.artifacts import Data, Dataset, Metrics, Model, Statistics
from zen_mlmd.errors import StepFailedError
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step
from zen_mlmd.tracking.recorder import Recorder

DOC = Path(__file__).resolve().parents[2] / "docs" / "CONVENTIONS.md"
VALUE_KINDS = {"int": "int_value", "string": "string_value", "struct": "struct_value",
               "double": "double_value", "bool": "bool_value"}
STATE_NAMES = {v: k for k, v in pb.Execution.State.items()}


def fenced_block_after(marker: str, language: str) -> str:
    text = DOC.read_text()
    match = re.search(re.escape(marker) + r"\s*```" + language + r"\n(.*?)\n```", text, re.S)
    assert match, f"{DOC} has no ```{language} block after {marker}"
    return match.group(1)


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(fenced_block_after("<!-- conventions-spec -->", "yaml"))


# -- the runs ---------------------------------------------------------------------------------
@step(outputs={"train": Dataset, "test": Dataset})
def load(n: int = 4):
    return list(range(n)), [n]


@step(outputs={"model": Model})
def fit(train: list, lr: float = 0.5, opts: dict | None = None):
    return {"w": sum(train) * lr}


@step(outputs={"metrics": Metrics})
def evaluate(model: dict, test: list):
    return {"error": 0.25}


@step(outputs={"stats": Statistics})
def profile(train: list):
    return {"rows": len(train)}


@step(outputs={"text": Data})
def note(model: dict, label: str = "note"):
    return f"{label}: {model}"


@step
def gate(model: dict, fail: bool = False):
    if fail:
        raise RuntimeError("gate closed")
    return {"open": True}


@step
def after_gate(flag: dict):
    return flag


GATE_LOCK = threading.Lock()  # cannot be fingerprinted: `guarded` is uncacheable


@step
def guarded(model: dict):
    with GATE_LOCK:
        return model


@pipeline
def checked():
    train, test = load(n=4)
    guarded(fit(train, lr=0.25))


@pipeline
def documented(fail: bool = False):
    train, test = load(n=4)
    model = fit(train, lr=0.5, opts={"depth": 3, "tags": ["a", "b"], "w": 1.0})
    evaluate(model, test)
    profile(train)
    note(model)
    after_gate(gate(model, fail=fail))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conventions")
    db = tmp / "mlmd.sqlite"
    store = sqlite_store(db)
    stack = LocalTestStack(store, tmp / "artifacts")
    calls = {}
    documented.run(stack=stack, quiet=True, run_name="doc-1")
    store.reset_counts()
    documented.run(stack=stack, quiet=True, run_name="doc-2")
    calls["cached_run"] = dict(store.calls)
    cached_states = {e.last_known_state for e in store.get_executions()
                     if e.name.startswith("doc-2.")}
    assert cached_states == {pb.Execution.CACHED}
    with pytest.raises(StepFailedError):
        documented.run(stack=stack, quiet=True, run_name="doc-3", fail=True)
    checked.run(stack=stack, quiet=True, run_name="checked-1")
    # change a cached output on disk: the next run does not reuse it, and says why
    [fit_model] = [a for a in store.get_artifacts() if a.name == "checked-1.fit.model"]
    for path in Path(fit_model.uri).iterdir():
        path.write_text('{"w": 0}')
    checked.run(stack=stack, quiet=True, run_name="checked-2")

    # A recorder-level run: an output with two indexes, a step left RUNNING.
    recorder = Recorder(store, stack.artifacts)
    run = recorder.start_run("manual", "manual-1")
    parts = {"code": "sha256:" + "0" * 64, "parameters": "{}"}
    multi = run.start_step("multi", "tests.multi", parameters={"k": 2},
                           code_fingerprint="sha256:" + "0" * 64, cache_key="f" * 64,
                           cache_key_parts=parts)
    multi.save_output("parts", [1], kind="dataset", index=0)
    multi.save_output("parts", [2], kind="dataset", index=1)
    store.reset_counts()
    multi.publish()
    calls["publish_step"] = dict(store.calls)
    store.reset_counts()  # types are registered now: count a step start alone
    broken = run.start_step("broken", "tests.multi", code_fingerprint="sha256:" + "1" * 64,
                            cache_key="e" * 64, cache_key_parts=parts)
    calls["start_step"] = dict(store.calls)
    store.reset_counts()
    broken.fail(ValueError("broken on purpose"))
    calls["fail_step"] = dict(store.calls)
    store.reset_counts()
    run.cancel_step(run.step_start("skipped", "tests.multi"), "upstream 'broken' failed")
    calls["cancel_step"] = dict(store.calls)
    run.start_step("hang", "tests.multi", code_fingerprint="sha256:" + "2" * 64,
                   cache_key="d" * 64, cache_key_parts=parts)
    second = recorder.start_run("manual", "manual-2")
    store.reset_counts()
    second.finish()
    calls["end_run"] = dict(store.calls)

    # A publish held back and written with the next start, then the run's end
    # written with the last held-back publish.
    store.reset_counts()
    third = recorder.start_run("manual", "manual-3", step_names=["pair_a", "pair_b"])
    calls["start_run"] = dict(store.calls)
    first = third.start_step("pair_a", "tests.multi", cache_key="c" * 64, cache_key_parts=parts)
    first.save_output("made", [3], kind="dataset")
    refs = first.publish(defer=True)
    store.reset_counts()
    pair_b = third.start_step("pair_b", "tests.multi", inputs={"made": refs["made"]},
                              cache_key="b" * 64, cache_key_parts=parts)
    calls["publish_and_start"] = dict(store.calls)
    pair_b.publish({}, defer=True)
    store.reset_counts()
    third.finish()
    calls["end_run_after_combined_writes"] = dict(store.calls)
    return {"db": db, "store": store, "calls": calls}


def _contexts(store):
    return store.get_contexts()


def _check_value(kind: str, value: pb.Value, where: str):
    if kind == "value":
        assert value.WhichOneof("value") is not None, where
    elif kind == "list":
        assert value.proto_value.Is(ListValue.DESCRIPTOR), where
    elif value.WhichOneof("value") == "proto_value":  # a long one: a Struct in an Any (see Values)
        assert kind in ("struct", "string") and value.proto_value.Is(Struct.DESCRIPTOR), where
    else:
        assert value.WhichOneof("value") == VALUE_KINDS[kind], where


# -- contexts -------------------------------------------------------------------------------------
def test_context_types_are_the_documented_ones(spec, recorded):
    store = recorded["store"]
    assert {t.name for t in store.get_context_types()} == set(spec["contexts"])


def test_context_properties_are_documented_and_written(spec, recorded):
    store = recorded["store"]
    seen = {name: set() for name in spec["contexts"]}
    for context in _contexts(store):
        doc = spec["contexts"][context.type]
        props = set(context.custom_properties)
        seen[context.type] |= props
        assert props <= set(doc["custom_properties"]), (context.type, props)
        for name, prop in doc["custom_properties"].items():
            if prop["when"] == "always":
                assert name in props, (context.type, context.name, name)
            if name in props:
                _check_value(prop["type"], context.custom_properties[name], f"{context.type}.{name}")
    for type_name, doc in spec["contexts"].items():
        assert seen[type_name] == set(doc["custom_properties"]), type_name


def test_context_names_and_parents_follow_the_doc(spec, recorded):
    store = recorded["store"]
    contexts = _contexts(store)
    pipelines = {c.name for c in contexts if c.type == "pipeline"}
    assert pipelines == {"documented", "manual", "checked"}
    assert spec["contexts"]["pipeline_run"]["parent"] == "pipeline"
    for run in (c for c in contexts if c.type == "pipeline_run"):
        [parent] = store.get_parent_contexts_by_context(run.id)
        assert parent.type == "pipeline"
        assert parent.name == run.custom_properties["pipeline_name"].string_value
        ended = "status" in run.custom_properties
        assert ended == ("end_time" in run.custom_properties)
        if ended:
            assert run.custom_properties["status"].string_value in \
                spec["contexts"]["pipeline_run"]["custom_properties"]["status"]["values"]
    statuses = {c.name: c.custom_properties["status"].string_value
                for c in contexts if c.type == "pipeline_run" and "status" in c.custom_properties}
    assert statuses == {"doc-1": "completed", "doc-2": "completed", "doc-3": "failed",
                        "manual-2": "completed", "manual-3": "completed",
                        "checked-1": "completed", "checked-2": "completed"}
    for node in (c for c in contexts if c.type == "node"):
        pipeline_name = node.custom_properties["pipeline_name"].string_value
        step_name = node.custom_properties["node_id"].string_value
        assert node.name == spec["contexts"]["node"]["name"].format(pipeline=pipeline_name, step=step_name)


# -- executions ---------------------------------------------------------------------------------
def test_execution_states_and_properties_match_the_doc(spec, recorded):
    store = recorded["store"]
    doc = spec["execution"]
    documented_props = doc["custom_properties"]
    states_seen = set()
    conditional_seen = set()
    for execution in store.get_executions():
        state = STATE_NAMES[execution.last_known_state]
        states_seen.add(state)
        props = execution.custom_properties
        where = f"{execution.name} ({state})"
        fixed = {name for name in props if not name.startswith("param.")}
        listed = {name for name, p in documented_props.items() if state in p["states"]}
        expected = {name for name in listed if documented_props[name].get("when", "always") == "always"}
        assert expected <= fixed <= listed, where  # conditional ones only where their states say
        conditional_seen |= fixed - expected
        for name in fixed:
            _check_value(documented_props[name]["type"], props[name], f"{where}.{name}")
        step_name = props["display_name"].string_value
        [run] = [c for c in store.get_contexts_by_execution(execution.id) if c.type == "pipeline_run"]
        assert execution.name == doc["name"].format(run=run.name, step=step_name)
        if "code_fingerprint" in props:  # only when it is not the parts' code
            assert props["code_fingerprint"].string_value != \
                props["cache_key_parts"].struct_value["code"], where
        contexts = {c.type for c in store.get_contexts_by_execution(execution.id)}
        assert contexts == set(doc["contexts"]), where
    assert states_seen == set(doc["states"])
    assert conditional_seen == {name for name, p in documented_props.items()
                                if p.get("when", "always") != "always"}
    assert list(doc["custom_property_patterns"]) == ["param.{name}"]


def test_parameters_are_typed_param_properties(recorded):
    store = recorded["store"]
    [fit_exec] = [e for e in store.get_executions() if e.name == "doc-1.fit"]
    params = {k: v for k, v in fit_exec.custom_properties.items() if k.startswith("param.")}
    assert set(params) == {"param.lr", "param.opts"}
    assert params["param.lr"].double_value == 0.5
    assert params["param.opts"].WhichOneof("value") == "struct_value"
    [gate_exec] = [e for e in store.get_executions() if e.name == "doc-3.gate"]
    assert gate_exec.custom_properties["param.fail"].bool_value is True


def test_execution_types_are_step_import_paths(spec, recorded):
    store = recorded["store"]
    types = {e.type for e in store.get_executions() if e.name.startswith("doc-")}
    module = __name__
    assert types == {spec["execution"]["type_name"].format(module=module, function=f)
                     for f in ("load", "fit", "evaluate", "profile", "note", "gate", "after_gate")}


# -- artifacts --------------------------------------------------------------------------------
def test_artifact_types_are_the_documented_ones(spec, recorded):
    store = recorded["store"]
    types = {t.name: t for t in store.get_artifact_types()}
    assert set(types) == set(spec["artifact_types"])
    for name, doc in spec["artifact_types"].items():
        artifact_type = types[name]
        if doc["base_type"] is None:
            assert not artifact_type.HasField("base_type") or artifact_type.base_type == 0
        else:
            assert artifact_type.base_type == pb.ArtifactType.SystemDefinedBaseType.Value(doc["base_type"])
        assert dict(artifact_type.properties) == {p: pb.STRING for p in spec["artifact"]["properties"]}


def test_artifact_names_states_and_properties_match_the_doc(spec, recorded):
    store = recorded["store"]
    doc = spec["artifact"]
    executions = {e.id: e for e in store.get_executions()}
    produced_by = {}
    for event in store.get_events_by_execution_ids(list(executions)):
        if event.type == pb.Event.OUTPUT:
            produced_by.setdefault(event.artifact_id, (event.execution_id, event))
    artifacts = store.get_artifacts()
    # doc-1's eight outputs, two indexed parts; checked-1's and checked-2's model and
    # guarded output each (load is served from the cache); manual-3's one
    assert len(artifacts) == 8 + 2 + 2 + 2 + 1
    seen_custom = set()
    for artifact in artifacts:
        assert pb.Artifact.State.Name(artifact.state) == doc["state"]
        assert set(artifact.properties) == set(doc["properties"])
        custom = set(artifact.custom_properties)
        seen_custom |= custom
        assert custom <= set(doc["custom_properties"]), artifact.name
        for name, prop in doc["custom_properties"].items():
            if prop["when"] == "always":
                assert name in custom, (artifact.name, name)
            if name in custom:
                _check_value(prop["type"], artifact.custom_properties[name], f"{artifact.name}.{name}")
        # the facts: a ListValue with exactly the documented items, in the documented order,
        # read with protobuf alone (as any MLMD client would)
        items = [next(iter(item.items())) for item in doc["custom_properties"]["zen_mlmd_output"]["items"]]
        listed = ListValue()
        assert artifact.custom_properties["zen_mlmd_output"].proto_value.Unpack(listed), artifact.name
        assert [value.WhichOneof("kind") for value in listed.values] == [f"{k}_value" for _, k in items], \
            artifact.name
        facts = {key: value for (key, _), value in zip(items, listed)}
        assert facts["content_hash"].startswith("sha256:") and facts["size_bytes"] > 0
        execution_id, event = produced_by[artifact.id]
        producer = executions[execution_id]
        assert facts["producer_execution_id"] == producer.id
        key, index = event.path.steps[0].key, event.path.steps[1].index
        run, _, step = producer.name.rpartition(".")
        fields = dict(run=run, step=step, output=key, index=index)
        expected = doc["name_with_index"] if index else doc["name"]
        assert artifact.name == expected.format(**fields)
        attributed = {(c.type, c.name) for c in store.get_contexts_by_artifact(artifact.id)}
        run_context = store.get_context_by_type_and_name("pipeline_run", run)
        [pipeline] = store.get_parent_contexts_by_context(run_context.id)
        assert {("pipeline", pipeline.name), ("pipeline_run", run)} <= attributed, artifact.name
        assert {t for t, _ in attributed} >= set(doc["contexts"])
    assert seen_custom == set(doc["custom_properties"])
    assert {a.name for a in artifacts if a.name.startswith("manual-1.")} == \
        {"manual-1.multi.parts", "manual-1.multi.parts.1"}


def test_event_paths_are_key_index_pairs(spec, recorded):
    assert spec["event_path"] == ["key", "index"]
    store = recorded["store"]
    events = store.get_events_by_execution_ids([e.id for e in store.get_executions()])
    assert {pb.Event.Type.Name(e.type) for e in events} == {"INPUT", "OUTPUT"}
    for event in events:
        steps = event.path.steps
        assert len(steps) == 2 and steps[0].HasField("key") and steps[1].HasField("index")


# -- calls --------------------------------------------------------------------------------------
def test_mlmd_calls_per_operation_match_the_doc(spec, recorded):
    calls = recorded["calls"]
    documented_calls = spec["mlmd_calls"]
    for operation in ("start_run", "start_step", "publish_step", "publish_and_start", "fail_step",
                      "cancel_step", "end_run", "end_run_after_combined_writes"):
        assert calls[operation] == documented_calls[operation], operation
    cached_run, steps = calls["cached_run"], 7  # the seven steps of `documented`
    for name, count in documented_calls["cache_hit"].items():
        assert cached_run[name] == count * steps, (name, cached_run)


# -- the plain ml_metadata example ---------------------------------------------------------------
def test_the_plain_mlmd_example_runs(recorded):
    code = fenced_block_after("<!-- example: find-run -->", "python")
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(recorded["db"])
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
    namespace = {"store": plain_mlmd.MetadataStore(config), "run_name": "doc-3"}
    exec(compile(code, "CONVENTIONS.md example", "exec"), namespace)
    assert namespace["pipeline"].name == "documented"
    assert namespace["status"] == "failed"
    assert namespace["steps"]["gate"] == "FAILED"
    assert namespace["steps"]["after_gate"] == "CANCELED"
    assert namespace["steps"]["load"] == "CACHED"
    assert "doc-1.fit.model" in namespace["outputs"]
    assert all(Path(uri).exists() for uri in namespace["outputs"].values())
