"""Submitting to a KFP endpoint, and the `kubeflow` orchestrator flavor.

There is no Kubernetes cluster here: the submission tests check the request
this adapter would send (`kfp.Client(**client_arguments)` then
`create_run_from_pipeline_package(**run_arguments)`), never a live call.
"""
from __future__ import annotations

import inspect
import os
import sys
from importlib.metadata import entry_points

import kfp
import pytest

from zen_mlmd.errors import ConfigError
from zen_mlmd_kfp.compiler import RUN_NAME_PARAMETER
from zen_mlmd_kfp.flavor import KubeflowOrchestratorConfig, KubeflowOrchestratorFlavor
from zen_mlmd_kfp.orchestrator import KubeflowOrchestrator

sys.path.insert(0, os.path.dirname(__file__))
from side_effect_pipeline import traced  # noqa: E402


def test_the_submission_request_names_the_run_and_turns_kfps_cache_off(sqlite_stack, tmp_path):
    """Only the request is built and checked against kfp.Client's signature: no cluster is contacted."""
    config = KubeflowOrchestratorConfig(host="https://kfp.example.com/pipeline", namespace="team-a",
                                        experiment="nightly", image="registry.example.com/train:1")
    request = KubeflowOrchestrator(sqlite_stack, config, quiet=True).submission(
        traced.build(), str(tmp_path / "traced.yaml"), run_name="nightly-7")
    assert request.client_arguments == {"host": "https://kfp.example.com/pipeline", "namespace": "team-a"}
    assert request.run_arguments == {
        "pipeline_file": str(tmp_path / "traced.yaml"), "arguments": {RUN_NAME_PARAMETER: "nightly-7"},
        "run_name": "nightly-7", "enable_caching": False, "experiment_name": "nightly",
        "namespace": "team-a",
    }
    assert os.path.exists(request.package_path)
    inspect.signature(kfp.Client).bind(**request.client_arguments)
    inspect.signature(kfp.Client.create_run_from_pipeline_package).bind(None, **request.run_arguments)
    with open(request.package_path, encoding="utf-8") as package:
        assert "registry.example.com/train:1" in package.read()


def test_the_flavor_is_registered_under_zen_mlmd_orchestrators():
    [entry] = [e for e in entry_points(group="zen_mlmd.orchestrators") if e.name == "kubeflow"]
    flavor = entry.load()()
    assert flavor.name == "kubeflow"
    orchestrator = flavor.implementation(stack=None, options={"local": True, "convention": "kfp"})
    assert isinstance(orchestrator, KubeflowOrchestrator) and orchestrator.config.convention == "kfp"


def test_flavor_config_errors_name_the_option_and_the_fix():
    flavor = KubeflowOrchestratorFlavor()
    with pytest.raises(ConfigError, match="host.*local=true"):
        flavor.parse_config({})
    with pytest.raises(ConfigError, match="hostname.*use one of: host"):
        flavor.parse_config({"hostname": "x"})
    with pytest.raises(ConfigError, match="convention"):
        flavor.parse_config({"local": True, "convention": "tfx"})
