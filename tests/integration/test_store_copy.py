"""Copying a SQLite store of 200 runs (native, KFP-shaped, TFX-shaped) into MariaDB and PostgreSQL.

The KFP and TFX runs are written with plain ml_metadata by the adapters'
fixtures, which follow those tools' code call by call: adapters/kfp/tests/
kfp_v2_runs.py (KFP v2's driver and launcher, after kubeflow/pipelines
backend/src/v2/metadata/client.go: root, sub-pipeline, loop and iteration
DAGs, an importer, cached and failed tasks), kfp_v1_writer.py (KFP v1's
metadata writer, backend/metadata_writer/src/metadata_helpers.py) and
adapters/tfx/tests/tfx_shapes.py (TFX's portable launcher). The native runs
are schema 2 (lean records, step links written at the run's end). The copy
must read identically through `run list`, `run describe` and lineage, keep
every time, and resume after an interruption with the same counts.
"""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from ml_metadata.metadata_store import metadata_store as mlmd

from recording_pipelines import training
from tracking_helpers import LocalTestStack, sqlite_store
from zen_mlmd.cli.main import cli
from zen_mlmd.mlmd.copying import copy_store
from zen_mlmd.mlmd.reader import StoreReader

_ADAPTER_TESTS = Path(__file__).resolve().parents[2] / "adapters"
for _folder in ("kfp/tests", "tfx/tests"):
    if str(_ADAPTER_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_ADAPTER_TESTS / _folder))

from kfp_v1_writer import WORKFLOW, write_v1_run  # noqa: E402
from kfp_v2_client import Client  # noqa: E402
from kfp_v2_runs import training_run  # noqa: E402
from tfx_shapes import PortableTfxWriter  # noqa: E402

NATIVE_RUNS, KFP_RUNS, KFP_V1_RUNS, TFX_RUNS = 159, 20, 1, 20
#: Read through the CLI as well: a cached native run, a KFP run with a failed
#: iteration and a cached task, the KFP v1 run, a TFX run.
SAMPLED_RUNS = ("native-157", str(uuid.UUID(int=4)), WORKFLOW, "tfx-run-07")


def write_source(tmp_path: Path):
    """A SQLite store with 200 runs in four conventions; returns the open store."""
    store = sqlite_store(tmp_path / "source.sqlite")
    stack = LocalTestStack(store, tmp_path / "artifacts")
    for i in range(NATIVE_RUNS):  # every other run is served from the cache
        training.run(stack=stack, quiet=True, run_name=f"native-{i:03d}", n=4 + i // 2)
    plain = mlmd.MetadataStore(store.connection_config)  # as KFP and TFX write: ml_metadata alone
    earlier = None
    for i in range(KFP_RUNS):  # every other run reuses the one before through KFP's cache
        run_id = str(uuid.UUID(int=i + 1))
        earlier = training_run(Client(plain), run_id, cached_from=earlier if i % 2 else None,
                               failing_iteration=2 if i % 4 == 3 else None, with_evaluation=i % 3 != 0)
    write_v1_run(plain)
    writer = PortableTfxWriter(plain, "tfx-pipe")
    for i in range(TFX_RUNS):
        contexts = writer.start_run(f"tfx-run-{i:02d}")
        _, examples = writer.run_component(contexts, "ExampleGen", "tfx.ExampleGen",
                                           outputs={"examples": [("Examples", {"span": i})]})
        writer.run_component(contexts, "Trainer", "tfx.Trainer", inputs=examples,
                             outputs={"model": [("Model", {})]}, exec_properties={"steps": i})
    return store


def register(name: str, flavor: str, options: dict) -> None:
    from zen_mlmd.stack import StackRegistry

    StackRegistry().register_metadata_store(name, flavor, options)


def read_everything(store_name: str, sampled=SAMPLED_RUNS) -> dict:
    """What users read: the run list, every run described, every artifact's lineage.

    `run list` goes through the CLI; describing 200 runs and drawing ~600
    lineages go through the functions behind `run describe --json` and
    `artifact lineage --format json` on one read session (a CLI call opens
    the store each time); for one run of each convention, the CLI's own
    output is checked to be the same.
    """
    from zen_mlmd.cli.run import run_dict
    from zen_mlmd.post_execution import export, get_run
    from zen_mlmd.post_execution.lineage import artifact_lineage
    from zen_mlmd.post_execution.session import open_named_session

    runner = CliRunner()

    def call(*args, fmt=("--json",)):
        result = runner.invoke(cli, [*args, "--store", store_name, *fmt])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    runs = call("run", "list", "--limit", "1000")
    session = open_named_session(store_name)
    try:
        described = {r["name"]: json.loads(json.dumps(run_dict(get_run(r["name"], session), with_steps=True)))
                     for r in runs}
        artifact_ids = sorted({a["id"] for run in described.values() for step in run["steps"]
                               for side in ("inputs", "outputs") for value in step[side].values()
                               for a in (value if isinstance(value, list) else [value])})
        lineage = {i: json.loads(export.to_json(artifact_lineage(session, i, "upstream", 20)))
                   for i in artifact_ids}
    finally:
        session.store.close()
    for name in sampled:
        run = call("run", "describe", name)
        assert run == described[name]
        for step in run["steps"]:
            for value in step["outputs"].values():
                for a in (value if isinstance(value, list) else [value]):
                    assert call("artifact", "lineage", str(a["id"]), fmt=("--format", "json")) == \
                        lineage[a["id"]]
    return {"runs": runs, "described": described, "lineage": lineage}


@pytest.mark.parametrize("backend", ["mysql", "postgresql"], indirect=True)
def test_a_store_of_200_runs_copies_identically_and_an_interrupted_copy_resumes(
        tmp_path, backend, metadata_store):
    source = write_source(tmp_path)
    register("source", "sqlite", {"path": str(tmp_path / "source.sqlite")})
    register("copy", backend.flavor, dict(backend.options))
    assert len(read_everything("source")["runs"]) == 200
    assert {r.convention for r in StoreReader(source).iter_runs()} == {"native", "kfp", "kfp_v1", "tfx"}

    batches = []

    def interrupt(what: str, count: int) -> None:
        batches.append(what)
        if what == "executions" and batches.count("executions") == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C half way

    with pytest.raises(KeyboardInterrupt):
        copy_store(source, metadata_store, progress=interrupt)
    counts = copy_store(source, metadata_store)  # run again: it resumes

    assert counts["context"] >= 200 + 4 and counts["execution"] > 600
    assert read_everything("copy") == read_everything("source")
    # no marker is left, and a second copy into the now full store is refused
    from zen_mlmd.errors import ConfigError

    with pytest.raises(ConfigError, match="already holds records"):
        copy_store(source, metadata_store)
