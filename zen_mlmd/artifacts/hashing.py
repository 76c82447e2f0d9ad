"""Content hashes of artifacts, computed while the materializer writes.

The content hash of an artifact directory is ``"sha256:<hex>"``:

- with exactly one file (every built-in materializer), the sha256 of that
  file's bytes, so ``sha256sum data.json`` gives the same value;
- otherwise the sha256 of a manifest with one line ``<path>\\0<file sha256>\\n``
  per file, in file-name order. Hashing a manifest rather than the plain
  concatenation keeps file boundaries (``a="xy", b=""`` differs from
  ``a="x", b="y"``) and lets each file be hashed as it is written, in
  whatever order the materializer writes them.
"""
from __future__ import annotations

import hashlib
import io
from typing import IO, Any, Iterable, Tuple

from zen_mlmd.artifacts.store import ArtifactStore
from zen_mlmd.errors import MaterializerError

PREFIX = "sha256:"
_CHUNK = 1 << 20


def combine(file_hashes: Iterable[Tuple[str, str]]) -> str:
    """The artifact hash from ``(relative path, file sha256 hex)`` pairs."""
    pairs = sorted(file_hashes)
    if len(pairs) == 1:
        return PREFIX + pairs[0][1]
    manifest = hashlib.sha256()
    for path, digest in pairs:
        manifest.update(f"{path}\0{digest}\n".encode("utf-8"))
    return PREFIX + manifest.hexdigest()


def hash_file(store: ArtifactStore, uri: str) -> Tuple[str, int]:
    """The sha256 hex and size of one stored file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with store.open(uri, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def content_hash(uri: str, store: ArtifactStore) -> str:
    """Rehashes the stored artifact directory `uri` (reads every file)."""
    return combine((name, hash_file(store, f"{uri}/{name}")[0]) for name in store.list_files(uri))


class HashingWriter(io.BufferedIOBase):
    """A binary file wrapper that hashes and counts bytes as they are written."""

    def __init__(self, raw: IO[bytes]):
        super().__init__()
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        written = self._raw.write(view)
        # Some file objects return None; a short write would be a bug of theirs.
        count = len(view) if written is None else written
        self.sha256.update(view[:count])
        self.size += count
        return count

    def flush(self) -> None:
        if not self._raw.closed:
            self._raw.flush()

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()


class _WholeFile:
    """A file `HashingStore.write_bytes` wrote: its hash and size, as `HashingWriter` keeps them."""

    __slots__ = ("sha256", "size")

    def __init__(self, sha256, size: int):
        self.sha256, self.size = sha256, size


class HashingStore(ArtifactStore):
    """The view of an `ArtifactStore` a materializer writes one artifact through.

    Files opened for writing are wrapped in `HashingWriter`; writing outside
    the artifact directory is refused, so a failed write can be cleaned up by
    deleting that directory. Files opened in a read-write mode (``+``) are
    rehashed from the store afterwards.
    """

    def __init__(self, store: ArtifactStore, artifact_uri: str):
        if not store.is_local:
            store.filesystem  # create it once, so the view shares it
        self.__dict__.update(store.__dict__)
        # The one full check (confinement, symbolic links) of this artifact's
        # directory; the files under it are then checked as strings only.
        self._artifact_path, self._missing = ArtifactStore._checked(self, artifact_uri)
        self._artifact_path = self._artifact_path.rstrip("/")
        self._artifact_uri = artifact_uri.rstrip("/")
        self.writers: dict[str, HashingWriter] = {}
        self.rehash: set[str] = set()
        self._handles: list[IO] = []

    def open(self, uri: str, mode: str = "rb", **kwargs: Any) -> IO:
        if not any(flag in mode for flag in "wax"):
            return super().open(uri, mode, **kwargs)
        relative = self._relative(uri)
        if "+" in mode:
            self.rehash.add(relative)
            return super().open(uri, mode, **kwargs)
        text = "b" not in mode
        binary_mode = mode.replace("t", "") + ("b" if text else "")
        encoding = kwargs.pop("encoding", "utf-8")
        errors = kwargs.pop("errors", None)
        newline = kwargs.pop("newline", None)
        previous = self.writers.get(relative)
        writer = HashingWriter(super().open(uri, binary_mode, **kwargs))
        if "a" in mode and previous is not None:
            writer.sha256, writer.size = previous.sha256, previous.size
        elif "a" in mode:
            self.rehash.add(relative)  # appending to bytes we did not see
        self.writers[relative] = writer
        handle = writer
        if text:
            handle = io.TextIOWrapper(writer, encoding=encoding, errors=errors, newline=newline)
        self._handles.append(handle)
        return handle

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Writes a whole file, hashing `data` at once (no wrapper around the file)."""
        path = self._path(uri)
        relative = self._relative_path(uri, path)  # refuses a file outside the artifact directory
        with self._open_path(path, "wb") as f:  # the path is checked: not a second time
            f.write(data)
        self.writers[relative] = _WholeFile(hashlib.sha256(data), memoryview(data).nbytes)
        self.rehash.discard(relative)

    def create_directory(self, uri: str) -> bool:
        """`ArtifactStore.create_directory`; for the artifact's own directory, from the
        check the view was made with (no second walk down to it)."""
        if uri.rstrip("/") == self._artifact_uri and self._missing is not False:
            missing, self._missing = self._missing, False  # stale once anything is made
            return self._create_checked(self._artifact_path, missing)
        return super().create_directory(uri)

    def close_all(self) -> None:
        """Closes what the materializer left open, so every byte is flushed and hashed."""
        # The outermost handle: closing a text wrapper flushes its own buffer first.
        for handle in self._handles:
            handle.close()

    def _path(self, uri: str) -> str:
        """`ArtifactStore._path`, without a second symbolic-link walk inside the artifact's directory.

        The directory itself was checked when the view was made, and it is
        made new for this write: a link inside it could only have been put
        there by the materializer writing it.
        """
        if uri == self._artifact_uri:
            return self._artifact_path
        rest = uri[len(self._artifact_uri) + 1:] if uri.startswith(self._artifact_uri + "/") else None
        if rest and "\\" not in rest and all(part not in ("", ".", "..") for part in rest.split("/")):
            return f"{self._artifact_path}/{rest}"
        return super()._path(uri)

    def _relative(self, uri: str) -> str:
        return self._relative_path(uri, self._path(uri))

    def _relative_path(self, uri: str, path: str) -> str:
        if not path.startswith(self._artifact_path + "/"):
            raise MaterializerError(
                f"a materializer tried to write {uri}, outside its artifact "
                f"directory {self._artifact_path}. Fix: in the materializer's save(), write "
                "only inside the uri it is given"
            )
        return path[len(self._artifact_path) + 1:]
