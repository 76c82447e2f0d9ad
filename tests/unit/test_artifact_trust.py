"""The trust boundary of reading: a record cannot make a reader run code or open any file.

Runs are recorded by the local orchestrator on the default stack of the
test's private config (a real SQLite MLMD store, and the default artifact
store, which is trusted). Records are then forged with plain ml_metadata
calls, as anyone who can write to a shared metadata store could, and files
in the artifact store are tampered with on disk.
"""
from __future__ import annotations


import os
import pickle
from pathlib import Path

import pytest
from google.protobuf.struct_pb2 import ListValue

from zen_mlmd.artifacts import ArtifactStore, read_artifact, write_artifact
from zen_mlmd.errors import ArtifactIntegrityError, ArtifactTrustError, MaterializerError
from zen_mlmd.mlmd.native import OUTPUT_FACTS
from zen_mlmd.pipelines.pipeline import pipeline
from zen_mlmd.pipelines.step import step
from zen_mlmd.post_execution import get_artifact, get_run
from zen_mlmd.stack import StackRegistry, get_active_stack


class Payload:
    """Unpickling it creates `marker`: the side effect a forged pickle would have."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@step
def make_dict() -> dict:
    return {"a": 1}


@step
def make_set() -> set:
    return {1, 2}  # no JSON form: pickled


@pipeline
def small():
    make_dict()
    make_set()


@pytest.fixture
def recorded():
    """A recorded run on the default stack, and its open metadata store (for forging)."""
    run = small.run(quiet=True, run_name="small-1")
    store = get_active_stack().metadata_store.open()
    yield run, store
    store.close()


def forge(store, artifact_id: int, **changes) -> None:
    """Rewrite an artifact record as a writer of the shared metadata store could."""
    [artifact] = store.get_artifacts_by_id([artifact_id])
    if "uri" in changes:
        artifact.uri = changes.pop("uri")
    facts = artifact.custom_properties["zen_mlmd_output"]  # what zen_mlmd knows of the output
    listed = ListValue()
    assert facts.proto_value.Unpack(listed)
    values = dict(zip(OUTPUT_FACTS, listed))
    listed.Clear()
    listed.extend([changes.pop(name, values[name]) for name in OUTPUT_FACTS])
    assert not changes, f"not a fact: {changes}"
    facts.proto_value.Pack(listed)
    store.put_artifacts([artifact])


def write_payload(directory: Path, marker: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    data = pickle.dumps(Payload(marker))
    (directory / "data.pkl").write_bytes(data)
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- acceptance: forged and tampered artifacts ---------------------------------------------
def test_forged_record_outside_every_store_with_pickle_is_refused_and_runs_nothing(recorded, tmp_path):
    run, store = recorded
    artifact = run.steps["make_dict"].outputs["output"]
    marker = tmp_path / "marker"
    evil = tmp_path / "elsewhere" / "evil"
    content_hash = write_payload(evil, marker)  # the forger can compute the hash too
    forge(store, artifact.id, uri=str(evil), materializer="pickle", content_hash=content_hash)

    with pytest.raises(ArtifactTrustError) as caught:
        get_artifact(artifact.id).read()
    message = str(caught.value)
    assert str(evil) in message
    assert "outside every artifact store trusted on this machine" in message
    assert "default (" in message and "Fix: " in message and "artifact-store register" in message
    with pytest.raises(ArtifactTrustError):
        get_artifact(artifact.id).read(trusted=True)  # trust is about formats, not places
    assert not marker.exists()


def test_tampered_pickle_inside_the_store_fails_the_hash_and_runs_nothing(recorded, tmp_path):
    run, _ = recorded
    artifact = run.steps["make_set"].outputs["output"]
    assert artifact.materializer == "pickle" and artifact.read() == {1, 2}  # a trusted store
    marker = tmp_path / "marker"
    write_payload(Path(artifact.uri), marker)  # replaced on disk, record untouched

    with pytest.raises(ArtifactIntegrityError) as caught:
        get_artifact(artifact.id).read(trusted=True)
    message = str(caught.value)
    assert artifact.uri in message and artifact.content_hash in message
    assert "Nothing was loaded" in message and "Fix: " in message
    assert not marker.exists()


def test_tampered_json_is_refused_too(recorded):
    run, _ = recorded
    artifact = run.steps["make_dict"].outputs["output"]
    Path(artifact.uri, "data.json").write_text('{"a": 2}')
    with pytest.raises(ArtifactIntegrityError, match="do not match the content hash"):
        artifact.read()


@pytest.mark.parametrize("escape", ["dotdot", "symlinked-dir", "symlinked-file"])
def test_uris_that_leave_the_store_are_refused(recorded, tmp_path, escape):
    run, store = recorded
    artifact = run.steps["make_dict"].outputs["output"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "data.json").write_bytes(Path(artifact.uri, "data.json").read_bytes())
    root = Path(get_active_stack().artifact_store.path)
    if escape == "dotdot":
        uri = str(root) + "/" + os.path.relpath(outside, root)  # root/../../outside
        assert ".." in uri
    elif escape == "symlinked-dir":
        uri = str(root / "small" / "link")
        os.symlink(outside, uri)
    else:
        Path(artifact.uri, "data.json").unlink()
        os.symlink(outside / "data.json", Path(artifact.uri, "data.json"))
        uri = artifact.uri
    forge(store, artifact.id, uri=uri)
    with pytest.raises(ArtifactTrustError) as caught:
        get_artifact(artifact.id).read()
    if escape != "dotdot":
        assert "symbolic link" in str(caught.value)


# --- trust for formats that run code --------------------------------------------------------
def untrusted_copy(tmp_path: Path) -> tuple[ArtifactStore, object]:
    """A pickle artifact in a registered store that is not marked trusted."""
    StackRegistry().register_artifact_store("shared", str(tmp_path / "shared"))
    store = StackRegistry().get_artifact_store("shared").open()
    written = write_artifact({3, 4}, store.uri_for("p", "r", "s", "o"), store)
    assert written.materializer == "pickle"
    return store, written


def test_pickle_from_an_untrusted_store_needs_an_explicit_opt_in(tmp_path):
    store, written = untrusted_copy(tmp_path)
    assert not store.trusted
    with pytest.raises(ArtifactTrustError) as caught:
        read_artifact(written.uri, store, "pickle", written.data_type, content_hash=written.content_hash)
    assert "can run code" in str(caught.value) and "trusted=True" in str(caught.value)
    assert "artifact-store update NAME --trusted" in str(caught.value)
    assert read_artifact(written.uri, store, "pickle", written.data_type,
                         content_hash=written.content_hash, trusted=True) == {3, 4}


def test_a_store_marked_trusted_reads_pickles_without_asking(tmp_path):
    _, written = untrusted_copy(tmp_path)
    StackRegistry().set_artifact_store_trust("shared", True)
    store = StackRegistry().get_artifact_store("shared").open()
    assert store.trusted
    assert read_artifact(written.uri, store, "pickle", written.data_type,
                         content_hash=written.content_hash) == {3, 4}


def test_without_a_recorded_hash_only_a_trusted_read_loads(tmp_path):
    store, written = untrusted_copy(tmp_path)
    json_written = write_artifact([1], store.uri_for("p", "r", "s", "j"), store)
    with pytest.raises(ArtifactIntegrityError, match="no content hash was recorded"):
        read_artifact(json_written.uri, store, json_written.materializer, json_written.data_type)
    assert read_artifact(json_written.uri, store, json_written.materializer, json_written.data_type,
                         trusted=True) == [1]


def test_an_artifact_store_named_for_the_read_is_trusted_for_places(recorded, tmp_path):
    run, store = recorded
    artifact = run.steps["make_dict"].outputs["output"]
    elsewhere = ArtifactStore(str(tmp_path / "elsewhere"))
    copy = write_artifact({"a": 1}, elsewhere.uri_for("p", "r", "s", "o"), elsewhere)
    forge(store, artifact.id, uri=copy.uri, content_hash=copy.content_hash)
    with pytest.raises(ArtifactTrustError):
        get_artifact(artifact.id).read()
    assert get_artifact(artifact.id).read(artifact_store=str(tmp_path / "elsewhere")) == {"a": 1}


def test_the_default_store_is_trusted_and_registered_stores_are_not_unless_asked(tmp_path):
    registry = StackRegistry()
    assert registry.get_artifact_store("default").trusted
    assert not registry.register_artifact_store("s3like", str(tmp_path / "a")).trusted
    assert registry.register_artifact_store("mine", str(tmp_path / "b"), trusted=True).trusted
    assert registry.get_artifact_store("mine").open().trusted


def test_orchestrator_reads_its_own_pickles_from_an_untrusted_store(tmp_path):
    """Outputs written in the same run are loaded (hash checked) without a trust mark."""
    from tracking_helpers import in_memory_stack

    @step
    def make() -> set:
        return {5}

    @step
    def use(values: set) -> int:
        return sum(values)

    @pipeline
    def chain():
        use(make())

    stack = in_memory_stack(tmp_path)
    assert not stack.artifacts.trusted
    run = chain.run(stack=stack, quiet=True)
    assert run.steps["use"].outputs["output"].read() == 5
    with pytest.raises(ArtifactTrustError):
        run.steps["make"].outputs["output"].read()


# --- the store itself -------------------------------------------------------------------------
@pytest.mark.parametrize("uri", ["memory://root/a/../../other/x", "memory://other/x", "/local/x"])
def test_a_url_store_refuses_what_normalises_outside_it(uri):
    store = ArtifactStore("memory://root")
    assert not store.contains(uri)
    assert store.contains("memory://root/a/../b")


def test_outside_uris_are_refused_for_every_operation(tmp_path):
    store = ArtifactStore(str(tmp_path / "root"))
    outside = str(tmp_path / "root" / ".." / "secret")
    for operation in (store.exists, store.list_files, store.size, store.makedirs, store.delete):
        with pytest.raises(ArtifactTrustError, match="outside the artifact store"):
            operation(outside)
    with pytest.raises(ArtifactTrustError):
        store.open(outside + "/f", "wb")
    assert not (tmp_path / "secret").exists()


# --- foreign artifacts ---------------------------------------------------------------------
def test_an_artifact_no_zen_mlmd_materializer_wrote_is_refused_with_writer_and_place():
    from zen_mlmd.artifacts.trust import RecordedArtifact, TrustedStores, read_recorded

    tfx = RecordedArtifact(7, "/pipelines/root/Trainer/model/3", "Model", "", "", "",
                           writer="step 'Trainer' of run 'r1'",
                           producer_type="tfx.components.trainer.component.Trainer")
    with pytest.raises(MaterializerError) as caught:
        read_recorded(tfx, TrustedStores())
    message = str(caught.value)
    assert "written by TFX (step 'Trainer' of run 'r1')" in message
    assert "/pipelines/root/Trainer/model/3" in message and "Fix: " in message


def test_the_writer_of_a_foreign_artifact_is_its_runs_convention_not_a_guess_from_its_type():
    from zen_mlmd.artifacts.trust import RecordedArtifact, TrustedStores, read_recorded

    # a user's TFX component: its execution type is its import path
    tfx = RecordedArtifact(7, "/pipelines/root/Trainer/model/3", "Model", "", "", "",
                           writer="step 'Trainer' of run 'r1'", producer_type="my_pkg.components.Trainer",
                           writing_tool="TFX")
    with pytest.raises(MaterializerError, match=r"written by TFX \(step 'Trainer' of run 'r1'\)"):
        read_recorded(tfx, TrustedStores())


def test_a_materializer_sees_only_the_verified_bytes_and_cannot_write(tmp_path):
    from zen_mlmd.artifacts.reading import VerifiedArtifact

    store = ArtifactStore(str(tmp_path))
    written = write_artifact("text", store.uri_for("p", "r", "s", "o"), store)
    view = VerifiedArtifact(store, written.uri, {"data.txt": b"verified"}, trusted=False)
    Path(written.uri, "data.txt").write_text("swapped after the check")
    with view.open(f"{written.uri}/data.txt", "r") as handle:
        assert handle.read() == "verified"
    with pytest.raises(MaterializerError, match="read-only"):
        view.open(f"{written.uri}/data.txt", "wb")
    for target in (f"{written.uri}/data.txt", f"{store.root}/elsewhere/x"):
        with pytest.raises(MaterializerError, match="read-only"):
            view.write_bytes(target, b"written while loading")
    for target in (f"{written.uri}/sub", f"{store.root}/elsewhere"):
        with pytest.raises(MaterializerError, match="read-only"):
            view.create_directory(target)
    assert not Path(written.uri, "sub").exists()
    assert Path(written.uri, "data.txt").read_text() == "swapped after the check"
    assert not Path(store.root, "elsewhere").exists()
    with pytest.raises(ArtifactTrustError):
        view.open(f"{written.uri}/../other/data.txt", "rb")


def test_views_read_through_the_registered_stores(recorded):
    run, _ = recorded
    assert get_run("small-1").steps["make_dict"].outputs["output"].read() == {"a": 1}


def test_compare_reads_pickled_metrics_only_when_trusted(tmp_path):
    from fractions import Fraction

    from tracking_helpers import in_memory_stack
    from zen_mlmd.post_execution import compare_runs
    from zen_mlmd.post_execution.session import ReadSession

    @step(outputs={"metrics": "metrics"})
    def score() -> dict:
        return {"accuracy": Fraction(3, 4)}  # a number with no JSON form: pickled

    @pipeline
    def scored():
        score()

    stack = in_memory_stack(tmp_path)
    run = scored.run(stack=stack, quiet=True, run_name="scored-1")
    assert run.steps["score"].outputs["metrics"].materializer == "pickle"
    session = ReadSession(stack.store)
    assert "score.metrics.accuracy" not in compare_runs(["scored-1"], store=session).columns
    table = compare_runs(["scored-1"], store=session, trusted=True)
    assert table.to_records()[0]["score.metrics.accuracy"] == 0.75


def test_compare_reads_numpy_metrics_without_trust(tmp_path):
    """Metrics computed with NumPy are written as JSON: no trust needed, same types back."""
    import numpy as np

    from tracking_helpers import in_memory_stack
    from zen_mlmd.post_execution import compare_runs
    from zen_mlmd.post_execution.session import ReadSession

    @step(outputs={"metrics": "metrics"})
    def score() -> dict:
        return {"accuracy": np.float64(0.75), "n": np.int64(4)}

    @pipeline
    def scored_with_numpy():
        score()

    stack = in_memory_stack(tmp_path)
    run = scored_with_numpy.run(stack=stack, quiet=True, run_name="scored-np-1")
    metrics = run.steps["score"].outputs["metrics"]
    assert metrics.materializer == "builtins.json" and metrics.kind == "metrics"
    row = compare_runs(["scored-np-1"], store=ReadSession(stack.store)).to_records()[0]
    assert row["score.metrics.accuracy"] == 0.75 and type(row["score.metrics.accuracy"]) is np.float64
    assert row["score.metrics.n"] == 4 and type(row["score.metrics.n"]) is np.int64


def test_writing_through_a_symlink_that_leaves_the_store_is_refused(tmp_path):
    """One full check of the artifact's directory guards every file written under it."""
    store = ArtifactStore(str(tmp_path / "root"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root" / "pipe" / "run").mkdir(parents=True)
    os.symlink(outside, tmp_path / "root" / "pipe" / "run" / "step")  # planted by someone else
    with pytest.raises(ArtifactTrustError, match="symbolic link"):
        write_artifact({"a": 1}, store.uri_for("pipe", "run", "step", "out"), store)
    assert list(outside.iterdir()) == []


def test_a_materializer_writing_beside_its_directory_is_refused(tmp_path):
    from zen_mlmd.artifacts.materializers import Materializer

    class Sneaky(Materializer):
        name = "tests.sneaky"
        types = (dict,)

        def save(self, obj, uri, store):
            with store.open(f"{uri}/../other/data.bin", "wb") as f:
                f.write(b"x")

        def load(self, uri, store):  # pragma: no cover - never read back
            raise AssertionError

    store = ArtifactStore(str(tmp_path / "root"))
    uri = store.uri_for("pipe", "run", "step", "out")
    with pytest.raises(MaterializerError, match="outside its artifact directory"):
        write_artifact({"a": 1}, uri, store, Sneaky())
    assert not (tmp_path / "root" / "pipe" / "run" / "step" / "other").exists()
    assert not store.exists(uri)  # nothing half-written stays
