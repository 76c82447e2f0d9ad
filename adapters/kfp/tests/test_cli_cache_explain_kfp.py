"""`zen-mlmd cache explain` on runs Kubeflow Pipelines recorded (`kfp_v2_runs`, following KFP's driver).

KFP keeps no cache-key parts: the explanation says so, names KFP's own cache
hits, and never compares against zen_mlmd's native step history. The store
is read-only to the command: its bytes are the same afterwards.
"""
from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner
from ml_metadata.metadata_store import metadata_store

from backends import connection_config
from kfp_v2_runs import RUN_2, write_training_runs
from ui_helpers import register_store
from zen_mlmd.cli.main import cli

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_cache_explain_says_what_kfp_recorded_and_writes_nothing(backend, config_dir):
    write_training_runs(metadata_store.MetadataStore(connection_config(backend)))
    register_store(backend, "kfp")
    database = backend.options["path"]
    before = hashlib.sha256(open(database, "rb").read()).hexdigest()

    result = CliRunner().invoke(cli, ["cache", "explain", RUN_2, "--store", "kfp", "--json"])

    assert result.exit_code == 0, result.output
    by_step = {e["step"]: e for e in json.loads(result.output)}
    assert by_step["make-data"]["status"] == "hit"
    assert by_step["make-data"]["reasons"] == ["Kubeflow Pipelines served this step from its cache"]
    train = by_step["for-loop-2[2]/train"]
    assert train["status"] == "not recorded"
    assert train["reasons"][0].startswith("Kubeflow Pipelines does not record why a step ran")
    assert all(e["compared_with"] == "" for e in by_step.values())
    assert hashlib.sha256(open(database, "rb").read()).hexdigest() == before
