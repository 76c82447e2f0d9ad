"""zen_mlmd: records ML pipeline runs in Google's ML Metadata (MLMD).

Public names are imported on first use, so `import zen_mlmd` stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> "module:attribute", imported on first access.
_LAZY_EXPORTS = {
    "get_active_stack": "zen_mlmd.stack:get_active_stack",
    "step": "zen_mlmd.pipelines.step:step",
    "pipeline": "zen_mlmd.pipelines.pipeline:pipeline",
    "Dataset": "zen_mlmd.artifacts.kinds:Dataset",
    "Model": "zen_mlmd.artifacts.kinds:Model",
    "Metrics": "zen_mlmd.artifacts.kinds:Metrics",
    "Statistics": "zen_mlmd.artifacts.kinds:Statistics",
    "Data": "zen_mlmd.artifacts.kinds:Data",
    "Recorder": "zen_mlmd.tracking.recorder:Recorder",
    "rerun": "zen_mlmd.tracking.reproduce:rerun",
    "get_pipelines": "zen_mlmd.post_execution:get_pipelines",
    "get_pipeline": "zen_mlmd.post_execution:get_pipeline",
    "get_run": "zen_mlmd.post_execution:get_run",
    "get_runs": "zen_mlmd.post_execution:get_runs",
    "get_artifact": "zen_mlmd.post_execution:get_artifact",
    "compare_runs": "zen_mlmd.post_execution:compare_runs",
}

__all__ = ["__version__", *_LAZY_EXPORTS]


def __getattr__(name: str) -> Any:
    target = _LAZY_EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'zen_mlmd' has no attribute {name!r}")
    module_name, _, attribute = target.partition(":")
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
