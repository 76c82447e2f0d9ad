"""An artifact's files as raw bytes, for showing them without loading them.

A preview must never run code: nothing here calls a materializer (loading a
pickle runs code), only a bounded number of bytes of a bounded number of
files is read, and only inside an artifact store this machine knows (the
registered ones, and the session's own, see `ReadSession.artifact_stores`): an artifact's URI comes
from a record that anyone who can write to the metadata store could have forged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from zen_mlmd.errors import ZenMLMDError

if TYPE_CHECKING:
    from zen_mlmd.artifacts import ArtifactStore
    from zen_mlmd.post_execution.views import Artifact

#: Files listed per artifact at most.
MAX_FILES = 50


class ContentsUnavailableError(ZenMLMDError):
    """An artifact's files cannot be shown.

    Attributes:
        reason: "missing" (deleted, or the store moved), "untrusted" (outside
            every known artifact store) or "unreadable" (the store refused).
    """

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ArtifactFile:
    """One file of an artifact: its path relative to the artifact's URI and its size in bytes."""

    path: str
    size: int


@dataclass(frozen=True)
class FileHead:
    """The first bytes of one file of an artifact.

    Attributes:
        data: at most the `max_bytes` asked for.
        truncated: the file is longer than `data`.
    """

    path: str
    size: int
    data: bytes
    truncated: bool


def list_artifact_files(artifact: "Artifact", max_files: int = MAX_FILES) -> tuple[list[ArtifactFile], bool]:
    """The files of an artifact (its URI may be a file or a directory), and whether more exist.

    Raises:
        ContentsUnavailableError: the files are gone, outside every known
            artifact store, or the store cannot be read.
    """
    store = _store_for(artifact)
    uri = artifact.uri.rstrip("/")
    try:
        if not store.exists(uri):
            raise ContentsUnavailableError(
                f"the files of artifact #{artifact.id} are gone: nothing at {uri} (deleted, or the "
                "artifact store moved). Fix: re-run the step that produced it", "missing")
        fs, path = store.filesystem, store._path(uri)
        if not fs.isdir(path):
            return [ArtifactFile("", int(fs.size(path) or 0))], False
        found = []
        for name, info in sorted(fs.find(path, detail=True).items()):
            if len(found) == max_files:
                return found, True
            relative = name[len(path.rstrip("/")) + 1:] if name.startswith(path.rstrip("/") + "/") else name
            found.append(ArtifactFile(relative, int(info.get("size") or 0)))
        return found, False
    except ContentsUnavailableError:
        raise
    except (OSError, ValueError, ZenMLMDError) as error:
        raise ContentsUnavailableError(f"the files of artifact #{artifact.id} at {uri} cannot be "
                                       f"read: {error}. Fix: check that the artifact store is "
                                       "reachable and that you may read it (its credentials)",
                                       "unreadable") from None


def read_artifact_file(artifact: "Artifact", path: str, max_bytes: int) -> FileHead:
    """The first `max_bytes` of one file of an artifact (`path` as `list_artifact_files` gave it).

    Raises:
        ContentsUnavailableError: as for `list_artifact_files`, or `path` is
            not one of the artifact's files.
    """
    files, _ = list_artifact_files(artifact, max_files=10_000)
    known = {f.path: f for f in files}
    if path not in known:
        raise ContentsUnavailableError(f"artifact #{artifact.id} has no file {path!r}. Fix: pick "
                                       "one of the files its page lists", "missing")
    store = _store_for(artifact)
    uri = artifact.uri.rstrip("/") + (f"/{path}" if path else "")
    try:
        with store.open(uri, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise ContentsUnavailableError(f"file {path!r} of artifact #{artifact.id} is gone (deleted, or "
                                       "the artifact store moved). Fix: re-run the step that "
                                       "produced it", "missing") from None
    except (OSError, ValueError, ZenMLMDError) as error:
        raise ContentsUnavailableError(f"file {path!r} of artifact #{artifact.id} cannot be read: {error}. "
                                       "Fix: check that the artifact store is reachable and that you "
                                       "may read it (its credentials)", "unreadable") from None
    return FileHead(path, known[path].size, data[:max_bytes], len(data) > max_bytes)


def _store_for(artifact: "Artifact") -> "ArtifactStore":
    """The trusted artifact store holding the artifact's URI (`ReadSession.artifact_store_for`).

    Raises:
        ContentsUnavailableError: no URI, or the URI lies outside every
            trusted store ("untrusted", with the URI and the fix).
    """
    from zen_mlmd.errors import ArtifactTrustError

    if not artifact.uri:
        raise ContentsUnavailableError(f"artifact #{artifact.id} records no URI, so it has no files to "
                                       "show. Fix: re-run the step that produced it to record them",
                                       "missing")
    try:
        return artifact._index.session.artifact_store_for(artifact.uri)
    except ArtifactTrustError as error:
        raise ContentsUnavailableError(f"artifact #{artifact.id}: {error}", "untrusted") from None
