"""The artifact store and artifact kinds, on real local and in-memory filesystems."""
import os
import pickle
import subprocess
import sys
import uuid

import pytest

from zen_mlmd.artifacts import (
    ArtifactKind, ArtifactStore, Data, Dataset, Metrics, Model, Statistics,
)
from zen_mlmd.errors import ConfigError


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    if request.param == "local":
        yield ArtifactStore(str(tmp_path / "artifacts"))
    else:
        memory_store = ArtifactStore(f"memory://store-{uuid.uuid4().hex}")
        yield memory_store
        memory_store.delete(memory_store.root)


def test_relative_local_root_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = ArtifactStore("artifacts/")
    assert store.root == str(tmp_path / "artifacts")
    assert store.protocol == "file"
    assert store.is_local


def test_file_url_normalizes_to_the_local_path(tmp_path):
    assert ArtifactStore(f"file://{tmp_path}/a").root == str(tmp_path / "a")
    assert ArtifactStore(f"file://{tmp_path}/a") == ArtifactStore(str(tmp_path / "a"))


def test_url_root_keeps_protocol_and_drops_trailing_slash():
    store = ArtifactStore("memory://bucket/prefix/")
    assert store.root == "memory://bucket/prefix"
    assert store.protocol == "memory"
    assert not store.is_local
    assert repr(store) == "ArtifactStore('memory://bucket/prefix')"


def test_repr_never_shows_storage_options():
    store = ArtifactStore("memory://x", storage_options={"secret": "hunter2"})
    assert "hunter2" not in repr(store)


def test_empty_root_is_rejected():
    with pytest.raises(ConfigError, match="non-empty"):
        ArtifactStore("  ")


def test_uri_for_joins_the_parts(store):
    expected = f"{store.root}/pipe/run-1/train/model"
    assert store.uri_for("pipe", "run-1", "train", "model") == expected


@pytest.mark.parametrize("bad", ["", "a/b", "..", "a..b", ".", "a\\b", "tab\there", None])
@pytest.mark.parametrize("position", range(4))
def test_uri_for_rejects_bad_parts(bad, position):
    parts = ["pipe", "run", "step", "out"]
    parts[position] = bad
    field = ["pipeline", "run", "step", "output"][position]
    with pytest.raises(ConfigError) as caught:
        ArtifactStore("memory://x").uri_for(*parts)
    assert caught.value.field == field
    assert "Fix:" in str(caught.value)


def test_write_read_exists_size_delete(store):
    uri = store.uri_for("p", "r", "s", "o")
    assert not store.exists(uri)
    with store.open(f"{uri}/data.bin", "wb") as f:
        f.write(b"12345")
    with store.open(f"{uri}/sub/more.txt", "w") as f:
        f.write("héllo")
    assert store.exists(uri)
    with store.open(f"{uri}/data.bin") as f:
        assert f.read() == b"12345"
    with store.open(f"{uri}/sub/more.txt", "r") as f:
        assert f.read() == "héllo"
    assert store.size(f"{uri}/data.bin") == 5
    assert store.size(uri) == 5 + len("héllo".encode("utf-8"))
    assert store.list_files(uri) == ["data.bin", "sub/more.txt"]
    store.delete(uri)
    assert not store.exists(uri)
    store.delete(uri)  # deleting twice is fine


def test_makedirs_creates_an_empty_directory(store):
    uri = store.uri_for("p", "r", "s", "empty")
    store.makedirs(uri)
    store.makedirs(uri)
    assert store.exists(uri)
    assert store.list_files(uri) == []


def test_a_uri_of_another_protocol_is_refused(tmp_path):
    local = ArtifactStore(str(tmp_path))
    with pytest.raises(ConfigError, match="does not belong"):
        local.exists("memory://elsewhere/x")
    with pytest.raises(ConfigError, match="does not belong"):
        ArtifactStore("memory://a").exists(str(tmp_path))


def test_store_pickles_without_its_filesystem(store):
    uri = store.uri_for("p", "r", "s", "o")
    with store.open(f"{uri}/f", "wb") as f:
        f.write(b"x")
    copy = pickle.loads(pickle.dumps(store))
    assert copy == store
    assert copy.exists(f"{uri}/f")


def test_importing_artifacts_imports_nothing_heavy():
    code = (
        "import sys, zen_mlmd.artifacts\n"
        "heavy = [m for m in ('numpy', 'pandas', 'fsspec', 's3fs', 'gcsfs') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "zen_mlmd.artifacts.ArtifactStore('memory://x')\n"
        "zen_mlmd.artifacts.materializer_for({'a': 1})\n"
        "assert 'numpy' not in sys.modules and 'pandas' not in sys.modules\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "kind, type_name, base_type",
    [
        (ArtifactKind.DATASET, "zen_mlmd.Dataset", "DATASET"),
        (ArtifactKind.MODEL, "zen_mlmd.Model", "MODEL"),
        (ArtifactKind.METRICS, "zen_mlmd.Metrics", "METRICS"),
        (ArtifactKind.STATISTICS, "zen_mlmd.Statistics", "STATISTICS"),
        (ArtifactKind.DATA, "zen_mlmd.Data", None),
    ],
)
def test_kind_mlmd_names(kind, type_name, base_type):
    assert kind.mlmd_type_name == type_name
    assert kind.base_type == base_type


@pytest.mark.parametrize(
    "value, expected",
    [
        (ArtifactKind.MODEL, ArtifactKind.MODEL),
        ("model", ArtifactKind.MODEL),
        ("Dataset", ArtifactKind.DATASET),
        (" METRICS ", ArtifactKind.METRICS),
        (Model, ArtifactKind.MODEL),
        (Dataset, ArtifactKind.DATASET),
        (Metrics, ArtifactKind.METRICS),
        (Statistics, ArtifactKind.STATISTICS),
        (Data, ArtifactKind.DATA),
        (Model(), ArtifactKind.MODEL),
    ],
)
def test_kind_parse(value, expected):
    assert ArtifactKind.parse(value) is expected


@pytest.mark.parametrize("value", ["modle", "", 3, None, dict])
def test_kind_parse_unknown_lists_valid_kinds(value):
    with pytest.raises(ConfigError) as caught:
        ArtifactKind.parse(value)
    for kind in ArtifactKind:
        assert kind.name in str(caught.value)


def test_kind_is_a_plain_string():
    assert ArtifactKind.MODEL == "MODEL"
    assert str(ArtifactKind.MODEL) == "MODEL"


def test_create_directory_makes_it_once_with_its_parents(store):
    """True once (the root and every parent made as needed), then False: the place is taken."""
    uri = store.uri_for("pipe", "run", "step", "out")
    assert store.create_directory(uri) is True
    assert store.exists(uri)
    assert store.create_directory(uri) is False  # nothing made: something is there
    sibling = store.uri_for("pipe", "run", "step", "other")
    assert store.create_directory(sibling) is True  # under parents the first call made
    store.write_bytes(f"{sibling}/data.bin", b"x")
    assert store.create_directory(f"{sibling}/data.bin") is False  # a file counts too


def test_create_directory_refuses_a_uri_outside_the_root(tmp_path):
    from zen_mlmd.errors import ArtifactTrustError

    store = ArtifactStore(str(tmp_path / "root"))
    with pytest.raises(ArtifactTrustError, match="outside the artifact store"):
        store.create_directory(f"{store.root}/pipe/../../escaped")
    assert not (tmp_path / "escaped").exists()


def test_create_directory_follows_a_symlink_that_stays_inside(tmp_path):
    """A link the user made inside the store is allowed: the path is then looked up, not walked."""
    store = ArtifactStore(str(tmp_path / "root"))
    (tmp_path / "root" / "real" / "run").mkdir(parents=True)
    os.symlink(tmp_path / "root" / "real", tmp_path / "root" / "pipe")
    uri = store.uri_for("pipe", "run", "step", "out")
    assert store.create_directory(uri) is True
    assert (tmp_path / "root" / "real" / "run" / "step" / "out").is_dir()
    assert store.create_directory(uri) is False


def test_a_directory_made_by_another_writer_meanwhile_is_not_taken_as_made_here(tmp_path):
    """The walk saw the place missing; another writer makes it before the mkdir: False, not an error."""
    from zen_mlmd.artifacts.hashing import HashingStore

    store = ArtifactStore(str(tmp_path / "root"))
    uri = store.uri_for("pipe", "run", "step", "out")
    view = HashingStore(store, uri)  # its walk found `pipe` missing
    os.makedirs(tmp_path / "root" / "pipe" / "run" / "step" / "out")  # the other writer
    assert view.create_directory(uri) is False


def test_writing_where_a_symlink_is_planted_at_the_artifact_itself_is_refused(tmp_path):
    """A link in the artifact's own place (not a parent) is caught by the same walk."""
    from zen_mlmd.artifacts import write_artifact
    from zen_mlmd.errors import ArtifactTrustError

    store = ArtifactStore(str(tmp_path / "root"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root" / "pipe" / "run" / "step").mkdir(parents=True)
    os.symlink(outside, tmp_path / "root" / "pipe" / "run" / "step" / "out")
    with pytest.raises(ArtifactTrustError, match="symbolic link"):
        write_artifact({"a": 1}, store.uri_for("pipe", "run", "step", "out"), store)
    assert list(outside.iterdir()) == []
