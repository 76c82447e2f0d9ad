"""Names and locations as Kubeflow Pipelines makes them, without importing kfp.

* `k8s_name`: the KFP SDK's `kfp.dsl.utils.maybe_rename_for_k8s`, which
  names a pipeline (`pipelineInfo.name`) and its tasks (the task keys the
  UI joins executions on);
* `task_keys`: task keys of steps in the order a pipeline adds them, made
  unique as `kfp.dsl.pipeline_context.Pipeline.add_task` does
  (`kfp.dsl.utils.make_name_unique_by_adding_index`: `train`, `train-2`, ...);
* `run_pipeline_root`: the run's `pipeline_root`, as the v2 driver computes
  it (kubeflow/pipelines `backend/src/v2/metadata/client.go`,
  `GenerateOutputURI(pipelineRoot, [pipelineName, runID], true)`);
* `store_session_info`: the JSON of `objectstore.SessionInfo`
  (`backend/src/v2/objectstore/config.go`) with credentials taken from the
  environment, as the importer launcher writes it: never a secret.

A test holds `k8s_name` and `task_keys` to kfp's own functions.
"""
from __future__ import annotations

import json
import re
from typing import Iterable

_NOT_K8S = re.compile(r"[^-0-9a-z]+")
_DASHES = re.compile(r"-+")


def k8s_name(name: str) -> str:
    """`name` lower-cased, other characters turned to dashes, dashes collapsed and trimmed."""
    return _DASHES.sub("-", _NOT_K8S.sub("-", name.lower())).lstrip("-").rstrip("-")


def task_keys(step_names: Iterable[str]) -> dict[str, str]:
    """Step name -> KFP task key, unique in the order given (`task`, when nothing is left)."""
    keys: dict[str, str] = {}
    taken: set[str] = set()
    for step in step_names:
        if step in keys:
            continue
        key = _unique(k8s_name(step), taken)
        if key == "":
            key = _unique("task", taken)
        keys[step] = key
        taken.add(key)
    return keys


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    index = 2
    while f"{name}-{index}" in taken:
        index += 1
    return f"{name}-{index}"


def run_pipeline_root(pipeline_root: str, pipeline_name: str, run_id: str) -> str:
    """`<root>/<pipeline>/<run id>`, a query string of the root kept at the end."""
    root, _, query = pipeline_root.partition("?")
    path = "/".join(part.strip("/") for part in (pipeline_name, run_id) if part.strip("/"))
    return f"{root.rstrip('/')}/{path}" + (f"?{query}" if query else "")


def store_session_info(uri: str) -> str:
    """Where an artifact store is and how to reach it: its scheme; credentials from the environment."""
    scheme = uri.split("://", 1)[0] if "://" in uri else "file"
    return json.dumps({"Provider": scheme, "Params": {"fromEnv": "true"}}, separators=(",", ":"))
