"""Copying a SQLite store of 200 runs (native, KFP-shaped, TFX-shaped) into MariaDB and PostgreSQL.

The KFP and TFX runs are written with plain ml_metadata by the adapters'
fixtures, which follow those tools' call order (adapters/kfp/tests/
kfp_written_store.py after KFP's backend/src/v2/metadata/client.go;
adapters/tfx/tests/tfx_shapes.py after TFX's portable launcher). The copy
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

from recording_pipelines import training
from tracking_helpers import LocalTestStack, sqlite_store
from zen_mlmd.cli.main import cli
from zen_mlmd.mlmd.copying import copy_store

_ADAPTER_TESTS = Path(__file__).resolve().parents[2] / "adapters"
for _folder in ("kfp/tests", "tfx/tests"):
    if str(_ADAPTER_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_ADAPTER_TESTS / _folder))

import kfp_written_store  # noqa: E402  (the adapters' fixtures)
from tfx_shapes import PortableTfxWriter  # noqa: E402

NATIVE_RUNS, KFP_RUNS, TFX_RUNS = 160, 20, 20


def write_source(tmp_path: Path, monkeypatch):
    """A SQLite store with 200 runs in three conventions; returns the open store."""
    store = sqlite_store(tmp_path / "source.sqlite")
    stack = LocalTestStack(store, tmp_path / "artifacts")
    for i in range(NATIVE_RUNS):  # every other run is served from the cache
        training.run(stack=stack, quiet=True, run_name=f"native-{i:03d}", n=4 + i // 2)
    for i in range(KFP_RUNS):
        # the fixture names its run and pipeline by module constants: set per run, restored after
        monkeypatch.setattr(kfp_written_store, "RUN_ID", str(uuid.UUID(int=i + 1)))
        monkeypatch.setattr(kfp_written_store, "PIPELINE", f"iris-kfp-{i}")
        kfp_written_store.write_kfp_run(store.raw)
    writer = PortableTfxWriter(store.raw, "tfx-pipe")
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


def read_everything(store_name: str) -> dict:
    """What users read: the run list, every run described, every artifact's lineage."""
    runner = CliRunner()

    def call(*args, fmt=("--json",)):
        result = runner.invoke(cli, [*args, "--store", store_name, *fmt])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    runs = call("run", "list", "--limit", "1000")
    described = {r["name"]: call("run", "describe", r["name"]) for r in runs}
    artifact_ids = sorted({a["id"] for run in described.values() for step in run["steps"]
                           for side in ("inputs", "outputs") for value in step[side].values()
                           for a in (value if isinstance(value, list) else [value])})
    lineage = {i: call("artifact", "lineage", str(i), fmt=("--format", "json")) for i in artifact_ids}
    return {"runs": runs, "described": described, "lineage": lineage}


@pytest.mark.parametrize("backend", ["mysql", "postgresql"], indirect=True)
def test_a_store_of_200_runs_copies_identically_and_an_interrupted_copy_resumes(
        tmp_path, backend, metadata_store, monkeypatch):
    source = write_source(tmp_path, monkeypatch)
    register("source", "sqlite", {"path": str(tmp_path / "source.sqlite")})
    register("copy", backend.flavor, dict(backend.options))
    assert len(read_everything("source")["runs"]) == 200

    batches = []

    def interrupt(what: str, count: int) -> None:
        batches.append(what)
        if what == "executions" and batches.count("executions") == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C half way

    with pytest.raises(KeyboardInterrupt):
        copy_store(source, metadata_store, progress=interrupt)
    counts = copy_store(source, metadata_store)  # run again: it resumes

    assert counts["context"] >= 200 + 3 and counts["execution"] > 600
    assert read_everything("copy") == read_everything("source")
    # no marker is left, and a second copy into the now full store is refused
    from zen_mlmd.errors import ConfigError

    with pytest.raises(ConfigError, match="already holds records"):
        copy_store(source, metadata_store)
