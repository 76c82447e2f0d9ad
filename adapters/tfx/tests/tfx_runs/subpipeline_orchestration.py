"""A sync pipeline with a sub-pipeline, recorded as TFX's orchestrator records it.

TFX's `LocalDagRunner` skips sub-pipelines: only the orchestrator of
`tfx/orchestration/experimental/core` (in tensorflow/tfx up to commit
381ccf63f, November 2024, when it left the open-source tree) runs them. That
code is not shipped in ml-pipelines-sdk 1.21, so this module follows it call
by call, with TFX's own compiler, `context_lib`, `execution_lib`,
`execution_publish_utils`, input resolution and portable `Launcher` doing
every MLMD write:

* the pipeline: ``outer`` = MakeExamples -> [sub-pipeline ``training``:
  Fit] -> Report, compiled by `tfx.dsl.compiler.compiler.Compiler` (so the
  node contexts are the compiler's: see `node_contexts_compiler.compile_node_contexts`);
* `pipeline_state.PipelineState.new`: one ``__ORCHESTRATOR__`` execution per
  pipeline run in the ``__ORCHESTRATOR__`` context named by the pipeline id,
  with the custom property ``pipeline_run_id`` (COMPLETE when the run ends);
* `task_gen_utils.generate_resolved_info` + `register_executions`: the
  sub-pipeline, seen as a node of ``outer`` through
  `node_proto_view.ComposablePipelineProtoView`, gets one execution (type
  ``tfx.orchestration.pipeline.Pipeline``) in its view's contexts, NEW with
  its resolved inputs, then RUNNING when dispatched (`task_manager`);
* `task_schedulers/subpipeline_task_scheduler.SubPipelineTaskScheduler`:
  `subpipeline_utils.subpipeline_ir_rewrite` renames the inner run context
  ``training_<run id>`` to ``training_<run id>_<execution id>``;
  `_put_begin_node_execution` records the begin node COMPLETE with the inputs
  as INPUT and INTERNAL_OUTPUT events; the inner nodes run; the end node is
  published as the orchestrator publishes a system node
  (`execution_publish_utils.publish_internal_execution`);
  `_set_pipeline_execution_outputs` gives the pipeline-as-node execution
  OUTPUT events to the end node's outputs, and
  `post_execution_utils.publish_execution_results_for_task` marks it COMPLETE;
* component nodes run through the portable `launcher.Launcher`, as
  `LocalDagRunner` runs them (the orchestrator's task schedulers publish
  through the same `execution_publish_utils`).
"""
import copy
import os
import uuid

import tfx_boot  # noqa: F401
import taxi_components as c
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.compiler import compiler, constants
from tfx.orchestration import metadata, node_proto_view
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local import runner_utils
from tfx.orchestration.portable import execution_publish_utils, inputs_utils, launcher
from tfx.orchestration.portable import runtime_parameter_utils
from tfx.orchestration.portable.mlmd import context_lib, execution_lib

ORCHESTRATOR = "__ORCHESTRATOR__"  # pipeline_state._ORCHESTRATOR_RESERVED_ID


def build(root):
    gen = c.MakeExamples(rows=8)
    inputs = tfx_pipeline.PipelineInputs({"examples": gen.outputs["examples"]})
    fit = c.Fit(examples=inputs["examples"])
    training = tfx_pipeline.Pipeline(pipeline_name="training", components=[fit], inputs=inputs,
                                     outputs={"model": fit.outputs["model"]})
    report = c.Report(model=training.outputs["model"])
    return tfx_pipeline.Pipeline(pipeline_name="outer", pipeline_root=os.path.join(root, "outer"),
                                 components=[gen, training, report])


def run(root, config, run_id):
    """Compile `outer`, bind the run id and run it; returns the run id."""
    ir = compiler.Compiler().compile(build(root))
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    with metadata.Metadata(config) as m:
        _run_pipeline(m, config, ir)
    return run_id


def _start_pipeline_state(m, ir):
    """pipeline_state.PipelineState.new: the orchestrator's execution of one pipeline run."""
    context = context_lib.register_context_if_not_exists(m, ORCHESTRATOR, ir.pipeline_info.id)
    execution = execution_lib.prepare_execution(
        m, metadata_store_pb2.ExecutionType(name=ORCHESTRATOR), metadata_store_pb2.Execution.NEW,
        exec_properties={}, execution_name=str(uuid.uuid4()))
    execution.custom_properties["pipeline_run_id"].string_value = (
        ir.runtime_spec.pipeline_run_id.field_value.string_value)
    first = next(n.pipeline_node for n in ir.nodes if n.WhichOneof("node") == "pipeline_node")
    context_lib.prepare_contexts(m, first.contexts)  # _prepare_pipeline_node_contexts
    return execution_lib.put_execution(m, execution, [context]), context


def _run_pipeline(m, config, ir):
    state, state_context = _start_pipeline_state(m, ir)
    deployment = runner_utils.extract_local_deployment_config(ir)
    for node in ir.nodes:
        if node.WhichOneof("node") == "sub_pipeline":
            _run_subpipeline(m, config, node)
            continue
        pipeline_node = node.pipeline_node
        node_type = pipeline_node.node_info.type.name
        if node_type.endswith(constants.PIPELINE_BEGIN_NODE_SUFFIX):
            continue  # injected by the sub-pipeline's scheduler, see _run_subpipeline
        if node_type.endswith(constants.PIPELINE_END_NODE_SUFFIX):
            _publish_end_node(m, pipeline_node)
            continue
        launcher.Launcher(
            pipeline_node=pipeline_node, mlmd_connection=metadata.Metadata(config),
            pipeline_info=ir.pipeline_info, pipeline_runtime_spec=ir.runtime_spec,
            executor_spec=runner_utils.extract_executor_spec(deployment, pipeline_node.node_info.id),
        ).launch()
    state.last_known_state = metadata_store_pb2.Execution.COMPLETE
    execution_lib.put_execution(m, state, [state_context])


def _run_subpipeline(m, config, pipeline_or_node):
    view = node_proto_view.get_view(pipeline_or_node)
    # task_gen_utils.generate_resolved_info: contexts, then the resolved inputs.
    contexts = context_lib.prepare_contexts(m, view.contexts)
    [input_artifacts] = inputs_utils.resolve_input_artifacts(
        metadata_handle=m, pipeline_node=view.raw_proto().nodes[0].pipeline_node)
    # task_gen_utils.register_executions: NEW, with its inputs; RUNNING once dispatched.
    execution = execution_lib.prepare_execution(
        m, view.node_info.type, metadata_store_pb2.Execution.NEW, exec_properties={},
        execution_name=str(uuid.uuid4()))
    execution.custom_properties["__external_execution_index__"].int_value = 0
    execution = execution_lib.put_execution(m, execution, contexts, input_artifacts=input_artifacts)
    execution.last_known_state = metadata_store_pb2.Execution.RUNNING
    execution = execution_lib.put_execution(m, execution, contexts)

    # SubPipelineTaskScheduler.schedule
    sub_ir = _subpipeline_ir_rewrite(view.raw_proto(), execution.id)
    begin = sub_ir.nodes[0].pipeline_node
    begin_execution = execution_lib.prepare_execution(
        m, begin.node_info.type, metadata_store_pb2.Execution.COMPLETE,
        exec_properties={"injected_begin_node_execution": True})
    execution_lib.put_execution(
        m, begin_execution, context_lib.prepare_contexts(m, begin.contexts),
        input_artifacts=input_artifacts, output_artifacts=input_artifacts,
        output_event_type=metadata_store_pb2.Event.INTERNAL_OUTPUT)
    _run_pipeline(m, config, sub_ir)

    # _set_pipeline_execution_outputs, then publish_execution_results_for_task.
    end = sub_ir.nodes[-1].pipeline_node
    end_contexts = context_lib.prepare_contexts(m, end.contexts)
    [end_execution] = execution_lib.get_executions_associated_with_all_contexts(m, end_contexts)
    outputs = execution_lib.get_output_artifacts(m, end_execution.id)
    [execution] = m.store.get_executions_by_id([execution.id])
    execution_lib.put_execution(m, execution, contexts, output_artifacts=outputs,
                                output_event_type=metadata_store_pb2.Event.OUTPUT)
    execution_publish_utils.publish_succeeded_execution(m, execution.id, contexts)


def _publish_end_node(m, end_node):
    contexts = context_lib.prepare_contexts(m, end_node.contexts)
    [input_artifacts] = inputs_utils.resolve_input_artifacts(metadata_handle=m, pipeline_node=end_node)
    execution = execution_lib.prepare_execution(
        m, end_node.node_info.type, metadata_store_pb2.Execution.RUNNING, exec_properties={},
        execution_name=str(uuid.uuid4()))
    execution = execution_lib.put_execution(m, execution, contexts, input_artifacts=input_artifacts)
    execution_publish_utils.publish_internal_execution(
        m, contexts, execution.id, output_artifacts=input_artifacts)


def _subpipeline_ir_rewrite(original, execution_id):
    """As `subpipeline_utils.subpipeline_ir_rewrite`: a run id of its own for the inner run."""
    pipeline = copy.deepcopy(original)
    pipeline.nodes[0].pipeline_node.ClearField("upstream_nodes")
    pipeline.nodes[-1].pipeline_node.ClearField("downstream_nodes")
    old = pipeline.runtime_spec.pipeline_run_id.field_value.string_value
    new = f"{old}_{execution_id}"  # subpipeline_utils.run_id_for_execution
    for pipeline_or_node in pipeline.nodes:
        if pipeline_or_node.WhichOneof("node") != "pipeline_node":
            continue
        node = pipeline_or_node.pipeline_node
        for spec in node.contexts.contexts:
            if spec.type.name == "pipeline_run" and spec.name.field_value.string_value == old:
                spec.name.field_value.string_value = new
        for input_spec in node.inputs.inputs.values():
            for channel in input_spec.channels:
                for query in channel.context_queries:
                    if query.type.name == "pipeline_run" and query.name.field_value.string_value == old:
                        query.name.field_value.string_value = new
    pipeline.runtime_spec.pipeline_run_id.field_value.string_value = new
    return pipeline
