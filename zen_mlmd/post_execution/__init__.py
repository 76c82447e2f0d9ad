"""Read recorded pipelines, runs, steps and artifacts back: the post-execution API.

    from zen_mlmd.post_execution import get_pipeline

    run = get_pipeline("training").runs[0]           # the newest run
    model = run.steps["train"].outputs["model"]
    print(run.status, model.uri, model.read())
    print(to_text(model.lineage()))

Views are read-only and built from batched reads: a whole run costs a fixed
number of MLMD calls however many steps it has.
"""
from zen_mlmd.post_execution.api import (
    get_artifact,
    get_pipeline,
    get_pipelines,
    get_run,
    get_runs,
)
from zen_mlmd.post_execution.compare import Comparison, compare_runs
from zen_mlmd.post_execution.export import to_dot, to_json, to_mermaid, to_svg, to_text
from zen_mlmd.post_execution.lineage import LineageEdge, LineageGraph, LineageNode
from zen_mlmd.post_execution.runs import Pipeline, Run, RunList
from zen_mlmd.post_execution.session import ReadSession
from zen_mlmd.post_execution.views import Artifact, Step, StepError, StepList

__all__ = [
    "Artifact",
    "Comparison",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "Pipeline",
    "ReadSession",
    "Run",
    "RunList",
    "Step",
    "StepError",
    "StepList",
    "compare_runs",
    "get_artifact",
    "get_pipeline",
    "get_pipelines",
    "get_run",
    "get_runs",
    "to_dot",
    "to_json",
    "to_mermaid",
    "to_svg",
    "to_text",
]
