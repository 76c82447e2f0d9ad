"""Copying from a served gRPC store, copying a selection, and a gRPC destination refused.

The source of the first test is the suite's `grpc` backend: `python -m
zen_mlmd.server` (what `zen-mlmd metadata-store serve` runs) over a SQLite
file, read through MLMD's gRPC API as a Kubeflow metadata service is. Its KFP
run is written with plain ml_metadata by the KFP adapter's fixture, which
follows KFP's driver and launcher call by call (see test_store_copy.py).
"""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from ml_metadata.metadata_store import metadata_store as mlmd

from backends import connection_config, sqlite_spec
from lifecycle_helpers import assert_store_consistent
from recording_pipelines import fit, load, training
from test_store_copy import Client, read_everything, register, training_run
from tracking_helpers import LocalTestStack
from zen_mlmd.cli.main import cli
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.post_execution import get_run


@pipeline
def retraining(n: int = 4):
    train, _ = load(n=n)
    fit(train)


def spec_in(folder):
    folder.mkdir(parents=True, exist_ok=True)
    return sqlite_spec(folder)


def copy(*args: str, expect: int = 0):
    result = CliRunner().invoke(cli, ["metadata-store", "copy", *args, "--json"])
    assert result.exit_code == expect, result.output
    return result


@pytest.mark.parametrize("backend", ["grpc"], indirect=True)
def test_a_served_grpc_store_copies_into_a_sqlite_file_and_reads_identically(
        tmp_path, backend, metadata_store):
    stack = LocalTestStack(metadata_store, tmp_path / "artifacts")
    training.run(stack=stack, quiet=True, run_name="served-1")
    training.run(stack=stack, quiet=True, run_name="served-2")  # from served-1's cache
    training.run(stack=stack, quiet=True, run_name="served-3", n=7)
    kfp_run = "00000000-0000-0000-0000-00000000000a"
    training_run(Client(mlmd.MetadataStore(connection_config(backend))), kfp_run)
    register("served", backend.flavor, dict(backend.options))
    target = spec_in(tmp_path / "copy")
    register("local", "sqlite", dict(target.options))

    copied = copy("served", "local")

    assert '"execution"' in copied.stdout
    sampled = ("served-2", "served-3", kfp_run)
    source = read_everything("served", sampled)
    assert {r["name"] for r in source["runs"]} >= {"served-1", "served-2", "served-3", kfp_run}
    assert read_everything("local", sampled) == source
    assert_store_consistent(target)


def test_a_pipeline_selection_keeps_cached_steps_whose_original_is_outside_it(tmp_path):
    """retraining's steps are served from training's cache: the originals are not copied."""
    from tracking_helpers import sqlite_store

    source_spec, target = spec_in(tmp_path / "source"), spec_in(tmp_path / "target")
    source = sqlite_store(source_spec.options["path"])
    stack = LocalTestStack(source, tmp_path / "artifacts")
    training.run(stack=stack, quiet=True, run_name="first")
    retraining.run(stack=stack, quiet=True, run_name="again")
    original = get_run("again", store=source)
    assert {s.status for s in original.steps} == {"cached"}
    assert {s.original.run_name for s in original.steps} == {"first"}
    register("src", "sqlite", dict(source_spec.options))
    register("dst", "sqlite", dict(target.options))

    copy("src", "dst", "--pipeline", "retraining")

    assert_store_consistent(target)  # no event, attribution or association names a missing record
    plain = mlmd.MetadataStore(connection_config(target))
    assert {c.name for c in plain.get_contexts_by_type("pipeline_run")} == {"again"}
    from zen_mlmd.post_execution.session import open_named_session

    session = open_named_session("dst")
    try:
        again = get_run("again", session)
        assert [s.status for s in again.steps] == [s.status for s in original.steps]
        # the outputs the cache served are copied (artifact records; files are not copied) ...
        assert {a.id for s in again.steps for a in s.outputs.values()} == \
            {a.id for s in original.steps for a in s.outputs.values()}
        # ... the executions that first made them are not: "cached from" names nothing
        assert [s.original for s in again.steps] == [None] * len(again.steps)
    finally:
        session.store.close()
    described = CliRunner().invoke(cli, ["run", "describe", "again", "--store", "dst"])
    assert described.exit_code == 0 and "[cached]" in described.output, described.output


def test_a_grpc_destination_is_refused_naming_the_field_value_and_fix(tmp_path):
    register("src", "sqlite", dict(spec_in(tmp_path / "source").options))
    register("remote", "kubeflow", {"host": "127.0.0.1", "port": 1})

    refused = copy("src", "remote", expect=2)

    message = refused.output
    assert "DST" in message and "'remote'" in message and "gRPC" in message, message
    assert "Fix:" in message and "sqlite" in message, message


@pytest.mark.parametrize("backend", ["mysql", "postgresql"], indirect=True)
def test_long_values_and_backslashes_copy_exactly(tmp_path, backend):
    """Values kept in `proto_value` (too long for PostgreSQL's index) and tagged strings
    (backslashes) copy into MySQL and PostgreSQL as they read in the source."""
    import random

    from tracking_helpers import sqlite_store
    from zen_mlmd.mlmd.reader import StoreReader
    from zen_mlmd.mlmd.store import MetadataStore
    from zen_mlmd.tracking.recorder import Recorder

    rng = random.Random(3)
    long_text = "".join(rng.choice("abcdefghij0123456789") for _ in range(5000))
    parameters = {"notes": long_text, "path": "C:\\data", "weights": [rng.random() for _ in range(300)]}
    source = sqlite_store(tmp_path / "source.sqlite")
    with Recorder(source).start_run("awkward", "awkward-1", config={"long": long_text}) as run:
        run.start_step("load", "tests.load", parameters=parameters).publish({})
    source.close()
    register("src", "sqlite", {"path": str(tmp_path / "source.sqlite")})
    register("dst", backend.flavor, dict(backend.options))

    copy("src", "dst")

    destination = MetadataStore(connection_config(backend))
    reader = StoreReader(destination)
    run = reader.get_run("awkward-1")
    assert run.config == {"long": long_text}
    [step] = reader.read_run(run).steps
    assert dict(step.parameters) == parameters
    destination.close()
