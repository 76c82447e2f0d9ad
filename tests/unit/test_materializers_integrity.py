"""Writing and reading whole artifacts: the content hash, verifying it, and failures.

What is written is hashed exactly as it lies in the store (one file, or a
manifest of several), a changed or deleted artifact fails verification, and a
failing write or read leaves nothing behind and names what failed. The
materializer registry and plugins are tested in test_materializers_registry.
"""
import hashlib

import numpy as np
import pandas as pd
import pytest

from materializer_helpers import artifact_uri, store_fixture  # noqa: F401 (fixture `store`)
from zen_mlmd.artifacts import Materializer, read_artifact, verify_artifact, write_artifact
from zen_mlmd.errors import MaterializerError


# --- content hash and integrity ------------------------------------------

@pytest.mark.parametrize(
    "obj", [{"a": [1, 2.5]}, "text", b"bytes", np.arange(5), pd.DataFrame({"a": [1]})])
def test_content_hash_is_sha256_of_the_file_bytes(store, obj):
    written = write_artifact(obj, artifact_uri(store), store)
    (name,) = store.list_files(written.uri)
    with store.open(f"{written.uri}/{name}", "rb") as f:
        data = f.read()
    assert written.content_hash == "sha256:" + hashlib.sha256(data).hexdigest()
    assert written.size_bytes == len(data) == store.size(written.uri)
    assert verify_artifact(written.uri, store, written.content_hash)


class TwoFiles(Materializer):
    name = "test.two_files"
    for_types = ("tests.TwoFiles",)

    def save(self, obj, uri, store):
        with store.open(f"{uri}/b.txt", "w") as f:  # out of name order on purpose
            f.write(obj[1])
        with store.open(f"{uri}/a.bin", "wb") as f:
            f.write(obj[0])

    def load(self, uri, store, data_type):
        with store.open(f"{uri}/a.bin") as a, store.open(f"{uri}/b.txt", "r") as b:
            return (a.read(), b.read())


def test_multi_file_hash_is_over_a_manifest_in_file_name_order(store):
    written = write_artifact((b"xy", "z"), artifact_uri(store), store, materializer=TwoFiles())
    lines = [
        f"a.bin\0{hashlib.sha256(b'xy').hexdigest()}\n",
        f"b.txt\0{hashlib.sha256(b'z').hexdigest()}\n",
    ]
    assert written.content_hash == "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()
    assert written.size_bytes == 3
    other = write_artifact((b"x", "yz"), artifact_uri(store), store, materializer=TwoFiles())
    assert other.content_hash != written.content_hash
    assert verify_artifact(written.uri, store, written.content_hash)


def test_verify_detects_changed_and_deleted_contents(store):
    written = write_artifact("original", artifact_uri(store), store)
    with store.open(f"{written.uri}/data.txt", "wb") as f:
        f.write(b"tampered")
    assert not verify_artifact(written.uri, store, written.content_hash)
    store.delete(written.uri)
    assert not verify_artifact(written.uri, store, written.content_hash)


class WritesByPath(Materializer):
    """Writes through the filesystem directly, as some libraries do."""

    name = "test.by_path"
    for_types = ("tests.WritesByPath",)

    def save(self, obj, uri, store):
        with store.filesystem.open(store._path(f"{uri}/raw.bin"), "wb") as f:
            f.write(obj)

    def load(self, uri, store, data_type):
        with store.open(f"{uri}/raw.bin") as f:
            return f.read()


def test_files_written_around_the_store_are_still_hashed(store):
    written = write_artifact(b"abc", artifact_uri(store), store, materializer=WritesByPath)
    assert written.content_hash == "sha256:" + hashlib.sha256(b"abc").hexdigest()


# --- failures ------------------------------------------------------------

class Exploding(Materializer):
    name = "test.exploding"
    for_types = ("tests.Exploding",)

    def save(self, obj, uri, store):
        with store.open(f"{uri}/data.bin", "wb") as f:
            f.write(b"half")
        raise RuntimeError("disk on fire")

    def load(self, uri, store, data_type):
        raise AssertionError("never written")


def test_failing_materializer_leaves_no_directory(store):
    uri = artifact_uri(store)
    with pytest.raises(MaterializerError) as caught:
        write_artifact({"a": 1}, uri, store, materializer=Exploding())
    message = str(caught.value)
    assert "builtins.dict" in message and "test.exploding" in message and "disk on fire" in message
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert not store.exists(uri)


def test_unpicklable_object_fails_cleanly(store):
    uri = artifact_uri(store)
    with pytest.raises(MaterializerError, match="'pickle'.*function"):
        write_artifact(lambda: 1, uri, store)
    assert not store.exists(uri)


def test_writing_outside_the_artifact_directory_is_refused(store):
    class Escaping(TwoFiles):
        name = "test.escaping"

        def save(self, obj, uri, store):
            with store.open(f"{uri}-sibling/x", "wb") as f:
                f.write(b"x")

    uri = artifact_uri(store)
    with pytest.raises(MaterializerError, match="outside its artifact directory"):
        write_artifact(b"", uri, store, materializer=Escaping())
    assert not store.exists(uri) and not store.exists(f"{uri}-sibling")


def test_existing_artifact_is_not_overwritten_unless_asked(store):
    uri = artifact_uri(store)
    first = write_artifact("first", uri, store)
    with pytest.raises(MaterializerError, match="already exists"):
        write_artifact("second", uri, store)
    assert read_artifact(uri, store, "builtins.str", "builtins.str",
                         content_hash=first.content_hash) == "first"
    write_artifact(b"second", uri, store, overwrite=True)
    assert store.list_files(uri) == ["data.bin"]


def test_reading_a_deleted_artifact_names_the_uri(store):
    written = write_artifact([1], artifact_uri(store), store)
    store.delete(written.uri)
    with pytest.raises(MaterializerError, match="deleted from the artifact store") as caught:
        read_artifact(written.uri, store, written.materializer, written.data_type)
    assert written.uri in str(caught.value)


def test_reading_a_corrupt_artifact_raises_materializer_error(store):
    written = write_artifact(np.arange(3), artifact_uri(store), store)
    with store.open(f"{written.uri}/data.npy", "wb") as f:
        f.write(b"not numpy")
    with pytest.raises(MaterializerError, match="numpy.ndarray"):  # trusted: no hash to check
        read_artifact(written.uri, store, written.materializer, written.data_type, trusted=True)
