"""`zen-mlmd run delete` and `zen-mlmd gc` on the default stack (a SQLite file, local artifacts).

The dry run is checked byte for byte: the SQLite file and every artifact
file are hashed before and after. A crash between the database commit and
the file removal is a real process exit (`os._exit`) at that point.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import error_of
from lifecycle_helpers import tree_digest

from zen_mlmd.artifacts import Dataset, Model
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step


@step(outputs={"rows": Dataset})
def make_rows(n: int = 4):
    return list(range(n))


@step(outputs={"model": Model})
def fit_rows(rows: list):
    return {"w": sum(rows)}


@pipeline
def training(n: int = 4):
    fit_rows(make_rows(n=n))


@pytest.fixture
def recorded(run):
    """Three runs on the default stack (gc-b from gc-a's cache); (db path, artifact root)."""
    from zen_mlmd.stack import get_active_stack

    training.run(quiet=True, run_name="gc-a")
    training.run(quiet=True, run_name="gc-b")
    training.run(quiet=True, run_name="gc-c", n=6)
    stack = get_active_stack()
    return Path(stack.metadata_store.config.path), Path(stack.artifact_store.path)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_names(run) -> list[str]:
    return [r["name"] for r in json.loads(run("run", "list", "--json").stdout)]


def test_gc_dry_run_changes_no_byte_then_the_real_run_does_what_it_said(run, recorded):
    db_path, artifacts = recorded
    # a file no record names, inside an ended run's folder
    stray = artifacts / "training" / "gc-c" / "leftover" / "junk.bin"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"x" * 100)
    import gc
    # the recording's MLMD connection is released by the garbage collector (MetadataStore.close
    # runs callbacks only); its last close checkpoints the write-ahead log into the file, which
    # must happen before the digest, not during the dry run
    gc.collect()
    before_db, before_files = file_digest(db_path), tree_digest(artifacts)

    dry = run("gc", "--keep-last", "1", "--dry-run", "--json")

    assert file_digest(db_path) == before_db
    assert tree_digest(artifacts) == before_files
    planned = json.loads(dry.stdout)
    assert sorted(planned["runs"]) == ["gc-a", "gc-b"]
    assert [f["uri"] for f in planned["orphan_files"]] == [str(stray)]
    assert planned["bytes"] > 0

    done = json.loads(run("gc", "--keep-last", "1", "--yes", "--json").stdout)

    assert sorted(done["runs"]) == sorted(planned["runs"])
    assert done["artifacts"] == planned["artifacts"]
    assert done["orphan_files"] == planned["orphan_files"]
    assert run_names(run) == ["gc-c"]
    assert not stray.exists()
    assert not (artifacts / "training" / "gc-a").exists() or not any(
        p.is_file() for p in (artifacts / "training" / "gc-a").rglob("*"))


def test_a_crash_after_the_commit_leaves_orphan_files_that_gc_sweeps(run, recorded, config_home):
    db_path, artifacts = recorded
    run_folder = artifacts / "training" / "gc-c"
    files_before = [p for p in run_folder.rglob("*") if p.is_file()]
    assert files_before
    script = ("import os\n"
              "from zen_mlmd.lifecycle import files\n"
              "files.ArtifactFiles.remove = lambda self, uris: os._exit(3)\n"
              "from zen_mlmd.cli.main import cli\n"
              "cli(['run', 'delete', 'gc-c', '--yes'])\n")
    env = {**os.environ, "ZEN_MLMD_CONFIG_DIR": str(config_home)}
    crashed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert crashed.returncode == 3, crashed.stderr

    assert "gc-c" not in run_names(run)  # the records went ...
    assert all(p.exists() for p in files_before)  # ... the files stayed

    swept = json.loads(run("gc", "--keep-last", "100", "--yes", "--json").stdout)

    assert swept["runs"] == []
    assert swept["orphan_files"]
    assert not any(p.exists() for p in files_before)
    assert run_names(run) == ["gc-b", "gc-a"]


def test_run_delete_reports_kept_outputs_and_refuses_bad_input(run, recorded):
    result = run("run", "delete", "gc-a", "--yes")
    assert "kept" in result.output and "used by a run that stays" in result.output
    bad = run("run", "delete", "no-such-run", "--yes", expect=2)
    assert "no-such-run" in error_of(bad) and "Fix:" in error_of(bad)
    bad = run("gc", "--older-than", "ten days", expect=2)
    assert "--older-than" in error_of(bad) and "30d" in error_of(bad)
    assert run("gc", expect=2).exit_code == 2  # no condition: refused, nothing deleted
    assert sorted(run_names(run)) == ["gc-b", "gc-c"]


def test_a_store_that_cannot_be_reached_is_refused_clearly(run, tmp_path):
    # nothing listens on port 1
    run("metadata-store", "register", "down", "-f", "mysql", "--host", "127.0.0.1", "--port", "1",
        "--database", "mlmd", "--user", "mlmd", "--password", "x")
    for args in (("run", "delete", "some-run", "--store", "down", "--yes"),
                 ("gc", "--keep-last", "1", "--store", "down", "--yes"),
                 ("export", "--format", "jsonl", "--output", str(tmp_path / "x.jsonl"), "--store", "down"),
                 ("metadata-store", "copy", "down", "default")):
        result = run(*args, expect=1)
        message = error_of(result)
        assert "down" in message and "Fix:" in message, message
        assert "password" not in message.replace("--password", "")
    assert not (tmp_path / "x.jsonl").exists()


def output_files(artifacts: Path, run_name: str) -> list[Path]:
    return [p for p in (artifacts / "training" / run_name).rglob("*") if p.is_file()]


def test_run_delete_dry_run_reports_and_changes_nothing(run, recorded):
    import gc
    db_path, artifacts = recorded
    gc.collect()  # the recording's connection closes now, not during the dry run (see above)
    before_db, before_files = file_digest(db_path), tree_digest(artifacts)

    planned = json.loads(run("run", "delete", "gc-c", "--dry-run", "--json").stdout)

    assert planned["dry_run"] and planned["runs"] == ["gc-c"]
    assert planned["executions"] == 2 and len(planned["artifacts"]) == 2 and planned["kept"] == []
    assert file_digest(db_path) == before_db and tree_digest(artifacts) == before_files
    assert "gc-c" in run_names(run)
    done = json.loads(run("run", "delete", "gc-c", "--yes", "--json").stdout)
    assert done["artifacts"] == planned["artifacts"] and not done["dry_run"]


def test_run_delete_keep_artifacts_keeps_every_artifact_and_file(run, recorded):
    from ml_metadata.metadata_store import metadata_store as mlmd
    from ml_metadata.proto import metadata_store_pb2 as pb

    db_path, artifacts = recorded
    files = output_files(artifacts, "gc-c")
    assert files

    done = json.loads(run("run", "delete", "gc-c", "--keep-artifacts", "--yes", "--json").stdout)

    assert done["artifacts"] == [] and len(done["kept"]) == 2
    assert {k["reason"] for k in done["kept"]} == {"--keep-artifacts"}
    assert "gc-c" not in run_names(run) and done["executions"] == 2
    assert all(p.exists() for p in files)
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(db_path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READONLY
    kept = mlmd.MetadataStore(config).get_artifacts_by_id([k["id"] for k in done["kept"]])
    assert len(kept) == 2 and {a.state for a in kept} == {pb.Artifact.LIVE}


@step
def flaky_rows(rows: list):
    raise ValueError("bad rows")


@pipeline
def checking(n: int = 4):
    flaky_rows(make_rows(n=n))


def test_gc_selects_by_pipeline_and_status(run, recorded):
    from zen_mlmd.errors import StepFailedError

    with pytest.raises(StepFailedError):
        checking.run(quiet=True, run_name="check-1", n=9)
    by_pipeline = json.loads(run("gc", "--pipeline", "checking", "--dry-run", "--json").stdout)
    assert by_pipeline["runs"] == ["check-1"]
    failed = json.loads(run("gc", "--status", "failed", "--dry-run", "--json").stdout)
    assert failed["runs"] == ["check-1"]
    both = json.loads(run("gc", "--pipeline", "training", "--status", "failed", "--dry-run",
                          "--json").stdout)
    assert both["runs"] == []  # every condition must hold
    completed = json.loads(run("gc", "--pipeline", "training", "--status", "completed",
                               "--dry-run", "--json").stdout)
    assert sorted(completed["runs"]) == ["gc-a", "gc-c"]  # gc-b is "cached"
    unknown = run("gc", "--pipeline", "no-such", "--dry-run", expect=2)
    assert "no-such" in error_of(unknown) and "Fix:" in error_of(unknown)
    json.loads(run("gc", "--status", "failed", "--yes", "--json").stdout)
    assert sorted(run_names(run)) == ["gc-a", "gc-b", "gc-c"]
