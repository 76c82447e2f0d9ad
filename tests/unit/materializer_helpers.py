"""What the materializer tests share: the `store` fixture (an artifact store on disk
and one in memory), fresh artifact URIs, and a write-then-read round trip.

Test modules import `store_fixture` for its side effect: pytest finds the
`store` fixture in the importing module.
"""
import uuid

import pytest

from zen_mlmd.artifacts import ArtifactStore, read_artifact, write_artifact


@pytest.fixture(params=["local", "memory"], name="store")
def store_fixture(request, tmp_path):
    if request.param == "local":
        yield ArtifactStore(str(tmp_path / "artifacts"))
    else:
        memory_store = ArtifactStore(f"memory://mat-{uuid.uuid4().hex}")
        yield memory_store
        memory_store.delete(memory_store.root)


def artifact_uri(store, output="out"):
    return store.uri_for("pipe", "run", "step", f"{output}-{uuid.uuid4().hex[:8]}")


def roundtrip(obj, store, trusted=True, **kwargs):
    """Write `obj`, then read it back checked against its content hash.

    Trusted by default: these tests are about formats; `test_artifact_trust`
    covers what an untrusted read refuses.
    """
    written = write_artifact(obj, artifact_uri(store), store, **kwargs)
    return written, read_artifact(written.uri, store, written.materializer, written.data_type,
                                  content_hash=written.content_hash, trusted=trusted)
