"""Names and locations are made exactly as Kubeflow Pipelines makes them: checked against kfp's own code."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from kfp.dsl import utils as kfp_utils

from zen_mlmd_kfp.compiler import kfp_pipeline_name
from zen_mlmd_kfp.names import k8s_name, run_pipeline_root, store_session_info, task_keys

from kfp_v2_client import generate_output_uri

NAMES = st.text(alphabet=st.sampled_from("aZ09_- .-/äÉ"), max_size=20)


@settings(max_examples=300, deadline=None)
@given(NAMES)
def test_k8s_names_are_kfps(name):
    assert k8s_name(name) == kfp_utils.maybe_rename_for_k8s(name)


@settings(max_examples=200, deadline=None)
@given(st.lists(NAMES, max_size=8, unique=True))
def test_task_keys_are_unique_as_kfps_pipeline_makes_them(steps):
    taken: list[str] = []
    expected = {}
    for step in steps:  # kfp.dsl.pipeline_context.Pipeline.add_task
        key = kfp_utils.make_name_unique_by_adding_index(kfp_utils.maybe_rename_for_k8s(step), taken, "-")
        if key == "":
            key = kfp_utils.make_name_unique_by_adding_index("task", taken, "-")
        taken.append(key)
        expected[step] = key
    assert task_keys(steps) == expected


def test_the_compiled_pipeline_is_named_as_kfp_names_it():
    assert kfp_pipeline_name("Iris__Training  v2") == "iris-training-v2" == k8s_name("Iris__Training  v2")


def test_the_run_pipeline_root_is_the_drivers():
    for root in ("minio://mlpipeline/v2/artifacts", "gs://b/root/", "s3://b/r?region=eu", "/local/root"):
        assert run_pipeline_root(root, "p", "run-1") == generate_output_uri(root, "p", "run-1")


def test_store_session_info_names_the_scheme_and_never_a_secret():
    assert store_session_info("s3://bucket/x") == '{"Provider":"s3","Params":{"fromEnv":"true"}}'
    assert store_session_info("/data/x") == '{"Provider":"file","Params":{"fromEnv":"true"}}'
