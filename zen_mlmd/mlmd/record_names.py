"""How zen_mlmd's own records name their run, step and output, in either native schema.

Schema 1 stored the names as properties too (`run_name`, `step_name`,
`display_name` and `output_index` of artifacts); schema 2 keeps each in one
place only: the execution name `<run>.<step>` with the step name in
`display_name`, the artifact name `<run>.<step>.<output>[.<index>]`. Readers
use these helpers for both, without an MLMD call.
"""
from __future__ import annotations

from ml_metadata.proto import metadata_store_pb2 as pb


def execution_run_name(execution: pb.Execution) -> str:
    """The run name of a step execution written by zen_mlmd ("" if unknown).

    Its `run_name` custom property where one is stored (native schema 1, the
    Kubeflow Pipelines convention), else the execution name `<run>.<step>`
    without the step name (`display_name`); TFX's executions give "".
    """
    props = execution.custom_properties
    if "run_name" in props:
        return props["run_name"].string_value
    step = props["display_name"].string_value if "display_name" in props else ""
    if step and len(execution.name) > len(step) + 1 and execution.name.endswith("." + step):
        return execution.name[:-len(step) - 1]
    return ""


def is_native_step(execution: pb.Execution) -> bool:
    """Whether zen_mlmd wrote `execution` as a step in the native convention (either schema).

    Schema 1 steps carry `step_name`; schema 2 ones are named `<run>.<step>`
    with the step name in `display_name` and keep no `run_name` (the Kubeflow
    Pipelines convention's steps do). Such a step names itself and its run:
    a reader needs none of its contexts.
    """
    props = execution.custom_properties
    return "step_name" in props or ("run_name" not in props and bool(execution_run_name(execution)))


def artifact_output(artifact: pb.Artifact) -> tuple[str, int]:
    """(output name, index) of an output artifact written by zen_mlmd.

    Its `display_name` / `output_index` custom properties where stored (native
    schema 1; Kubeflow Pipelines keeps `display_name`), else its name
    `<run>.<step>.<output>[.<index>]`: output names cannot be all digits, so
    a last part made of digits is the index.
    """
    props = artifact.custom_properties
    head, _, last = artifact.name.rpartition(".")
    index = int(last) if last.isdigit() and head else 0
    name = head.rpartition(".")[2] if index else last
    if "display_name" in props:
        name = props["display_name"].string_value
    if "output_index" in props:
        index = props["output_index"].int_value
    return name, index
