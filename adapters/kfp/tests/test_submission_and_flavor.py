"""Submitting to a KFP endpoint: what the stack must be, what the package holds, and the flavor.

There is no Kubernetes cluster here: these tests check the request this
adapter would send (`kfp.Client(**client_arguments)` then
`create_run_from_pipeline_package(**run_arguments)`) and the compiled
package, never a live call (`test_played_cluster` runs such a package).
"""
from __future__ import annotations

import inspect
import os
import sys
from importlib.metadata import entry_points, version

import kfp
import pytest
import yaml

from zen_mlmd.errors import ConfigError
from zen_mlmd.stack.components import ArtifactStoreComponent, MetadataStoreComponent, OrchestratorComponent
from zen_mlmd.stack.stack import Stack
from zen_mlmd_kfp.compiler import RUN_NAME_PARAMETER
from zen_mlmd_kfp.flavor import KubeflowOrchestratorConfig, KubeflowOrchestratorFlavor
from zen_mlmd_kfp.orchestrator import KubeflowOrchestrator

sys.path.insert(0, os.path.dirname(__file__))
from side_effect_pipeline import traced  # noqa: E402

# side_effect_pipeline is no installed distribution: said once per compile (see the last test)
pytestmark = pytest.mark.filterwarnings("ignore:the pipeline's module")

HOST = "https://kfp.example.com/pipeline"
#: The team's package index, serving zen-mlmd and zen-mlmd-kfp (never contacted here).
INDEX = "https://pypi.example.com/simple"
ARTIFACTS = "s3://team-bucket/zen"
TOKEN, PASSWORD = "tok-3f9a61c2d7", "pw-81be0c44aa"


def stack(flavor: str = "kubeflow", options=None, artifacts: str = ARTIFACTS) -> Stack:
    options = {"kubernetes_context": "prod"} if options is None else options
    return Stack("cluster", MetadataStoreComponent("team-db", flavor, options),
                 ArtifactStoreComponent("team-s3", artifacts), OrchestratorComponent("kfp", "kubeflow"))


def submission(target: Stack, tmp_path, **options):
    if options.get("install_packages", True):
        options.setdefault("pip_index_urls", (INDEX,))
    config = KubeflowOrchestratorConfig(host=HOST, **options)
    return KubeflowOrchestrator(target, config, quiet=True).submission(
        traced.build(), str(tmp_path / "traced.yaml"), run_name="nightly-7")


def package_text(request) -> str:
    with open(request.package_path, encoding="utf-8") as handle:
        return handle.read()


def test_a_sqlite_stack_is_refused_naming_the_metadata_store_and_the_fix(sqlite_stack, tmp_path):
    with pytest.raises(ConfigError) as caught:
        submission(sqlite_stack, tmp_path)
    message = str(caught.value)
    assert "metadata store 'kfp-test-db'" in message and "SQLite file on this machine" in message
    assert "Fix: register a store the pods reach" in message and "-f kubeflow" in message
    assert not os.path.exists(tmp_path / "traced.yaml")  # nothing compiled, nothing sent


@pytest.mark.parametrize(("flavor", "options", "problem"), [
    ("mysql", {"host": "127.0.0.1", "database": "mlmd", "user": "zen", "password": "${DB_PASSWORD}"},
     "loopback address"),
    ("mysql", {"host": "localhost", "database": "mlmd", "user": "zen", "password": "${DB_PASSWORD}"},
     "loopback address"),
    ("kubeflow", {"host": "127.0.0.1", "port": 8080}, "loopback address"),
    ("postgresql", {"host": "db.internal", "dbname": "mlmd", "password": "file:/etc/zen/pw"},
     "a file on this machine"),
    ("mysql", {"host": "db.internal", "database": "mlmd", "user": "zen", "password": "hunter2"},
     "a literal secret"),
])
def test_a_store_only_this_machine_reaches_is_refused(tmp_path, flavor, options, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        submission(stack(flavor, options), tmp_path)
    assert "metadata store 'team-db'" in str(caught.value) and "Fix: " in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_file_on_this_machine_is_refused_and_public_certificates_travel_as_text(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIBplayed\n-----END CERTIFICATE-----\n")
    options = {"host": "db.internal", "database": "mlmd", "user": "zen", "password": "${DB_PASSWORD}",
               "ssl_ca": str(ca)}
    with pytest.raises(ConfigError, match="ssl_ca.*names a file on this machine.*Fix: "):
        submission(stack("mysql", options), tmp_path)
    request = submission(stack(options={"host": "mlmd.example.com", "port": 443, "custom_ca": str(ca)}),
                         tmp_path)
    spec = next(yaml.safe_load_all(package_text(request)))
    constants = [p["runtimeValue"]["constant"] for c in spec["components"].values() if "dag" in c
                 for t in c["dag"]["tasks"].values() for n, p in t["inputs"]["parameters"].items()
                 if n == "zen_mlmd_task"]
    # each task's spec: the certificate itself, not a path the pods do not have
    assert constants and all('"custom_ca":"-----BEGIN CERTIFICATE-----\\nMIIBplayed' in c for c in constants)


@pytest.mark.parametrize("artifacts", ["/data/artifacts", "file:///data/artifacts", "memory://artifacts"])
def test_a_local_artifact_store_is_refused(tmp_path, artifacts):
    with pytest.raises(ConfigError, match="artifact store 'team-s3'.*Fix: register an artifact store in "
                                          "object storage"):
        submission(stack(artifacts=artifacts), tmp_path)


def test_native_recording_on_a_cluster_is_refused_it_would_record_each_run_twice():
    with pytest.raises(ValueError, match="recorded twice"):
        KubeflowOrchestratorConfig(host=HOST, convention="native")
    assert KubeflowOrchestratorConfig(host=HOST).recording_convention == "kfp"
    assert KubeflowOrchestratorConfig(local=True).recording_convention == "native"


def test_a_grpc_and_s3_stack_compiles_and_the_package_holds_no_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEN_MLMD_TOKEN", TOKEN)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", PASSWORD)
    request = submission(stack(options={"kubernetes_context": "prod", "token": "${ZEN_MLMD_TOKEN}"}), tmp_path,
                         secret_environment=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
    text = package_text(request)
    assert TOKEN not in text and PASSWORD not in text
    spec, platform = yaml.safe_load_all(text)
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    # every task that opens the store (the end task too) reads the token from the Secret
    assert set(executors) == set(spec["deploymentSpec"]["executors"])
    for executor in executors.values():
        [reference] = executor["secretAsEnv"]
        assert reference["secretName"] == "zen-mlmd"
        assert {(k["secretKey"], k["envVar"]) for k in reference["keyToEnv"]} == {
            ("ZEN_MLMD_TOKEN", "ZEN_MLMD_TOKEN"), ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
            ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY")}
    assert "${ZEN_MLMD_TOKEN}" in text  # the reference, resolved in the pod


def test_a_mysql_password_reference_becomes_a_secret_reference_never_a_literal(tmp_path, monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", PASSWORD)
    options = {"host": "mysql.kubeflow.svc", "database": "mlmd", "user": "zen", "password": "${DB_PASSWORD}"}
    request = submission(stack("mysql", options), tmp_path, secret_name="team-secrets")
    text = package_text(request)
    assert PASSWORD not in text
    _, platform = yaml.safe_load_all(text)
    for executor in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values():
        assert executor["secretAsEnv"][0]["secretName"] == "team-secrets"
        assert executor["secretAsEnv"][0]["keyToEnv"] == [{"envVar": "DB_PASSWORD", "secretKey": "DB_PASSWORD"}]


def test_each_task_installs_pinned_packages_from_the_image_it_is_given(tmp_path):
    request = submission(stack(), tmp_path, image="registry.example.com/base:3.11",
                         pip_index_urls=(INDEX,), packages=("pyyaml",),
                         environment={"AWS_REGION": "eu-west-1"})
    spec = next(yaml.safe_load_all(package_text(request)))
    pins = [f"zen-mlmd=={version('zen-mlmd')}", f"zen-mlmd-kfp=={version('zen-mlmd-kfp')}",
            f"s3fs=={version('s3fs')}", f"pyyaml=={version('pyyaml')}"]
    for executor in spec["deploymentSpec"]["executors"].values():
        container = executor["container"]
        assert container["image"] == "registry.example.com/base:3.11"
        install = container["command"][2]
        assert "'kfp==2.13.0'" in install and all(f"'{pin}'" in install for pin in pins)
        assert "--index-url https://pypi.example.com/simple" in install
        assert {"name": "AWS_REGION", "value": "eu-west-1"} in container["env"]
    assert ", ".join(pins) in spec["pipelineInfo"]["description"]


def test_installing_zen_mlmd_from_the_images_default_index_is_refused(tmp_path):
    # this project does not publish zen-mlmd on PyPI: a pod would install whatever holds the name
    with pytest.raises(ConfigError) as caught:
        submission(stack(), tmp_path, pip_index_urls=None)
    message = str(caught.value)
    assert message.startswith("pip_index_urls=None: each task would pip install "
                              f"zen-mlmd=={version('zen-mlmd')} zen-mlmd-kfp=={version('zen-mlmd-kfp')} "
                              "from the default package index of image 'python:3.11' (PyPI)"), message
    assert "Fix: bake an image" in message and "Dockerfile" in message and "install_packages=false" in message
    assert "pip_index_urls=URL" in message
    assert not os.path.exists(tmp_path / "traced.yaml")  # nothing compiled, nothing sent
    # a baked image, or a named index, is accepted
    submission(stack(), tmp_path, install_packages=False)
    submission(stack(), tmp_path, pip_index_urls=(INDEX,))


def test_a_baked_image_installs_nothing(tmp_path):
    request = submission(stack(), tmp_path, image="registry.example.com/zen:1",
                         install_packages=False, install_kfp_package=False)
    spec = next(yaml.safe_load_all(package_text(request)))
    for executor in spec["deploymentSpec"]["executors"].values():
        assert "pip install" not in "\n".join(executor["container"]["command"])
    assert "installs nothing (the image has it all)" in spec["pipelineInfo"]["description"]


@pytest.mark.filterwarnings("default")
def test_a_pipeline_module_in_no_installed_distribution_is_named_the_image_must_have_it(tmp_path):
    with pytest.warns(UserWarning, match="side_effect_pipeline are not part of an installed distribution: "
                                         "the task image must contain them"):
        submission(stack(), tmp_path)


def test_the_submission_request_names_the_run_and_turns_kfps_cache_off(tmp_path):
    """Only the request is built and checked against kfp.Client's signature: no cluster is contacted."""
    request = submission(stack(), tmp_path, namespace="team-a", experiment="nightly",
                         image="registry.example.com/train:1")
    assert request.client_arguments == {"host": HOST, "namespace": "team-a"}
    assert request.run_arguments == {
        "pipeline_file": str(tmp_path / "traced.yaml"), "arguments": {RUN_NAME_PARAMETER: "nightly-7"},
        "run_name": "nightly-7", "enable_caching": False, "experiment_name": "nightly",
        "namespace": "team-a", "pipeline_root": ARTIFACTS,  # KFP records outputs where zen_mlmd wrote them
    }
    assert os.path.exists(request.package_path)
    inspect.signature(kfp.Client).bind(**request.client_arguments)
    inspect.signature(kfp.Client.create_run_from_pipeline_package).bind(None, **request.run_arguments)
    assert "registry.example.com/train:1" in package_text(request)


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
    with pytest.raises(ConfigError, match="stale_after_sec"):
        flavor.parse_config({"local": True, "heartbeat_sec": 60, "stale_after_sec": 30})
    parsed = flavor.parse_config({"host": HOST, "packages": "pandas, scikit-learn==1.5",
                                  "environment": "AWS_REGION=eu-west-1,AWS_ENDPOINT_URL=https://s3"})
    assert parsed.packages == ("pandas", "scikit-learn==1.5")
    assert parsed.environment == {"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "https://s3"}
