"""The artifact store: where artifact contents live, on any fsspec filesystem.

A root is a local directory or an fsspec URL (``memory://bucket``,
``s3://bucket/prefix``). The fsspec filesystem, and with it the backend
library (s3fs, gcsfs, ...), is created on first use so that building a stack
or starting the CLI never imports a cloud SDK.

A store never touches anything outside its root: every URI is normalised
(``..`` resolved, and for a local store symlinks followed) before it is
checked to lie under the root, and one that does not is refused with
`ArtifactTrustError`. Artifact URIs come from MLMD records, which anyone who
can write the metadata store can forge; this check is what keeps such a
record from pointing a reader at an arbitrary file.
"""
from __future__ import annotations

import os
import posixpath
import threading
from typing import IO, Any, Mapping, Optional

from zen_mlmd.artifacts.uri_rules import LOCAL_PROTOCOLS, check_part, split_protocol, walk_below, within
from zen_mlmd.errors import ArtifactTrustError, ConfigError


class ArtifactStore:
    """A place for artifact contents: a local directory or an fsspec URL.

    Args:
        root: a local path (relative paths are made absolute) or a URL such as
            ``file:///data/artifacts``, ``memory://artifacts`` or ``s3://bucket/x``.
            ``file://`` URLs are normalized to plain local paths, so the same
            directory always yields the same artifact URIs.
        storage_options: options for the fsspec filesystem (credentials,
            endpoints). They are never shown in `repr`.
        trusted: the user vouches for everyone who can write here, so
            artifacts whose format runs code when loaded (pickle) may be
            read from it without asking (see `zen_mlmd.artifacts.reading`).

    Raises:
        ConfigError: the root is empty.
    """

    def __init__(self, root: str, storage_options: Optional[Mapping[str, Any]] = None, *,
                 trusted: bool = False):
        if not isinstance(root, (str, os.PathLike)) or not str(root).strip():
            raise ConfigError(
                "artifact_store.root", root, "must be a non-empty path or URL",
                "use a directory such as ./artifacts or a URL such as s3://bucket/prefix",
            )
        root = os.fspath(root).strip()
        protocol, rest = split_protocol(root)
        if protocol is None or protocol in LOCAL_PROTOCOLS:
            self._protocol = "file"
            self._root = os.path.abspath(os.path.expanduser(rest if protocol else root))
        else:
            self._protocol = protocol
            self._root = f"{protocol}://{rest.rstrip('/')}"
        self._storage_options = dict(storage_options or {})
        self.trusted = bool(trusted)
        self._fs = None
        self._fs_lock = threading.Lock()
        self._real_root: Optional[str] = None

    @property
    def root(self) -> str:
        """The normalized root: an absolute local path or a URL without a trailing slash."""
        return self._root

    @property
    def protocol(self) -> str:
        """The fsspec protocol, ``"file"`` for local directories."""
        return self._protocol

    @property
    def is_local(self) -> bool:
        """True when the store is a local directory."""
        return self._protocol == "file"

    @property
    def filesystem(self):
        """The fsspec filesystem, created (and its backend imported) on first use."""
        if self._fs is None:
            with self._fs_lock:
                if self._fs is None:
                    import fsspec

                    protocol = self._protocol.split("::")[0]
                    self._fs = fsspec.filesystem(protocol, **self._storage_options)
        return self._fs

    def check_writable(self) -> None:
        """Write and delete a probe file under the root.

        Run before a pipeline's first step, so that a missing backend
        (``s3fs``), an unknown protocol or a root that is a file is reported
        as the artifact store's problem, before any step's work is lost.

        Raises:
            ConfigError: naming the root, the cause and the fix.
        """
        import uuid

        probe = f"{self._root}/.zen_mlmd-probe-{uuid.uuid4().hex}"
        try:
            with self.open(probe, "wb") as handle:
                handle.write(b"ok")
            self.delete(probe)
        except ImportError as exc:
            raise ConfigError("artifact_store.root", self._root, f"cannot use it: {exc}",
                              "install the fsspec backend the protocol needs (e.g. s3fs, gcsfs)") from None
        except Exception as exc:  # unknown protocol, a file in the way, permissions
            raise ConfigError("artifact_store.root", self._root,
                              f"cannot write there: {type(exc).__name__}: {exc}",
                              "use a directory (or URL) you can write to: "
                              "`zen-mlmd artifact-store register NAME --path DIR_OR_URL`") from None

    def uri_for(self, pipeline: str, run: str, step: str, output: str) -> str:
        """The URI of one step output: ``<root>/<pipeline>/<run>/<step>/<output>``.

        Raises:
            ConfigError: a part is empty, contains ``/`` or ``\\`` or ``..``,
                or is ``.``; such a part would escape or alias another artifact's place.
        """
        parts = {"pipeline": pipeline, "run": run, "step": step, "output": output}
        for field, value in parts.items():
            check_part(field, value)
        return "/".join([self._root, pipeline, run, step, output])

    def exists(self, uri: str) -> bool:
        """True if a file or directory exists at `uri`."""
        path = self._path(uri)
        # A local store calls the OS itself: fsspec's local layer adds
        # nothing here but cost on every recorded output.
        return os.path.exists(path) if self.is_local else self.filesystem.exists(path)

    def open(self, uri: str, mode: str = "rb", **kwargs: Any) -> IO:
        """Opens the file at `uri`; text modes default to UTF-8.

        Parent directories are created when writing.
        """
        return self._open_path(self._path(uri), mode, **kwargs)

    def _open_path(self, path: str, mode: str = "rb", **kwargs: Any) -> IO:
        """`open` of a checked path (see `_path`)."""
        if "b" not in mode:
            kwargs.setdefault("encoding", "utf-8")
        writing = any(flag in mode for flag in "wax")
        if self.is_local:
            try:
                return open(path, mode, **kwargs)
            except FileNotFoundError:
                if not writing:
                    raise
            os.makedirs(os.path.dirname(path), exist_ok=True)
            return open(path, mode, **kwargs)
        if writing:
            self.filesystem.makedirs(self.filesystem._parent(path), exist_ok=True)
        return self.filesystem.open(path, mode, **kwargs)

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Writes the file at `uri` with `data` (replacing it); parent directories are created."""
        with self.open(uri, "wb") as f:  # a view's own rules apply (a loading view refuses)
            f.write(data)

    def create_directory(self, uri: str) -> bool:
        """Creates the directory at `uri` and its missing parents, unless something is there.

        Returns False, creating nothing, when a file or directory exists at
        `uri` already (or another writer creates it at the same moment). A
        local store creates from the first missing directory that the
        symbolic-link check on the way down found, with no further lookups.

        Raises:
            ArtifactTrustError: as every access, for a URI outside the root.
        """
        return self._create_checked(*self._checked(uri))

    def _create_checked(self, path: str, missing: Optional[str]) -> bool:
        """`create_directory` of a checked path (see `_checked`)."""
        if not self.is_local:
            if self.filesystem.exists(path):
                return False
            self.filesystem.makedirs(path, exist_ok=True)
            return True
        if missing is None:  # everything on the way exists (or could not be looked at)
            if os.path.exists(path):
                return False
            missing = path
        try:
            current = missing  # the walk found its parents: make it and those below it
            for part in path[len(missing) + 1:].split("/") if path != missing else ():
                try:
                    os.mkdir(current)
                except FileExistsError:  # made by a concurrent writer meanwhile
                    pass
                current = f"{current}/{part}"
            os.mkdir(path)
        except FileNotFoundError:  # a parent is gone, or the root is not made yet
            os.makedirs(os.path.dirname(path), exist_ok=True)
            return self._made(path)
        except FileExistsError:
            return False
        return True

    @staticmethod
    def _made(path: str) -> bool:
        try:
            os.mkdir(path)
        except FileExistsError:
            return False
        return True

    def makedirs(self, uri: str) -> None:
        """Creates the directory at `uri` and its parents; no error if it exists."""
        path = self._path(uri)
        if self.is_local:
            os.makedirs(path, exist_ok=True)
        else:
            self.filesystem.makedirs(path, exist_ok=True)

    def delete(self, uri: str) -> None:
        """Deletes the file or directory tree at `uri`; no error if it is missing."""
        path = self._path(uri)
        fs = self.filesystem
        if fs.exists(path):
            fs.rm(path, recursive=True)
        # Object stores and the memory filesystem keep "directory" markers
        # that rm(recursive) may leave behind; without this, exists() stays true.
        if fs.exists(path):
            try:
                fs.rmdir(path)
            except (FileNotFoundError, OSError):
                pass

    def size(self, uri: str) -> int:
        """The size in bytes of the file at `uri`, or the total of a directory tree."""
        path = self._path(uri)
        fs = self.filesystem
        if fs.isdir(path):
            return sum(info.get("size") or 0 for info in fs.find(path, detail=True).values())
        return fs.size(path)

    def list_files(self, uri: str) -> list[str]:
        """The files under the directory `uri`, as paths relative to it, sorted."""
        path = self._path(uri).rstrip("/")
        found = self.filesystem.find(path)
        return sorted(p[len(path) + 1:] if p.startswith(path + "/") else p for p in found)

    def list_dirs(self, uri: str) -> list[str]:
        """Names of the directories directly under `uri`, sorted ([] when it is missing)."""
        path = self._path(uri).rstrip("/")
        fs = self.filesystem
        if not fs.isdir(path):
            return []
        names = [info["name"].rstrip("/").rsplit("/", 1)[-1]
                 for info in fs.ls(path, detail=True) if info.get("type") == "directory"]
        return sorted(names)

    def contains(self, uri: str) -> bool:
        """True if `uri`, once normalised (and its symlinks followed), lies under the root.

        Imports no fsspec backend: it compares URLs, and follows local paths only.
        """
        return self.outside_reason(os.fspath(uri)) is None

    def require_inside(self, uri: str) -> None:
        """Refuse `uri` unless it lies under the root (see `contains`).

        Raises:
            ArtifactTrustError: naming the URI, why it is outside and the fix.
            ConfigError: the URI uses another protocol than the store.
        """
        self._path(uri)

    def _path(self, uri: str) -> str:
        """The filesystem path of `uri`: this store's protocol, under its root."""
        return self._checked(uri)[0]

    def _checked(self, uri: str) -> tuple[str, Optional[str]]:
        """`_path`, and for a local store the first directory on the way that does not
        exist (the path itself when only it is missing), else None (all exist, or not known)."""
        uri = os.fspath(uri)
        protocol, rest = split_protocol(uri)
        if self.is_local:
            if protocol not in (None, *LOCAL_PROTOCOLS):
                raise self._foreign(uri)
        elif protocol != self._protocol:
            raise self._foreign(uri)
        reason, missing = self._outside(uri)
        if reason is not None:
            raise ArtifactTrustError(
                f"artifact URI {uri}: refused, {reason}; nothing was read or written there. "
                "Fix: use URIs inside the store; if the record was not forged, the artifact "
                "lives in another artifact store: register that one on this machine "
                "(`zen-mlmd artifact-store register NAME --path ROOT`)")
        if self.is_local:
            return os.path.abspath(rest), missing
        return self.filesystem._strip_protocol(f"{protocol}://{posixpath.normpath(rest)}"), None

    def outside_reason(self, uri: str) -> Optional[str]:
        """Why `uri` is not under the root (for messages), or None when it is."""
        return self._outside(uri)[0]

    def _outside(self, uri: str) -> tuple[Optional[str], Optional[str]]:
        """`outside_reason`, and the first missing directory the local walk found (see `_checked`)."""
        protocol, rest = split_protocol(uri)
        if self.is_local:
            if protocol not in (None, *LOCAL_PROTOCOLS):
                return f"it is a {protocol}:// URL, not a path in the local store at {self._root}", None
            path = os.path.abspath(rest)
            if not within(path, self._root):
                return f"it is outside the artifact store at {self._root}", None
            link, missing = walk_below(self._root, path)
            if not link:
                return None, missing
            real = os.path.realpath(path)
            if self._real_root is None:  # the root's own links are the user's choice: resolved once
                self._real_root = os.path.realpath(self._root)
            if not within(real, self._real_root):
                return (f"it leads through a symbolic link to {real}, outside the artifact "
                        f"store at {self._root}"), None
            return None, None
        if protocol != self._protocol:
            return f"it is not a {self._protocol}:// URL of the store at {self._root}", None
        root_rest = self._root[len(self._protocol) + 3:]
        if not within(posixpath.normpath(rest), posixpath.normpath(root_rest)):
            return f"it is outside the artifact store at {self._root}", None
        return None, None

    def _foreign(self, uri: str) -> ConfigError:
        return ConfigError(
            "uri", uri, f"does not belong to the artifact store at {self._root}",
            "read it with an ArtifactStore whose root uses the same protocol",
        )

    def __getstate__(self):  # filesystems hold sockets and locks: rebuild after unpickling
        state = self.__dict__.copy()
        state["_fs"] = None
        state["_fs_lock"] = None
        return state

    def __setstate__(self, state):
        state.setdefault("trusted", False)
        state.setdefault("_real_root", None)
        self.__dict__.update(state)
        self._fs_lock = threading.Lock()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArtifactStore) and other._root == self._root

    def __hash__(self) -> int:
        return hash(self._root)

    def __repr__(self) -> str:
        return f"ArtifactStore({self._root!r}{', trusted=True' if self.trusted else ''})"
