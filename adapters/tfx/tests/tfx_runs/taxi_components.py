"""Components of the test pipelines: python-function components and one class executor.

Their execution types are named by their import path in this module
(`taxi_components.MakeExamples`), as TFX names every component: a user's
component type need not say "tfx" anywhere, so readers must not guess the
writer from it.
"""
import json
import os

import tfx_boot  # noqa: F401  (must precede the TFX imports below)
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.proto.orchestration import execution_result_pb2
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter


@component
def MakeExamples(examples: OutputArtifact[standard_artifacts.Examples], rows: Parameter[int] = 3):
    with open(os.path.join(examples.uri, "rows.json"), "w") as out:
        json.dump(list(range(rows)), out)


@component
def Stats(examples: InputArtifact[standard_artifacts.Examples],
          statistics: OutputArtifact[standard_artifacts.ExampleStatistics]):
    with open(os.path.join(examples.uri, "rows.json")) as src:
        rows = json.load(src)
    with open(os.path.join(statistics.uri, "stats.json"), "w") as out:
        json.dump({"count": len(rows)}, out)


@component
def Train(train_examples: InputArtifact[standard_artifacts.Examples],
          eval_examples: InputArtifact[standard_artifacts.Examples],
          statistics: InputArtifact[standard_artifacts.ExampleStatistics],
          model: OutputArtifact[standard_artifacts.Model], learning_rate: Parameter[float] = 0.1):
    with open(os.path.join(model.uri, "model.json"), "w") as out:
        json.dump({"lr": learning_rate}, out)


@component
def Fit(examples: InputArtifact[standard_artifacts.Examples],
        model: OutputArtifact[standard_artifacts.Model]):
    with open(os.path.join(model.uri, "model.json"), "w") as out:
        json.dump({"fitted": True}, out)


@component
def Report(model: InputArtifact[standard_artifacts.Model]):
    pass


@component
def Validate(examples: InputArtifact[standard_artifacts.Examples]):
    raise ValueError("validation failed: 3 rows, at least 10 expected")


# --- a class-based executor that reports failure through its ExecutorOutput ---------
class GateExecutor(base_executor.BaseExecutor):
    """Returns a failed `ExecutionResult`, as executors that refuse a model do.

    The portable launcher (`launcher.Launcher._run_executor`) raises on a
    non-zero code and `execution_publish_utils.publish_failed_execution`
    stores the result in the `__execution_result__` custom property.
    """

    def Do(self, input_dict, output_dict, exec_properties):
        return execution_result_pb2.ExecutorOutput(
            execution_result=execution_result_pb2.ExecutionResult(
                code=9,  # FAILED_PRECONDITION
                result_message=f"accuracy {exec_properties['accuracy']} is below the threshold 0.9",
            ))


class GateSpec(ComponentSpec):
    PARAMETERS = {"accuracy": ExecutionParameter(type=float)}
    INPUTS = {"model": ChannelParameter(type=standard_artifacts.Model)}
    OUTPUTS = {"blessing": ChannelParameter(type=standard_artifacts.ModelBlessing)}


class Gate(base_component.BaseComponent):
    SPEC_CLASS = GateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(GateExecutor)

    def __init__(self, model, accuracy: float):
        from tfx.types import channel

        blessing = channel.Channel(type=standard_artifacts.ModelBlessing)
        super().__init__(spec=GateSpec(model=model, accuracy=accuracy, blessing=blessing))
