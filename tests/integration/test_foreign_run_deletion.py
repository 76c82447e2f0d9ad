"""Deleting runs that Kubeflow Pipelines and TFX wrote, on every backend.

The runs are written with plain ml_metadata by the adapters' fixtures, which
follow those tools' code call by call: adapters/kfp/tests/kfp_v2_runs.py
(KFP v2's driver and launcher through kfp_v2_client.py, after
kubeflow/pipelines backend/src/v2/metadata/client.go: a root DAG, a
sub-pipeline DAG, a 3-iteration ParallelFor with a DAG per iteration, an
importer, a condition branch not taken, a cached task and a failed one) and
adapters/tfx/tests/tfx_shapes.py (TFX's portable launcher, with its node and
execution_cache contexts). Runs are named as each tool names them (a KFP run
ID, a TFX run id) and found through the readers. Runs written by TFX itself
(sub-pipelines, async pipelines) are deleted in
adapters/tfx/tests/test_real_tfx_deletion.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

from lifecycle_helpers import assert_store_consistent, lineage_shape, plain_store
from zen_mlmd.lifecycle import delete_runs
from zen_mlmd.mlmd.reader import StoreReader
from zen_mlmd.post_execution import get_artifact, get_runs

_ADAPTER_TESTS = Path(__file__).resolve().parents[2] / "adapters"
for _folder in ("kfp/tests", "tfx/tests"):
    if str(_ADAPTER_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_ADAPTER_TESTS / _folder))

from kfp_v2_runs import PIPELINE, RUN_1, RUN_2, write_training_runs  # noqa: E402
from tfx_shapes import PortableTfxWriter  # noqa: E402


def read_whole(store, run_name: str):
    """A run as users read it: its steps, and the lineage of its outputs."""
    reader = StoreReader(store)
    data = reader.read_run(reader.get_run(run_name))
    steps = [(s.name, s.state, s.inputs, s.outputs, s.original_execution_id) for s in data.steps]
    outputs = {a for s in data.steps for ids in s.outputs.values() for a in ids}
    return steps, {a: lineage_shape(get_artifact(a, store).lineage()) for a in sorted(outputs)}


def lineage_ids(store, artifact_id: int) -> tuple[set, set]:
    """An artifact's lineage graph as (kind, id) nodes and (source, target, name) edges."""
    graph = get_artifact(artifact_id, store).lineage()
    return {(n.kind, n.id) for n in graph.nodes}, {(e.source, e.target, e.name) for e in graph.edges}


def kfp_train_lineage(run, index: int, output: str) -> tuple[set, set]:
    """importer -> make-data -> for-loop-2[index]/train -> output, by the ids `run` recorded."""
    importer, make_data = run.executions["importer"], run.executions["make-data"]
    train = run.executions[f"for-loop-2[{index}]/train"]
    raw, dataset = run.artifacts["importer.artifact"], run.artifacts["make-data.dataset"]
    out = run.artifacts[f"for-loop-2[{index}]/train.{output}"]
    return ({("step", importer), ("step", make_data), ("step", train),
             ("artifact", raw), ("artifact", dataset), ("artifact", out)},
            {(f"step:{importer}", f"artifact:{raw}", "artifact"),
             (f"artifact:{raw}", f"step:{make_data}", "raw"),
             (f"step:{make_data}", f"artifact:{dataset}", "dataset"),
             (f"artifact:{dataset}", f"step:{train}", "dataset"),
             (f"step:{train}", f"artifact:{out}", output)})


def test_kfp_runs_with_nested_dags_and_loops_are_deleted_with_what_only_they_held(metadata_store, backend):
    store = metadata_store
    raw = plain_store(backend)
    first, second = write_training_runs(raw)
    # run 2's importer reused run 1's artifact and its make-data was served from run 1's cache
    shared = {first.artifacts["importer.artifact"], first.artifacts["make-data.dataset"]}
    assert shared <= set(second.artifacts.values())
    own = set(first.artifacts.values()) - shared
    run1_executions = [first.root_dag_id, *first.dags.values(), *first.executions.values()]
    assert len(run1_executions) == 13  # root, sub-pipeline, condition, loop, 3 iterations; 6 tasks
    steps_before = read_whole(store, RUN_2)[0]
    # the lineage shows run 1's importer beside run 2's, and run 1's make-data, whose
    # output run 2's cached make-data reused
    model = second.artifacts["for-loop-2[0]/train.model"]
    nodes, _ = lineage_ids(store, model)
    assert {("step", first.executions["importer"]), ("step", first.executions["make-data"])} <= nodes
    own_uris = {a.uri for a in raw.get_artifacts_by_id(sorted(own))}

    report = delete_runs(store, [RUN_1])

    assert report.runs == (RUN_1,) and not report.soft
    assert report.executions == len(run1_executions)
    assert {a.id for a in report.artifacts} == own
    assert {a.id for a in report.kept} == shared
    # KFP's files live in its object store, which is no artifact store of this stack
    assert set(report.files_left) == own_uris
    assert raw.get_executions_by_id(run1_executions) == []
    assert raw.get_artifacts_by_id(sorted(own)) == []
    assert {a.id for a in raw.get_artifacts_by_id(sorted(shared))} == shared
    assert raw.get_context_by_type_and_name("system.PipelineRun", RUN_1) is None
    assert raw.get_context_by_type_and_name("system.Pipeline", PIPELINE) is not None  # run 2's too
    assert_store_consistent(backend)
    assert read_whole(store, RUN_2)[0] == steps_before
    # run 2's outputs now trace back through run 2's own (cached) steps alone
    for index in (0, 1):  # its third iteration failed
        for output in ("model", "metrics"):
            assert lineage_ids(store, second.artifacts[f"for-loop-2[{index}]/train.{output}"]) == \
                kfp_train_lineage(second, index, output)
    assert [r.name for r in get_runs(store=store)] == [RUN_2]

    report = delete_runs(store, [RUN_2])

    assert report.executions == 1 + len(second.dags) + len(second.executions) == 10
    assert {a.id for a in report.artifacts} == set(second.artifacts.values())  # the shared ones too
    assert report.kept == ()
    assert raw.get_artifacts_by_id(sorted(set(second.artifacts.values()))) == []
    assert raw.get_context_by_type_and_name("system.PipelineRun", RUN_2) is None
    assert raw.get_context_by_type_and_name("system.Pipeline", PIPELINE) is None  # its last run went
    assert raw.get_executions() == [] and raw.get_artifacts() == []
    assert [r.name for r in get_runs(store=store)] == []
    assert_store_consistent(backend)


def test_tfx_runs_are_deleted_and_their_node_contexts_go_with_the_last_run(metadata_store, backend):
    store = metadata_store
    raw = plain_store(backend)
    writer = PortableTfxWriter(raw, "tfx-pipe")
    tfx_executions, tfx_outputs = {}, {}
    for run_id in ("tfx-1", "tfx-2"):
        contexts = writer.start_run(run_id)
        gen, examples = writer.run_component(contexts, "ExampleGen", "tfx.ExampleGen",
                                             outputs={"examples": [("Examples", {"span": 1})]})
        trainer, model = writer.run_component(contexts, "Trainer", "tfx.Trainer", inputs=examples,
                                              outputs={"model": [("Model", {})]})
        tfx_executions[run_id] = [gen.id, trainer.id]
        tfx_outputs[run_id] = {a.id for a in (*examples["examples"], *model["model"])}
    assert {r.name for r in get_runs(store=store)} == {"tfx-1", "tfx-2"}
    before = read_whole(store, "tfx-2")

    report = delete_runs(store, ["tfx-1"])

    assert report.executions == 2 and {a.id for a in report.artifacts} == tfx_outputs["tfx-1"]
    assert raw.get_executions_by_id(tfx_executions["tfx-1"]) == []
    assert raw.get_artifacts_by_id(sorted(tfx_outputs["tfx-1"])) == []
    assert raw.get_context_by_type_and_name("pipeline_run", "tfx-1") is None
    # tfx-2 still uses the node contexts and the pipeline: they stay
    assert raw.get_context_by_type_and_name("node", "tfx-pipe.Trainer") is not None
    assert raw.get_context_by_type_and_name("pipeline", "tfx-pipe") is not None
    assert_store_consistent(backend)
    assert read_whole(store, "tfx-2") == before

    delete_runs(store, ["tfx-2"])  # the last run of its pipeline: its contexts go with it
    assert raw.get_context_by_type_and_name("node", "tfx-pipe.Trainer") is None
    assert raw.get_context_by_type_and_name("pipeline", "tfx-pipe") is None
    assert raw.get_contexts() == [] and raw.get_executions() == [] and raw.get_artifacts() == []
    assert_store_consistent(backend)
