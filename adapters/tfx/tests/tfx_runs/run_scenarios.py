"""Run the test pipelines with TFX's own code and print the run ids they recorded.

Usage: python run_scenarios.py (--sqlite PATH | --grpc HOST:PORT) --root DIR SCENARIO...

Scenarios (pipeline names in brackets):

* ``cached_rerun`` [taxi]: MakeExamples -> Stats -> Train, where Train takes
  the one Examples artifact under two input keys (`train_examples`,
  `eval_examples`); run twice by `LocalDagRunner`, the second run is served
  from TFX's cache.
* ``failing`` [taxi_validation]: a python-function component that raises.
* ``execution_result`` [taxi_gate]: an executor that returns a failed
  `ExecutionResult` (stored by TFX as `__execution_result__`).
* ``async`` [taxi_stream]: an ASYNC pipeline (no `pipeline_run` context), run
  twice with different parameters.
* ``subpipeline`` [outer, with the sub-pipeline `training`]: see
  `subpipeline_orchestration.py`; `LocalDagRunner` cannot run sub-pipelines.

The last line printed is JSON: ``{scenario: [run id, ...]}`` (empty for async).
"""
import argparse
import json
import logging
import os

import tfx_boot
import taxi_components as c
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner


def _pipeline(name, root, config, components, execution_mode=tfx_pipeline.ExecutionMode.SYNC):
    # TFX refuses caching in ASYNC pipelines.
    return tfx_pipeline.Pipeline(
        pipeline_name=name, pipeline_root=os.path.join(root, name), components=components,
        metadata_connection_config=config, execution_mode=execution_mode,
        enable_cache=execution_mode == tfx_pipeline.ExecutionMode.SYNC)


def _taxi(root, config):
    gen = c.MakeExamples(rows=5)
    stats = c.Stats(examples=gen.outputs["examples"])
    train = c.Train(train_examples=gen.outputs["examples"], eval_examples=gen.outputs["examples"],
                    statistics=stats.outputs["statistics"], learning_rate=0.05)
    return _pipeline("taxi", root, config, [gen, stats, train])


def _validation(root, config):
    gen = c.MakeExamples(rows=3)
    return _pipeline("taxi_validation", root, config, [gen, c.Validate(examples=gen.outputs["examples"])])


def _gate(root, config):
    gen = c.MakeExamples(rows=4)
    fit = c.Fit(examples=gen.outputs["examples"])
    return _pipeline("taxi_gate", root, config,
                     [gen, fit, c.Gate(model=fit.outputs["model"], accuracy=0.75)])


def _stream(root, config, source):
    # An importer brings in each new drop of data; Fit runs again on each new artifact.
    from tfx.dsl.components.common.importer import Importer
    from tfx.types import standard_artifacts

    data = Importer(source_uri=os.path.join(root, "drops", source), reimport=True,
                    artifact_type=standard_artifacts.Examples).with_id("ImportExamples")
    fit = c.Fit(examples=data.outputs["result"])
    return _pipeline("taxi_stream", root, config, [data, fit],
                     execution_mode=tfx_pipeline.ExecutionMode.ASYNC)


def _run_ids(config, pipeline_name):
    with metadata.Metadata(config) as m:
        return sorted(ctx.name for ctx in m.store.get_contexts_by_type("pipeline_run")
                      if pipeline_name in {p.name for p in m.store.get_parent_contexts_by_context(ctx.id)})


def _run(pipeline, expect_failure=False):
    try:
        LocalDagRunner().run(pipeline)
    except Exception as exc:  # the failing scenarios raise out of the runner, as for users
        if not expect_failure:
            raise
        logging.info("the run failed as expected: %s", exc)
    else:
        if expect_failure:
            raise SystemExit(f"{pipeline.pipeline_info.pipeline_name} did not fail")


def main():
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--sqlite")
    where.add_argument("--grpc")
    parser.add_argument("--root", required=True)
    parser.add_argument("scenarios", nargs="+")
    args = parser.parse_args()
    config = tfx_boot.connection_config(args.sqlite, args.grpc)
    recorded = {}
    for scenario in args.scenarios:
        if scenario == "cached_rerun":
            _run(_taxi(args.root, config))
            _run(_taxi(args.root, config))
            recorded[scenario] = _run_ids(config, "taxi")
        elif scenario == "failing":
            _run(_validation(args.root, config), expect_failure=True)
            recorded[scenario] = _run_ids(config, "taxi_validation")
        elif scenario == "execution_result":
            _run(_gate(args.root, config), expect_failure=True)
            recorded[scenario] = _run_ids(config, "taxi_gate")
        elif scenario == "async":
            _run(_stream(args.root, config, "2024-01-01"))
            _run(_stream(args.root, config, "2024-01-02"))
            recorded[scenario] = []
        elif scenario == "subpipeline":
            import subpipeline_orchestration

            recorded[scenario] = [subpipeline_orchestration.run(args.root, config, "outer-run-1")]
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
    print(json.dumps(recorded))


if __name__ == "__main__":
    main()
