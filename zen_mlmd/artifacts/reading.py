"""Reading artifacts back: the checks every read passes before a materializer runs.

`read_artifact` is the one way zen_mlmd loads an artifact's contents. In order:

1. the URI must lie inside the artifact store it is read from (normalised,
   symlinks followed; `ArtifactStore.require_inside`);
2. every file of the artifact directory is read once, into memory, and the
   content hash of those bytes must equal the recorded one
   (`ArtifactIntegrityError` otherwise; no hash recorded counts as a mismatch
   unless the read is trusted);
3. a materializer that is not `safe_to_load` (pickle, and any plugin that
   does not say it is safe) only runs when the read is trusted: the caller
   passed ``trusted=True`` or the store is marked trusted
   (`ArtifactTrustError` otherwise);
4. the materializer loads from those verified bytes, never from the files
   again, so a file swapped after the check is not what gets loaded.

An artifact is held in memory while it loads: its bytes are what was
verified. Materializers that read through their own file paths (not
`store.open`) bypass that copy and read the files the check just hashed.
"""
from __future__ import annotations

import hashlib
import io
from typing import IO, Any, Mapping

from zen_mlmd.artifacts import hashing
from zen_mlmd.artifacts.registry import get_materializer
from zen_mlmd.artifacts.store import ArtifactStore
from zen_mlmd.errors import ArtifactIntegrityError, ArtifactTrustError, MaterializerError, ZenMLMDError


def read_artifact(uri: str, store: ArtifactStore, materializer_name: str, data_type: str, *,
                  content_hash: str | None = None, trusted: bool = False) -> Any:
    """Reads an artifact back with the materializer that wrote it, after checking it.

    Args:
        uri: the artifact directory.
        store: the artifact store `uri` must lie in.
        materializer_name: the materializer recorded with the artifact.
        data_type: the ``module.QualName`` recorded with it.
        content_hash: the recorded ``sha256:<hex>``; the bytes must match it.
            None or "" (nothing recorded) is refused unless the read is trusted.
        trusted: the caller vouches for the contents: formats that run code
            when loaded (pickle) are allowed, and a missing hash is accepted.
            A store marked trusted (`ArtifactStore.trusted`) counts the same.

    Raises:
        ArtifactTrustError: the URI is outside `store`, or the format runs
            code on load and the read is not trusted.
        ArtifactIntegrityError: the bytes do not match `content_hash`.
        UnknownNameError: the materializer is not registered (a plugin missing?).
        MaterializerError: the artifact was deleted, or the materializer failed.
    """
    materializer = get_materializer(materializer_name)
    store.require_inside(uri)
    trusted = bool(trusted or store.trusted)
    if not store.exists(uri):
        raise MaterializerError(
            f"the artifact at {uri} was deleted from the artifact store (or the store "
            "moved). Fix: re-run the step that produced it, with the cache off, to recreate "
            "it; if the store moved, point the artifact store's root at its new place"
        )
    files = _read_files(uri, store)
    found = hashing.combine((name, hashlib.sha256(data).hexdigest()) for name, data in files.items())
    if content_hash:
        if found != content_hash:
            raise ArtifactIntegrityError(
                f"artifact at {uri}: its bytes do not match the content hash recorded when it "
                f"was written (recorded {content_hash}, found {found}): the files were changed "
                "or replaced since. Nothing was loaded. Fix: restore them from a backup, or "
                "produce the artifact again (rerun its step with the cache off)")
    elif not trusted:
        raise ArtifactIntegrityError(
            f"artifact at {uri}: no content hash was recorded for it, so its bytes cannot be "
            "checked. Nothing was loaded. Fix: if you trust whoever writes that store, read it "
            "with trusted=True (`--trust` on the command line)")
    if not materializer.safe_to_load and not trusted:
        raise ArtifactTrustError(
            f"artifact at {uri}: refused, materializer {materializer_name!r} can run code "
            "when it loads (pickle, or a plugin materializer that does not declare "
            "safe_to_load), and the artifact store at "
            f"{store.root} is not marked trusted. Nothing was loaded. Fix: if you trust "
            "everyone who can write to that store and to the metadata store, read it with "
            "trusted=True (`--trust` on the command line), or mark the store trusted: "
            "`zen-mlmd artifact-store update NAME --trusted`")
    view = VerifiedArtifact(store, uri, files, trusted=trusted)
    try:
        return materializer.load(uri, view, data_type)
    except ZenMLMDError:
        raise
    except Exception as error:
        raise MaterializerError(
            f"materializer {materializer_name!r} could not read the artifact at {uri} "
            f"(type {data_type}): {type(error).__name__}: {error}. Fix: read it with the "
            "library versions that wrote it (and the plugin that registers that materializer), "
            "or re-run the step that produced it to write it again"
        ) from error


def verify_artifact(uri: str, store: ArtifactStore, content_hash: str) -> bool:
    """True if the stored bytes at `uri` still have `content_hash`.

    False if they changed, are gone, or `uri` is outside `store`.
    """
    if not store.contains(uri) or not store.exists(uri):
        return False
    return hashing.content_hash(uri, store) == content_hash


def _read_files(uri: str, store: ArtifactStore) -> dict[str, bytes]:
    """Every file of the artifact directory `uri`, by relative path."""
    names = store.list_files(uri)
    files = {}
    for name in names:
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise MaterializerError(
                f"the artifact at {uri} is not an artifact directory (found {name!r}); "
                "an artifact URI names the directory its materializer wrote. Fix: read the "
                "artifact through its record (`zen-mlmd artifact describe ID` shows its URI), "
                "not a file inside it")
        with store.open(f"{uri.rstrip('/')}/{name}", "rb") as handle:
            files[name] = handle.read()
    return files


class VerifiedArtifact(ArtifactStore):
    """The read-only view of one artifact that a materializer loads from.

    It serves the bytes that were read and verified, from memory, for every
    file of the artifact directory; writing, or reading outside the
    directory, is refused. `trusted` says whether this read may run code
    (a materializer that audits its format, like skops, asks it).
    """

    def __init__(self, store: ArtifactStore, uri: str, files: Mapping[str, bytes], *,
                 trusted: bool):
        self.__dict__.update(store.__dict__)  # same root, protocol and filesystem
        self.trusted = trusted
        self._artifact_path = store._path(uri).rstrip("/")
        self._files = dict(files)

    def open(self, uri: str, mode: str = "rb", **kwargs: Any) -> IO:
        if any(flag in mode for flag in "wax+"):
            raise MaterializerError(
                f"a materializer tried to open {uri} with mode {mode!r} while loading; "
                "loading is read-only. Fix: open the artifact's files with mode 'rb' or 'r' "
                "in the materializer's load()")
        relative = self._relative(uri)
        if relative not in self._files:
            raise FileNotFoundError(f"{uri} is not a file of the artifact")
        handle = io.BytesIO(self._files[relative])
        if "b" in mode:
            return handle
        return io.TextIOWrapper(handle, encoding=kwargs.get("encoding") or "utf-8",
                                errors=kwargs.get("errors"), newline=kwargs.get("newline"))

    def exists(self, uri: str) -> bool:
        relative = self._relative(uri)
        return relative == "" or relative in self._files or any(
            name.startswith(relative + "/") for name in self._files)

    def list_files(self, uri: str) -> list[str]:
        relative = self._relative(uri)
        prefix = relative + "/" if relative else ""
        return sorted(name[len(prefix):] for name in self._files if name.startswith(prefix))

    def size(self, uri: str) -> int:
        relative = self._relative(uri)
        if relative in self._files:
            return len(self._files[relative])
        return sum(len(data) for name, data in self._files.items()
                   if not relative or name.startswith(relative + "/"))

    def makedirs(self, uri: str) -> None:
        raise MaterializerError("loading is read-only: a materializer cannot create directories. "
                                "Fix: create nothing in the materializer's load(); only read")

    def create_directory(self, uri: str) -> bool:
        self.makedirs(uri)  # refused alike
        return False

    def delete(self, uri: str) -> None:
        raise MaterializerError("loading is read-only: a materializer cannot delete files. "
                                "Fix: delete nothing in the materializer's load(); only read")

    def _relative(self, uri: str) -> str:
        path = self._path(uri).rstrip("/")
        if path == self._artifact_path:
            return ""
        if not path.startswith(self._artifact_path + "/"):
            raise ArtifactTrustError(
                f"a materializer tried to read {uri}, outside the artifact directory "
                f"{self._artifact_path} it was given. Fix: read only inside that directory")
        return path[len(self._artifact_path) + 1:]
